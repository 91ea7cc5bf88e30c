"""What the worker reads and writes: claims with a lease, outcomes and attempts set-wise, releases.

Claiming (one subscription after the other, in one transaction, so each gets
its share): one ``UPDATE`` per subscription sets the lease on its soonest due
heads (a head is the oldest pending delivery of its record: events of a record
go out in order, one at a time), chosen by a sub-select with ``FOR UPDATE
SKIP LOCKED`` on PostgreSQL, so workers running side by side never claim the
same delivery. The claim reads only due heads through a partial index, so a
subscription with a large backlog, or one failing and backing off, costs a
claim no more than one with nothing to send.

SQLite has no ``SKIP LOCKED``; its writes are serialised, so the same
``UPDATE`` is still safe, but one worker is the supported set-up there.

Outcomes of many requests are written together: one update of the
deliveries (one statement over arrays on PostgreSQL, an ``executemany`` on
SQLite; only rows this worker still holds the lease of), one update making
the next delivery of each finished record its head, and one multi-row insert
(``COPY`` on PostgreSQL) of the attempts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, any_, bindparam, func, literal_column, or_, select, text, update

from carehub.platform.audit import append_rows
from carehub.platform.db import Database, UTCDateTime, core_table
from carehub.platform.delivery import fanout
from carehub.platform.delivery.tables import (
    DEAD,
    DELIVERED,
    DUE_HEADS,
    PENDING,
    Delivery,
    DeliveryAttempt,
    Subscription,
)
from carehub.platform.outbox import OutboxEvent

DELIVERIES = core_table(Delivery)
RECORD_CHUNK = 200  # outcomes per UPDATE statement on PostgreSQL
ATTEMPT_COLUMNS = ("delivery_id", "number", "started_at", "duration_ms", "outcome", "status_code", "error", "worker")


@dataclass(frozen=True, slots=True)
class SubscriptionTarget:
    """What the worker needs to send to a subscription (the secret stays in memory only)."""

    id: int
    url: str
    secret: str
    max_attempts: int

    def __repr__(self) -> str:  # never print the secret
        return f"SubscriptionTarget(id={self.id}, url={self.url!r}, max_attempts={self.max_attempts})"


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery this worker holds the lease of, with its event."""

    delivery_id: int
    subscription_id: int
    attempts: int
    failures: int
    event_id: int
    topic: str
    created_at: datetime
    environment_id: int | None
    entity: str
    entity_id: int
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt went, and what follows for its delivery."""

    delivery_id: int
    subscription_id: int
    number: int  # this attempt's number (attempts so far + 1)
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    status: str  # delivered, pending (to retry at next_attempt_at) or dead
    failures: int
    next_attempt_at: datetime
    record: fanout.Record  # (subscription id, entity, entity id)


def active_subscriptions(db: Database) -> list[SubscriptionTarget]:
    """Every active subscription, by id."""
    with db.read() as session:
        rows = session.execute(
            select(Subscription.id, Subscription.url, Subscription.secret, Subscription.max_attempts)
            .where(Subscription.active.is_(True))
            .order_by(Subscription.id)
        ).all()
    return [SubscriptionTarget(r.id, r.url, r.secret, r.max_attempts) for r in rows]


def _claim_statement(dialect: str) -> Any:
    """Lease the soonest due heads of one subscription (bound: b_sub, b_limit, b_now, b_until, b_worker).

    The claim changes no indexed column, so on PostgreSQL it updates the row in
    place (a HOT update: no index is written). The due heads read include
    those in flight (leased), at most what the workers have claimed.
    """
    d = DELIVERIES.alias("due")
    # The partial index's predicate, written as it is there, so that every plan (generic ones too) may use it.
    due_heads: Any = literal_column(DUE_HEADS)
    now = bindparam("b_now", type_=UTCDateTime())
    due = (
        select(d.c.id)
        .where(
            d.c.subscription_id == bindparam("b_sub"),
            due_heads,
            d.c.next_attempt_at <= now,
            or_(d.c.locked_until.is_(None), d.c.locked_until < now),
        )
        .order_by(d.c.next_attempt_at)
        .limit(bindparam("b_limit", type_=Integer()))
        .with_for_update(skip_locked=True, of=d)
    )
    t = DELIVERIES
    # PostgreSQL: "id = ANY(ARRAY(...))" runs the sub-select once and updates by primary key.
    chosen = (
        t.c.id == any_(func.array(due.scalar_subquery()))
        if dialect == "postgresql"
        else t.c.id.in_(due.scalar_subquery())
    )
    until = bindparam("b_until", type_=UTCDateTime())
    return (
        update(t)
        .where(chosen)
        .values(locked_by=bindparam("b_worker"), locked_until=until)
        .returning(t.c.id, t.c.subscription_id, t.c.event_id, t.c.entity, t.c.entity_id, t.c.attempts, t.c.failures)
    )


_CLAIM = {name: _claim_statement(name) for name in ("postgresql", "sqlite")}
_EVENTS = select(
    OutboxEvent.id,
    OutboxEvent.topic,
    OutboxEvent.created_at,
    OutboxEvent.environment_id,
    OutboxEvent.entity,
    OutboxEvent.entity_id,
    OutboxEvent.payload,
)


def claim(
    db: Database, wants: Sequence[tuple[int, int]], worker: str, now: datetime, lease: timedelta
) -> dict[int, list[Claimed]]:
    """Lease, per (subscription, how many) in ``wants``, its oldest due deliveries; with their events.

    One transaction for every subscription asked for; each subscription's
    deliveries come back oldest event first.
    """
    stmt = _CLAIM[db.dialect]
    with db.engine.begin() as conn:
        leased: list[Any] = []
        for subscription_id, limit in wants:
            params = {
                "b_sub": subscription_id,
                "b_limit": limit,
                "b_now": now,
                "b_until": now + lease,
                "b_worker": worker,
            }
            leased.extend(conn.execute(stmt, params).all())
        if not leased:
            return {}
        events = {e.id: e for e in conn.execute(_EVENTS.where(OutboxEvent.id.in_([r.event_id for r in leased])))}
    out: dict[int, list[Claimed]] = {}
    for r in sorted(leased, key=lambda r: r.event_id):
        e = events.get(r.event_id)
        if e is None:  # the event is gone (pruned): nothing to send; it fails and is reported
            claimed = Claimed(
                r.id, r.subscription_id, r.attempts, r.failures, r.event_id, "", now, None, r.entity, r.entity_id, {}
            )
        else:
            claimed = Claimed(
                r.id,
                r.subscription_id,
                r.attempts,
                r.failures,
                e.id,
                e.topic,
                e.created_at,
                e.environment_id,
                r.entity,
                r.entity_id,
                e.payload or {},
            )
        out.setdefault(r.subscription_id, []).append(claimed)
    return out


_RECORD = (
    update(DELIVERIES)
    .where(DELIVERIES.c.id == bindparam("b_id"), DELIVERIES.c.locked_by == bindparam("b_worker"))
    .values(
        status=bindparam("b_status"),
        head=bindparam("b_head"),
        attempts=bindparam("b_attempts"),
        failures=bindparam("b_failures"),
        next_attempt_at=bindparam("b_next"),
        delivered_at=bindparam("b_delivered"),
        last_status_code=bindparam("b_code"),
        last_error=bindparam("b_error"),
        updated_at=bindparam("b_now"),
        locked_by=None,
        locked_until=None,
    )
)


# PostgreSQL: every outcome in one statement, the values as arrays; each row finds its values by its id's place
# in :ids (array_position), so no join plan is left to the planner's guess; "id = ANY" reads rows by primary key.
_AT = "[array_position(CAST(:ids AS bigint[]), d.id)]"
_RECORD_MANY = text(
    f"""
UPDATE deliveries AS d
SET status = (CAST(:statuses AS text[])){_AT},
    head = (CAST(:heads AS boolean[])){_AT},
    attempts = (CAST(:attempts AS integer[])){_AT},
    failures = (CAST(:failures AS integer[])){_AT},
    next_attempt_at = (CAST(:next AS timestamptz[])){_AT},
    delivered_at = (CAST(:delivered AS timestamptz[])){_AT},
    last_status_code = (CAST(:codes AS integer[])){_AT},
    last_error = (CAST(:errors AS text[])){_AT},
    updated_at = :now, locked_by = NULL, locked_until = NULL
WHERE d.id = ANY(CAST(:ids AS bigint[])) AND d.locked_by = :worker
"""  # noqa: S608 - fixed text, no input in it
).bindparams(bindparam("now", type_=UTCDateTime()))


def record(db: Database, worker: str, outcomes: Sequence[Outcome], now: datetime) -> None:
    """Write many outcomes at once: the deliveries' new state, the next head of each finished record, the attempts."""
    if not outcomes:
        return
    attempts = [
        (
            o.delivery_id,
            o.number,
            o.started_at,
            o.duration_ms,
            {DELIVERED: "delivered", DEAD: "dead"}.get(o.status, "failed"),
            o.status_code,
            o.error,
            worker,
        )
        for o in outcomes
    ]
    finished = [o.record for o in outcomes if o.status != PENDING]
    with db.transaction() as session:
        if finished:
            fanout.lock(session)  # the next delivery of each finished record becomes its head
        if db.dialect == "postgresql":
            for start in range(0, len(outcomes), RECORD_CHUNK):  # array_position is linear: keep arrays short
                chunk = outcomes[start : start + RECORD_CHUNK]
                session.execute(
                    _RECORD_MANY,
                    {
                        "ids": [o.delivery_id for o in chunk],
                        "statuses": [o.status for o in chunk],
                        "heads": [o.status == PENDING for o in chunk],
                        "attempts": [o.number for o in chunk],
                        "failures": [o.failures for o in chunk],
                        "next": [o.next_attempt_at for o in chunk],
                        "delivered": [o.started_at if o.status == DELIVERED else None for o in chunk],
                        "codes": [o.status_code for o in chunk],
                        "errors": [o.error for o in chunk],
                        "now": now,
                        "worker": worker,
                    },
                )
        else:
            session.execute(_RECORD, [_record_params(o, worker, now) for o in outcomes])
        fanout.promote_heads(session, finished)
        append_rows(session, core_table(DeliveryAttempt), ATTEMPT_COLUMNS, attempts)


def _record_params(o: Outcome, worker: str, now: datetime) -> dict[str, Any]:
    return {
        "b_id": o.delivery_id,
        "b_worker": worker,
        "b_status": o.status,
        "b_head": o.status == PENDING,
        "b_attempts": o.number,
        "b_failures": o.failures,
        "b_next": o.next_attempt_at,
        "b_delivered": o.started_at if o.status == DELIVERED else None,
        "b_code": o.status_code,
        "b_error": o.error,
        "b_now": now,
    }


def release(db: Database, worker: str, now: datetime, delivery_ids: Sequence[int] | None = None) -> int:
    """Give back leases ``worker`` holds (all, or of ``delivery_ids``) on deliveries it did not send: due at once.

    Returns how many.
    """
    stmt = update(Delivery).where(Delivery.locked_by == worker, Delivery.status == PENDING)
    if delivery_ids is not None:
        stmt = stmt.where(Delivery.id.in_(delivery_ids))
    with db.transaction() as session:
        result = session.execute(stmt.values(locked_by=None, locked_until=None, next_attempt_at=now))
        return int(getattr(result, "rowcount", 0) or 0)
