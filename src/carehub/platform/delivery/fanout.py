"""Fan-out: turn outbox events into one delivery row per matching subscription.

Why a cursor, not rows written with the event: events reach ``outbox_events``
by several paths (``outbox.emit_many``, and bulk writers that insert outbox rows
in SQL), and a webhook subscription must not slow down or fail the roster
write that emits an event. So the worker follows the outbox with a cursor
(table ``delivery_fanout``) and writes the delivery rows itself, in batches.

Gaps: on PostgreSQL, ids come from a sequence and transactions commit in any
order, so when the cursor reads event 107, event 105 may still be uncommitted
(it will appear later) or rolled back (it never will). The cursor therefore
keeps every id range it passed without seeing (``gaps``: ``[first, last,
noticed at]``) and looks for those ids again on every pass. A gap is dropped
only once no transaction that started before the gap was noticed is still
running (``pg_stat_activity``): the transaction that took those ids started
before then, so when none is left, the ids were rolled back (or lost to a
crash's sequence skip) and will never appear. Events found in a gap are fanned
out like any other. Writers of one record lock that record, so the events of a
record commit in id order and a gap never holds an earlier event of a record
whose later event was already seen.

On SQLite a write transaction holds the database's write lock until it
commits, so ids commit in order and a gap is final at once.

A subscription receives the events of its tenant (through the event's
environment) whose topic starts with one of its prefixes, emitted since the
subscription was created (``created_at``), while it is active. Events without
an environment belong to no tenant and are not delivered. A replay
(``service.do_replay``) reaches events from before, or from while the
subscription was disabled.

Several workers may run fan-out at once: the cursor row is taken with ``FOR
UPDATE SKIP LOCKED``, so one fans out while the others go on delivering; the
unique (subscription, event) pair makes a delivery row impossible to write
twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, column, or_, select, table, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from carehub.platform.clock import utc_now
from carehub.platform.db import Database, UTCDateTime
from carehub.platform.delivery.tables import PENDING, Delivery, FanOutCursor
from carehub.platform.outbox import OutboxEvent

log = logging.getLogger("carehub.delivery")

CURSOR = "outbox"
BATCH = 5000
MAX_GAPS = 1000  # gap ranges kept; beyond that the oldest are dropped (and logged)
ANALYSE_FROM = 1000  # deliveries written in one pass from which a never-analysed table is analysed
ALL_TOPICS = "*"

# Environments belong to tenancy, which the platform does not import: a lightweight view of the two columns needed.
ENVIRONMENTS = table("environments", column("id"), column("tenant_id"))

Gap = tuple[int, int, datetime]


@dataclass(frozen=True, slots=True)
class FanOutResult:
    """What one fan-out pass did."""

    events: int
    deliveries: int
    subscriptions: frozenset[int]
    gaps: int
    full: bool  # the batch was full: there is more to fan out

    @classmethod
    def nothing(cls) -> FanOutResult:
        """A pass that found nothing (or could not take the cursor)."""
        return cls(0, 0, frozenset(), 0, full=False)


def topic_matches(topic: str, prefixes: Iterable[str]) -> bool:
    """True when ``topic`` starts with one of ``prefixes`` (``*`` matches every topic)."""
    return any(p == ALL_TOPICS or topic.startswith(p) for p in prefixes)


def insert_ignoring_duplicates(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert delivery rows; a (subscription, event) pair that exists is left as it is."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    stmt = pg_insert(Delivery) if dialect == "postgresql" else sqlite_insert(Delivery)
    session.execute(stmt.on_conflict_do_nothing(index_elements=["subscription_id", "event_id"]), rows)


def delivery_row(event: Any, subscription_id: int, now: datetime) -> dict[str, Any]:
    """A new pending delivery of ``event`` for a subscription, due now (not yet a head: see ensure_heads)."""
    return {
        "subscription_id": subscription_id,
        "event_id": event.id,
        "topic": event.topic,
        "entity": event.entity,
        "entity_id": event.entity_id,
        "status": PENDING,
        "attempts": 0,
        "failures": 0,
        "head": False,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }


def environment_tenants(session: Session) -> dict[int, int]:
    """Every environment's tenant."""
    return {int(r.id): int(r.tenant_id) for r in session.execute(select(ENVIRONMENTS.c.id, ENVIRONMENTS.c.tenant_id))}


EVENT_COLUMNS = (
    OutboxEvent.id,
    OutboxEvent.created_at,
    OutboxEvent.topic,
    OutboxEvent.environment_id,
    OutboxEvent.entity,
    OutboxEvent.entity_id,
)


def _lock_cursor(session: Session) -> FanOutCursor | None:
    """The cursor row, locked for this transaction; None when another worker holds it."""
    cursor = session.scalar(select(FanOutCursor).where(FanOutCursor.name == CURSOR).with_for_update(skip_locked=True))
    if cursor is not None:
        return cursor
    _create_cursor(session)
    return session.scalar(select(FanOutCursor).where(FanOutCursor.name == CURSOR).with_for_update(skip_locked=True))


def _create_cursor(session: Session) -> None:
    """The cursor row, at the start of the outbox, unless it exists."""
    dialect = session.get_bind().dialect.name
    stmt = pg_insert(FanOutCursor) if dialect == "postgresql" else sqlite_insert(FanOutCursor)
    session.execute(
        stmt.on_conflict_do_nothing(index_elements=["name"]),
        [{"name": CURSOR, "last_event_id": 0, "gaps": [], "updated_at": utc_now()}],
    )


def read_gaps(cursor: FanOutCursor) -> list[Gap]:
    """The cursor's gaps as (first id, last id, noticed at)."""
    return [(int(lo), int(hi), datetime.fromisoformat(at)) for lo, hi, at in cursor.gaps or []]


def _write_gaps(gaps: Sequence[Gap]) -> list[list[Any]]:
    return [[lo, hi, at.isoformat()] for lo, hi, at in gaps]


def _missing(lo: int, hi: int, seen: Sequence[int], noticed: datetime) -> list[Gap]:
    """The ranges of ``lo..hi`` not in ``seen`` (sorted ids within the range)."""
    out: list[Gap] = []
    expected = lo
    for i in seen:
        if i > expected:
            out.append((expected, i - 1, noticed))
        expected = max(expected, i + 1)
    if expected <= hi:
        out.append((expected, hi, noticed))
    return out


def _server_clock_and_oldest_transaction(session: Session) -> tuple[datetime, datetime | None]:
    """Now by the database's clock, and when the oldest other running transaction on this database started."""
    row = session.execute(
        text(
            "SELECT clock_timestamp() AS now, (SELECT min(xact_start) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend' AND xact_start IS NOT NULL) AS oldest"
        )
    ).one()
    return row.now, row.oldest


def in_gaps(event_id: int, gaps: Sequence[Gap]) -> bool:
    """True when ``event_id`` lies in one of the gaps."""
    return any(lo <= event_id <= hi for lo, hi, _ in gaps)


# One INSERT ... SELECT writes every delivery of a pass: events of the pass joined to the active subscriptions of
# their tenant whose topic prefixes match. Prefixes are compared with substr (not LIKE: '_' is a LIKE wildcard).
# A new delivery is its record's head when it is the record's first in the pass and none of the record is pending.
_FAN_OUT_SQL = """
INSERT INTO deliveries (subscription_id, event_id, topic, entity, entity_id, status, attempts, failures, head,
                        next_attempt_at, created_at, updated_at)
SELECT s.id, e.id, e.topic, e.entity, e.entity_id, 'pending', 0, 0,
       (row_number() OVER (PARTITION BY s.id, e.entity, e.entity_id ORDER BY e.id) = 1
        AND NOT EXISTS (SELECT 1 FROM deliveries AS p
                        WHERE p.subscription_id = s.id AND p.entity = e.entity AND p.entity_id = e.entity_id
                          AND p.status = 'pending')),
       :now, :now, :now
FROM outbox_events AS e
JOIN environments AS v ON v.id = e.environment_id
JOIN webhook_subscriptions AS s ON s.tenant_id = v.tenant_id AND s.active AND e.created_at >= s.created_at
WHERE ((e.id > :low AND e.id <= :high) OR e.id IN :late)
  AND EXISTS (SELECT 1 FROM {prefixes} WHERE t.prefix = '*' OR substr(e.topic, 1, length(t.prefix)) = t.prefix)
ON CONFLICT (subscription_id, event_id) DO NOTHING
RETURNING subscription_id
"""
_PREFIXES = {
    "postgresql": "json_array_elements_text(s.topics) AS t(prefix)",
    "sqlite": "(SELECT value AS prefix FROM json_each(s.topics)) AS t",
}
FAN_OUT = {
    dialect: text(_FAN_OUT_SQL.format(prefixes=prefixes)).bindparams(
        bindparam("now", type_=UTCDateTime()), bindparam("late", expanding=True)
    )
    for dialect, prefixes in _PREFIXES.items()
}

# Make the oldest pending delivery of a record its head, unless it has one (bound: s, e, i).
_ENSURE_HEAD = text(
    """
UPDATE deliveries SET head = true
WHERE id = (SELECT x.id FROM deliveries AS x
            WHERE x.subscription_id = :s AND x.entity = :e AND x.entity_id = :i AND x.status = 'pending'
            ORDER BY x.event_id LIMIT 1)
  AND NOT EXISTS (SELECT 1 FROM deliveries AS h
                  WHERE h.subscription_id = :s AND h.entity = :e AND h.entity_id = :i AND h.status = 'pending'
                    AND h.head = true)
"""
)

Record = tuple[int, str, int]  # subscription id, entity, entity id


def ensure_heads(session: Session, records: Iterable[Record]) -> None:
    """Give each record (of a subscription) with pending deliveries but no head its oldest as head.

    Called, holding the cursor lock (:func:`lock`), when deliveries come back
    to ``pending`` (retry, replay).
    """
    params = [{"s": s, "e": e, "i": i} for s, e, i in sorted(set(records))]
    if params:
        session.execute(_ENSURE_HEAD, params)


# After heads left ``pending`` (delivered, dead), their records have no head: the oldest pending one becomes it.
_PROMOTE_ONE = text(
    """
UPDATE deliveries SET head = true
WHERE id = (SELECT x.id FROM deliveries AS x
            WHERE x.subscription_id = :s AND x.entity = :e AND x.entity_id = :i AND x.status = 'pending'
            ORDER BY x.event_id LIMIT 1)
  AND head = false
"""
)
_PROMOTE_MANY = text(
    """
UPDATE deliveries SET head = true
WHERE id = ANY(ARRAY(SELECT (SELECT x.id FROM deliveries AS x
                              WHERE x.subscription_id = k.s AND x.entity = k.e AND x.entity_id = k.i
                                AND x.status = 'pending'
                              ORDER BY x.event_id LIMIT 1)
                      FROM unnest(CAST(:s AS integer[]), CAST(:e AS text[]), CAST(:i AS bigint[])) AS k(s, e, i)))
  AND head = false
"""
)


def promote_heads(session: Session, records: Iterable[Record]) -> None:
    """Make the oldest pending delivery of each record its head: for records whose head just finished.

    Called holding the cursor lock (:func:`lock`). One statement on
    PostgreSQL (arrays of the records' keys), one per record on SQLite.
    """
    keys = sorted(set(records))
    if not keys:
        return
    if session.get_bind().dialect.name == "postgresql":
        subs, entities, ids = (list(column) for column in zip(*keys, strict=True))
        session.execute(_PROMOTE_MANY, {"s": subs, "e": entities, "i": ids})
    else:
        session.execute(_PROMOTE_ONE, [{"s": s, "e": e, "i": i} for s, e, i in keys])


def lock(session: Session) -> None:
    """Wait for, and hold until commit, the cursor's row lock: whoever changes which deliveries are pending holds it."""
    if session.get_bind().dialect.name == "postgresql":
        locked = select(FanOutCursor.name).where(FanOutCursor.name == CURSOR).with_for_update()
        if session.scalar(locked) is None:
            _create_cursor(session)
            session.scalar(locked)


_analysed: set[str] = set()


def _statistics(session: Session) -> None:
    """Analyse ``deliveries`` once if PostgreSQL never has: a fresh table's missing statistics mislead the planner."""
    url = str(session.get_bind().engine.url)
    if url in _analysed:
        return
    _analysed.add(url)
    never = session.execute(
        text(
            "SELECT last_analyze IS NULL AND last_autoanalyze IS NULL FROM pg_stat_user_tables "
            "WHERE relid = 'deliveries'::regclass"
        )
    ).scalar()
    if never:
        session.execute(text("ANALYZE deliveries"))


def fan_out(db: Database, limit: int = BATCH) -> FanOutResult:
    """Fan out up to ``limit`` new events (and any that turned up in gaps) in one transaction."""
    postgres = db.dialect == "postgresql"
    with db.transaction() as session:
        cursor = _lock_cursor(session)
        if cursor is None:
            return FanOutResult.nothing()
        gaps = read_gaps(cursor)
        ids = list(
            session.scalars(
                select(OutboxEvent.id)
                .where(OutboxEvent.id > cursor.last_event_id)
                .order_by(OutboxEvent.id)
                .limit(limit)
            )
        )
        late: list[int] = []
        if gaps:
            late = list(
                session.scalars(
                    select(OutboxEvent.id)
                    .where(or_(*(OutboxEvent.id.between(lo, hi) for lo, hi, _ in gaps)))
                    .order_by(OutboxEvent.id)
                    .limit(limit)
                )
            )
        if not ids and not gaps:
            return FanOutResult.nothing()
        now = utc_now()
        noticed = now
        oldest: datetime | None = None
        if postgres:
            noticed, oldest = _server_clock_and_oldest_transaction(session)
        # The gaps still open: old ones minus the late events found in them, and new ones passed by now.
        open_gaps: list[Gap] = []
        for lo, hi, at in gaps:  # ids of a gap past a full batch of late events stay open and are read next pass
            open_gaps.extend(_missing(lo, hi, [i for i in late if lo <= i <= hi], at))
        low = high = cursor.last_event_id
        if ids:
            open_gaps.extend(_missing(low + 1, ids[-1], ids, noticed))
            high = ids[-1]
        # A gap closes once no transaction that may hold its ids is running (PostgreSQL); at once on SQLite.
        kept = [g for g in open_gaps if postgres and oldest is not None and oldest <= g[2]]
        if len(kept) > MAX_GAPS:
            log.warning("fan-out keeps at most %d gaps; stopped watching ids %s", MAX_GAPS, kept[:-MAX_GAPS])
            kept = kept[-MAX_GAPS:]
        made = list(
            session.scalars(FAN_OUT[db.dialect], {"now": now, "low": low, "high": high, "late": late})
            if ids or late
            else []
        )
        if postgres and len(made) >= ANALYSE_FROM:
            _statistics(session)
        cursor.last_event_id = high
        cursor.gaps = _write_gaps(kept)
        cursor.updated_at = now
        return FanOutResult(
            events=len(ids) + len(late),
            deliveries=len(made),
            subscriptions=frozenset(made),
            gaps=len(kept),
            full=len(ids) >= limit or len(late) >= limit,
        )


def cursor_state(session: Session, *, lock: bool = False) -> tuple[int, list[Gap]]:
    """How far fan-out has gone and its open gaps; ``lock`` waits for a running fan-out and holds it off."""
    if lock:
        _create_cursor(session)
    stmt = select(FanOutCursor).where(FanOutCursor.name == CURSOR)
    cursor = session.scalar(stmt.with_for_update() if lock else stmt)
    if cursor is None:
        return 0, []
    return cursor.last_event_id, read_gaps(cursor)
