"""Webhook subscriptions and deliveries: every change is one ``do_*`` function, audited.

Subscriptions belong to a tenant. Only a tenant administrator (or Carehub
itself, from the command line) changes them or retries and replays
deliveries; anyone signed in to the tenant may read them. The signing secret
is returned once, when the subscription is created, and never again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import column, func, literal_column, select, table, update
from sqlalchemy.orm import Session

from carehub.platform import audit
from carehub.platform.auth.actor import Actor
from carehub.platform.clock import utc_now
from carehub.platform.db import Database
from carehub.platform.delivery import fanout
from carehub.platform.delivery.signing import new_secret
from carehub.platform.delivery.tables import (
    DEAD,
    DELIVERED,
    PENDING,
    STATUSES,
    Delivery,
    DeliveryAttempt,
    Subscription,
)
from carehub.platform.delivery.transport import parse_url
from carehub.platform.errors import Conflict, InvalidInput, NotFound, PermissionDenied, RecordError
from carehub.platform.outbox import OutboxEvent
from carehub.platform.paging import ResultPage

DEFAULT_TOPICS = ("publishing.",)
DEFAULT_MAX_ATTEMPTS = 8
MAX_ATTEMPTS_LIMIT = 50
MAX_TOPICS = 20
MAX_URL = 2000
MAX_NAME = 100
MAX_REPLAY = 100_000
MAX_PER_PAGE = 500
TOPIC_PATTERN = re.compile(r"^(\*|[a-z0-9_][a-z0-9_.\-]{0,79})$")
SECRET_PATTERN = re.compile(r"^[\x21-\x7e]{16,200}$")

# Tenants belong to tenancy, which the platform does not import: a lightweight view of what is needed.
TENANTS = table("tenants", column("id"), column("name"), column("timezone"))


# ---------------------------------------------------------------- what callers get


@dataclass(frozen=True, slots=True)
class SubscriptionInfo:
    """A subscription, without its secret."""

    id: int
    tenant_id: int
    name: str
    url: str
    topics: list[str]
    max_attempts: int
    active: bool
    created_at: datetime
    updated_at: datetime
    counts: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly."""
        return {
            "id": self.id,
            "name": self.name,
            "url": self.url,
            "topics": list(self.topics),
            "max_attempts": self.max_attempts,
            "active": self.active,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "deliveries": {s: self.counts.get(s, 0) for s in (PENDING, DEAD)},
        }


@dataclass(frozen=True, slots=True)
class CreatedSubscription:
    """A new subscription and its signing secret: the only time the secret is shown."""

    subscription: SubscriptionInfo
    secret: str


@dataclass(frozen=True, slots=True)
class AttemptInfo:
    """One attempt of a delivery."""

    number: int
    started_at: datetime
    duration_ms: int
    outcome: str
    status_code: int | None
    error: str | None
    worker: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly."""
        return {
            "number": self.number,
            "started_at": self.started_at.isoformat(),
            "duration_ms": self.duration_ms,
            "outcome": self.outcome,
            "status_code": self.status_code,
            "error": self.error,
            "worker": self.worker,
        }


@dataclass(frozen=True, slots=True)
class DeliveryInfo:
    """Where one event's delivery to one subscription stands."""

    id: int
    subscription_id: int
    subscription_name: str
    event_id: int
    topic: str
    entity: str
    entity_id: int
    status: str
    attempts: int
    failures: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    attempt_log: list[AttemptInfo] = field(default_factory=list)
    payload: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly; with its attempts and the event's payload when they were read."""
        out: dict[str, Any] = {
            "id": self.id,
            "subscription": {"id": self.subscription_id, "name": self.subscription_name},
            "event_id": self.event_id,
            "idempotency_key": f"evt-{self.event_id}",
            "topic": self.topic,
            "entity": self.entity,
            "entity_id": self.entity_id,
            "status": self.status,
            "attempts": self.attempts,
            "failures_in_a_row": self.failures,
            "next_attempt_at": (
                self.next_attempt_at.isoformat() if self.status == PENDING and self.next_attempt_at else None
            ),
            "last_status_code": self.last_status_code,
            "last_error": self.last_error,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "delivered_at": self.delivered_at.isoformat() if self.delivered_at else None,
        }
        if self.attempt_log:
            out["attempt_log"] = [a.as_dict() for a in self.attempt_log]
        if self.payload is not None:
            out["payload"] = self.payload
        return out


@dataclass(frozen=True, slots=True)
class DeliveryPage(ResultPage["DeliveryInfo"]):
    """One page of deliveries, newest first."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly."""
        return {
            "items": [d.as_dict() for d in self.items],
            "total": self.total,
            "page": self.page,
            "per_page": self.per_page,
        }


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a replay queued: existing deliveries sent again and new ones for events never sent."""

    subscription_id: int
    events: int
    requeued: int
    created: int
    first_event_id: int | None
    last_event_id: int | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly."""
        return {
            "subscription_id": self.subscription_id,
            "events": self.events,
            "requeued": self.requeued,
            "created": self.created,
            "first_event_id": self.first_event_id,
            "last_event_id": self.last_event_id,
        }


@dataclass(frozen=True, slots=True)
class TenantFacts:
    """A tenant's name and time zone, for page headers."""

    id: int
    name: str
    timezone: str


# ---------------------------------------------------------------- checks


def _require_admin(actor: Actor, tenant_id: int) -> None:
    if actor.tenant_id is not None and actor.tenant_id != tenant_id:
        raise NotFound("no such subscription in your tenant")
    if not actor.is_admin:
        raise PermissionDenied("only a tenant administrator may change webhook subscriptions and deliveries")


def _problem(field_name: str, value: Any, reason: str) -> InvalidInput:
    return InvalidInput(f"{field_name}: {reason}", errors=[RecordError(None, None, field_name, value, reason)])


def _check_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > MAX_NAME or not cleaned.isprintable():
        raise _problem("name", name, f"a name of 1 to {MAX_NAME} printable characters")
    return cleaned


def _check_url(url: str) -> str:
    url = url.strip()
    if len(url) > MAX_URL:
        raise _problem("url", url[:100] + "…", f"a URL of at most {MAX_URL} characters")
    try:
        parse_url(url)
    except ValueError as exc:
        raise _problem("url", url, f"an http:// or https:// URL ({exc})") from exc
    return url


def _check_topics(topics: Sequence[str] | None) -> list[str]:
    if topics is None:
        return list(DEFAULT_TOPICS)
    cleaned = [t.strip() for t in topics]
    if not cleaned or len(cleaned) > MAX_TOPICS:
        raise _problem("topics", list(topics), f"1 to {MAX_TOPICS} topic prefixes, e.g. 'publishing.'")
    for t in cleaned:
        if not TOPIC_PATTERN.match(t):
            raise _problem(
                "topics",
                t,
                "a topic prefix of lower-case letters, digits, '.', '_' or '-' (e.g. 'publishing.'), or '*' for all",
            )
    return sorted(set(cleaned))


def _check_max_attempts(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ATTEMPTS_LIMIT:
        raise _problem("max_attempts", value, f"a whole number from 1 to {MAX_ATTEMPTS_LIMIT}")
    return value


def _check_secret(secret: str | None) -> str:
    if secret is None:
        return new_secret()
    if not SECRET_PATTERN.match(secret):
        raise _problem("secret", "(hidden)", "16 to 200 printable characters without spaces, or leave it out")
    return secret


# ---------------------------------------------------------------- subscriptions


def _info(s: Subscription, counts: dict[str, int] | None = None) -> SubscriptionInfo:
    return SubscriptionInfo(
        s.id,
        s.tenant_id,
        s.name,
        s.url,
        list(s.topics or []),
        s.max_attempts,
        s.active,
        s.created_at,
        s.updated_at,
        counts or {},
    )


def _subscription(session: Session, tenant_id: int, subscription_id: int) -> Subscription:
    found = session.get(Subscription, subscription_id)
    if found is None or found.tenant_id != tenant_id:
        raise NotFound(f"no subscription {subscription_id} in this tenant")
    return found


def do_create_subscription(
    db: Database,
    actor: Actor,
    *,
    tenant_id: int,
    name: str,
    url: str,
    topics: Sequence[str] | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    secret: str | None = None,
) -> CreatedSubscription:
    """Create a subscription; its secret (given, or made here) is returned this once."""
    _require_admin(actor, tenant_id)
    name, url = _check_name(name), _check_url(url)
    topics_ = _check_topics(topics)
    max_attempts = _check_max_attempts(max_attempts)
    secret = _check_secret(secret)
    now = utc_now()
    with db.transaction() as session:
        if session.scalar(select(TENANTS.c.id).where(TENANTS.c.id == tenant_id)) is None:
            raise NotFound(f"no tenant {tenant_id}")
        taken = session.scalar(
            select(Subscription.id).where(Subscription.tenant_id == tenant_id, Subscription.name == name)
        )
        if taken is not None:
            raise Conflict(
                f"a subscription named {name!r} exists already (id {taken})",
                errors=[RecordError(None, None, "name", name, "a name no other subscription of this tenant has")],
            )
        sub = Subscription(
            tenant_id=tenant_id,
            name=name,
            url=url,
            secret=secret,
            topics=topics_,
            max_attempts=max_attempts,
            active=True,
            created_at=now,
            updated_at=now,
        )
        session.add(sub)
        session.flush()
        audit.record(
            session,
            actor,
            audit.Change(
                "subscription",
                sub.id,
                "create",
                {"name": name, "url": url, "topics": topics_, "max_attempts": max_attempts, "active": True},
            ),
        )
        return CreatedSubscription(_info(sub), secret)


def do_update_subscription(
    db: Database,
    actor: Actor,
    *,
    tenant_id: int,
    subscription_id: int,
    name: str | None = None,
    url: str | None = None,
    topics: Sequence[str] | None = None,
    max_attempts: int | None = None,
    active: bool | None = None,
) -> SubscriptionInfo:
    """Change what is given; the audit row holds each changed field's before and after."""
    _require_admin(actor, tenant_id)
    wanted: dict[str, Any] = {}
    if name is not None:
        wanted["name"] = _check_name(name)
    if url is not None:
        wanted["url"] = _check_url(url)
    if topics is not None:
        wanted["topics"] = _check_topics(topics)
    if max_attempts is not None:
        wanted["max_attempts"] = _check_max_attempts(max_attempts)
    if active is not None:
        wanted["active"] = bool(active)
    with db.transaction() as session:
        sub = _subscription(session, tenant_id, subscription_id)
        if "name" in wanted and wanted["name"] != sub.name:
            taken = session.scalar(
                select(Subscription.id).where(Subscription.tenant_id == tenant_id, Subscription.name == wanted["name"])
            )
            if taken is not None:
                raise Conflict(
                    f"a subscription named {wanted['name']!r} exists already (id {taken})",
                    errors=[RecordError(None, None, "name", wanted["name"], "a name no other subscription has")],
                )
        changes = {k: {"before": getattr(sub, k), "after": v} for k, v in wanted.items() if getattr(sub, k) != v}
        if changes:
            for k, c in changes.items():
                setattr(sub, k, c["after"])
            sub.updated_at = utc_now()
            action = {False: "disable", True: "enable"}.get(wanted["active"]) if set(changes) == {"active"} else None
            audit.record(session, actor, audit.Change("subscription", sub.id, action or "update", changes))
        return _info(sub)


def do_disable_subscription(db: Database, actor: Actor, *, tenant_id: int, subscription_id: int) -> SubscriptionInfo:
    """Stop delivering to a subscription: nothing more is queued or sent until it is enabled again."""
    return do_update_subscription(db, actor, tenant_id=tenant_id, subscription_id=subscription_id, active=False)


def do_enable_subscription(db: Database, actor: Actor, *, tenant_id: int, subscription_id: int) -> SubscriptionInfo:
    """Deliver to a subscription again (events of the time it was disabled need a replay)."""
    return do_update_subscription(db, actor, tenant_id=tenant_id, subscription_id=subscription_id, active=True)


def _status_is(status: str) -> Any:
    """``status = '<status>'`` written into the SQL (a known status): the partial indexes then apply to any plan."""
    return literal_column(f"'{STATUSES[STATUSES.index(status)]}'")


def _counts(session: Session, subscription_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Pending and dead deliveries per subscription (read through partial indexes; delivered ones are not counted)."""
    out: dict[int, dict[str, int]] = {}
    if not subscription_ids:
        return out
    for status in (PENDING, DEAD):
        rows = session.execute(
            select(Delivery.subscription_id, func.count())
            .where(Delivery.subscription_id.in_(subscription_ids), Delivery.status == _status_is(status))
            .group_by(Delivery.subscription_id)
        ).all()
        for sub_id, n in rows:
            out.setdefault(sub_id, {})[status] = int(n)
    return out


def list_subscriptions(db: Database, tenant_id: int) -> list[SubscriptionInfo]:
    """A tenant's subscriptions by name, with how many deliveries each has in each status."""
    with db.read() as session:
        subs = session.scalars(
            select(Subscription).where(Subscription.tenant_id == tenant_id).order_by(Subscription.name)
        ).all()
        counts = _counts(session, [s.id for s in subs])
        return [_info(s, counts.get(s.id)) for s in subs]


def get_subscription(db: Database, tenant_id: int, subscription_id: int) -> SubscriptionInfo:
    """One subscription of the tenant."""
    with db.read() as session:
        sub = _subscription(session, tenant_id, subscription_id)
        return _info(sub, _counts(session, [sub.id]).get(sub.id))


def find_subscription(db: Database, tenant_id: int, name_or_id: str) -> SubscriptionInfo:
    """A subscription by its name, or by its id given as digits."""
    with db.read() as session:
        stmt = select(Subscription).where(Subscription.tenant_id == tenant_id)
        found = session.scalar(stmt.where(Subscription.name == name_or_id))
        if found is None and name_or_id.isdigit():
            found = session.scalar(stmt.where(Subscription.id == int(name_or_id)))
        if found is None:
            raise NotFound(f"no subscription named {name_or_id!r} in this tenant")
        return _info(found)


# ---------------------------------------------------------------- deliveries


def _delivery_info(d: Delivery, sub_name: str) -> DeliveryInfo:
    return DeliveryInfo(
        d.id,
        d.subscription_id,
        sub_name,
        d.event_id,
        d.topic,
        d.entity,
        d.entity_id,
        d.status,
        d.attempts,
        d.failures,
        d.next_attempt_at,
        d.last_status_code,
        d.last_error,
        d.created_at,
        d.updated_at,
        d.delivered_at,
    )


def check_status(status: str | None) -> str | None:
    """``status`` when it is a delivery status (or empty); InvalidInput naming the choices otherwise."""
    if status in (None, ""):
        return None
    if status not in STATUSES:
        raise _problem("status", status, f"one of {', '.join(STATUSES)}")
    return status


def list_deliveries(
    db: Database,
    tenant_id: int,
    *,
    status: str | None = None,
    subscription_id: int | None = None,
    event_id: int | None = None,
    page: int = 1,
    per_page: int = 50,
) -> DeliveryPage:
    """A tenant's deliveries, newest first, filtered by status, subscription or event."""
    status = check_status(status)
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise _problem("per_page", per_page, f"a number from 1 to {MAX_PER_PAGE}")
    if page < 1:
        raise _problem("page", page, "a page number from 1")
    stmt = (
        select(Delivery, Subscription.name)
        .join(Subscription, Subscription.id == Delivery.subscription_id)
        .where(Subscription.tenant_id == tenant_id)
    )
    if status:
        stmt = stmt.where(Delivery.status == _status_is(status))
    if subscription_id is not None:
        stmt = stmt.where(Delivery.subscription_id == subscription_id)
    if event_id is not None:
        stmt = stmt.where(Delivery.event_id == event_id)
    with db.read() as session:
        total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
        pages = max(1, -(-total // per_page))
        page = min(page, pages)
        rows = session.execute(stmt.order_by(Delivery.id.desc()).limit(per_page).offset((page - 1) * per_page)).all()
        return DeliveryPage([_delivery_info(d, name) for d, name in rows], total, page, per_page)


def _attempts(session: Session, delivery_id: int) -> list[AttemptInfo]:
    rows = session.scalars(
        select(DeliveryAttempt)
        .where(DeliveryAttempt.delivery_id == delivery_id)
        .order_by(DeliveryAttempt.number, DeliveryAttempt.id)
    ).all()
    return [
        AttemptInfo(a.number, a.started_at, a.duration_ms, a.outcome, a.status_code, a.error, a.worker) for a in rows
    ]


def _tenant_delivery(session: Session, tenant_id: int, delivery_id: int) -> tuple[Delivery, str]:
    row = session.execute(
        select(Delivery, Subscription.name)
        .join(Subscription, Subscription.id == Delivery.subscription_id)
        .where(Delivery.id == delivery_id, Subscription.tenant_id == tenant_id)
    ).first()
    if row is None:
        raise NotFound(f"no delivery {delivery_id} in this tenant")
    return row[0], row[1]


def get_delivery(db: Database, tenant_id: int, delivery_id: int) -> DeliveryInfo:
    """One delivery with every attempt and the event's payload."""
    with db.read() as session:
        d, name = _tenant_delivery(session, tenant_id, delivery_id)
        payload = session.scalar(select(OutboxEvent.payload).where(OutboxEvent.id == d.event_id))
        info = _delivery_info(d, name)
        return DeliveryInfo(
            **{f: getattr(info, f) for f in info.__dataclass_fields__ if f not in ("attempt_log", "payload")},
            attempt_log=_attempts(session, d.id),
            payload=payload if payload is not None else {},
        )


def attempts_for_event(db: Database, tenant_id: int, event_id: int) -> list[DeliveryInfo]:
    """Every delivery of one event (one per subscription) with its attempts."""
    with db.read() as session:
        rows = session.execute(
            select(Delivery, Subscription.name)
            .join(Subscription, Subscription.id == Delivery.subscription_id)
            .where(
                Delivery.event_id == event_id,
                Delivery.subscription_id.in_(select(Subscription.id).where(Subscription.tenant_id == tenant_id)),
            )
            .order_by(Delivery.id)
        ).all()
        out = []
        for d, name in rows:
            info = _delivery_info(d, name)
            out.append(
                DeliveryInfo(
                    **{f: getattr(info, f) for f in info.__dataclass_fields__ if f not in ("attempt_log", "payload")},
                    attempt_log=_attempts(session, d.id),
                )
            )
        return out


def _requeue_values(now: datetime) -> dict[str, Any]:
    return {
        "status": PENDING,
        "head": False,  # ensure_heads decides, in the same transaction
        "failures": 0,
        "next_attempt_at": now,
        "locked_by": None,
        "locked_until": None,
        "updated_at": now,
    }


def do_retry(db: Database, actor: Actor, *, tenant_id: int, delivery_id: int) -> DeliveryInfo:
    """Send a dead delivery again: it is pending at once, with a fresh count of attempts before it is dead."""
    _require_admin(actor, tenant_id)
    now = utc_now()
    with db.transaction() as session:
        fanout.lock(session)
        d, name = _tenant_delivery(session, tenant_id, delivery_id)
        if d.status != DEAD:
            hint = "it is waiting to be sent" if d.status == PENDING else "use replay to send a delivered event again"
            raise Conflict(
                f"delivery {delivery_id} is {d.status}, not dead: {hint}",
                errors=[RecordError(None, str(delivery_id), "status", d.status, "a dead delivery")],
            )
        before = d.status
        for k, v in _requeue_values(now).items():
            setattr(d, k, v)
        session.flush()
        fanout.ensure_heads(session, [(d.subscription_id, d.entity, d.entity_id)])
        session.refresh(d)
        audit.record(
            session,
            actor,
            audit.Change("delivery", d.id, "retry", {"status": {"before": before, "after": PENDING}}),
        )
        return _delivery_info(d, name)


def do_retry_dead(db: Database, actor: Actor, *, tenant_id: int, subscription_id: int) -> int:
    """Send every dead delivery of a subscription again; how many."""
    _require_admin(actor, tenant_id)
    now = utc_now()
    with db.transaction() as session:
        _subscription(session, tenant_id, subscription_id)
        fanout.lock(session)
        rows = session.execute(
            select(Delivery.id, Delivery.entity, Delivery.entity_id).where(
                Delivery.subscription_id == subscription_id, Delivery.status == _status_is(DEAD)
            )
        ).all()
        ids = [r.id for r in rows]
        for chunk in _chunks(ids, 5000):
            session.execute(update(Delivery).where(Delivery.id.in_(chunk)).values(**_requeue_values(now)))
        fanout.ensure_heads(session, [(subscription_id, r.entity, r.entity_id) for r in rows])
        audit.record(
            session, actor, audit.Change("subscription", subscription_id, "retry_dead", {"deliveries": len(ids)})
        )
        return len(ids)


def do_replay_delivery(db: Database, actor: Actor, *, tenant_id: int, delivery_id: int) -> DeliveryInfo:
    """Send one delivered (or dead) event to its subscription again."""
    _require_admin(actor, tenant_id)
    now = utc_now()
    with db.transaction() as session:
        fanout.lock(session)
        d, name = _tenant_delivery(session, tenant_id, delivery_id)
        if d.status == PENDING:
            raise Conflict(
                f"delivery {delivery_id} is pending: it is sent anyway",
                errors=[RecordError(None, str(delivery_id), "status", d.status, "a delivered or dead delivery")],
            )
        before = d.status
        for k, v in _requeue_values(now).items():
            setattr(d, k, v)
        session.flush()
        fanout.ensure_heads(session, [(d.subscription_id, d.entity, d.entity_id)])
        session.refresh(d)
        audit.record(
            session,
            actor,
            audit.Change("delivery", d.id, "replay", {"status": {"before": before, "after": PENDING}}),
        )
        return _delivery_info(d, name)


def _check_replay_range(from_event_id: int | None, since: datetime | None, to_event_id: int | None) -> None:
    if (from_event_id is None) == (since is None):
        raise _problem("from_event_id", from_event_id, "give exactly one of from_event_id and since")
    if from_event_id is not None and from_event_id < 1:
        raise _problem("from_event_id", from_event_id, "an event id from 1")
    if to_event_id is not None and to_event_id < (from_event_id or 1):
        raise _problem("to_event_id", to_event_id, "an event id at or after from_event_id")
    if since is not None and (since.tzinfo is None or since.utcoffset() is None):
        raise _problem("since", since.isoformat(), "a time with a UTC offset, e.g. 2026-01-31T09:00:00Z")


def do_replay(
    db: Database,
    actor: Actor,
    *,
    tenant_id: int,
    subscription_id: int,
    from_event_id: int | None = None,
    since: datetime | None = None,
    to_event_id: int | None = None,
) -> ReplayResult:
    """Send a subscription every matching event from an event id (or a time) again, in event order.

    Delivered and dead deliveries become pending; events the subscription
    never got (from before it existed, or while it was disabled) get new
    deliveries; pending ones are left as they are. Events the worker has not
    fanned out yet are left to it. At most MAX_REPLAY events at once.
    """
    _require_admin(actor, tenant_id)
    _check_replay_range(from_event_id, since, to_event_id)
    now = utc_now()
    with db.transaction() as session:
        sub = _subscription(session, tenant_id, subscription_id)
        last, gaps = fanout.cursor_state(session, lock=True)
        envs = [e for e, t in fanout.environment_tenants(session).items() if t == tenant_id]
        stmt = select(*fanout.EVENT_COLUMNS).where(OutboxEvent.id <= last, OutboxEvent.environment_id.in_(envs))
        if from_event_id is not None:
            stmt = stmt.where(OutboxEvent.id >= from_event_id)
        if since is not None:
            stmt = stmt.where(OutboxEvent.created_at >= since)
        if to_event_id is not None:
            stmt = stmt.where(OutboxEvent.id <= to_event_id)
        events = [
            e
            for e in session.execute(stmt.order_by(OutboxEvent.id).limit(MAX_REPLAY + 1))
            if fanout.topic_matches(e.topic, sub.topics or []) and not fanout.in_gaps(e.id, gaps)
        ]
        if len(events) > MAX_REPLAY:
            raise _problem(
                "to_event_id",
                to_event_id,
                f"a range of at most {MAX_REPLAY:,} events; this one has more (add to_event_id)",
            )
        ids = [e.id for e in events]
        existing: dict[int, str] = {}
        for chunk in _chunks(ids, 5000):
            existing.update(
                session.execute(
                    select(Delivery.event_id, Delivery.status).where(
                        Delivery.subscription_id == sub.id, Delivery.event_id.in_(chunk)
                    )
                ).all()
            )
        requeue = [i for i in ids if existing.get(i) in (DELIVERED, DEAD)]
        for chunk in _chunks(requeue, 5000):
            session.execute(
                update(Delivery)
                .where(Delivery.subscription_id == sub.id, Delivery.event_id.in_(chunk))
                .values(**_requeue_values(now))
            )
        new = [fanout.delivery_row(e, sub.id, now) for e in events if e.id not in existing]
        fanout.insert_ignoring_duplicates(session, new)
        queued = set(requeue) | {e.id for e in events if e.id not in existing}
        fanout.ensure_heads(session, [(sub.id, e.entity, e.entity_id) for e in events if e.id in queued])
        result = ReplayResult(
            sub.id, len(events), len(requeue), len(new), ids[0] if ids else None, ids[-1] if ids else None
        )
        audit.record(
            session,
            actor,
            audit.Change(
                "subscription",
                sub.id,
                "replay",
                {
                    "from_event_id": from_event_id,
                    "since": since.isoformat() if since else None,
                    "to_event_id": to_event_id,
                    **result.as_dict(),
                },
            ),
        )
        return result


def _chunks(items: Sequence[int], size: int) -> list[Sequence[int]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# ---------------------------------------------------------------- tenants (for the command line and page headers)


def tenant_by_name(db: Database, name: str | None) -> TenantFacts:
    """The tenant named ``name``, or the only tenant when ``name`` is empty; NotFound or InvalidInput otherwise."""
    with db.read() as session:
        rows = session.execute(select(TENANTS.c.id, TENANTS.c.name, TENANTS.c.timezone).order_by(TENANTS.c.id)).all()
    if name:
        for r in rows:
            if r.name == name:
                return TenantFacts(r.id, r.name, r.timezone)
        raise NotFound(f"no tenant named {name!r}")
    if len(rows) != 1:
        raise _problem(
            "tenant",
            None,
            f"{len(rows)} tenants exist; choose one with --tenant"
            if rows
            else "no tenant yet: run 'carehub tenant create'",
        )
    return TenantFacts(rows[0].id, rows[0].name, rows[0].timezone)


def tenant_facts(db: Database, tenant_id: int) -> TenantFacts | None:
    """A tenant's name and time zone."""
    with db.read() as session:
        row = session.execute(
            select(TENANTS.c.id, TENANTS.c.name, TENANTS.c.timezone).where(TENANTS.c.id == tenant_id)
        ).first()
    return None if row is None else TenantFacts(row.id, row.name, row.timezone)
