"""Integration health: is publishing running, is everything reaching care planning and the phones?

The seed's "data still not syncing" checks, as one answer with reasons:

- **Statistics and last export**: what the published copy holds per record
  kind and state, when publishing last exported a change, the recent runs.
- **Deliveries**: events waiting to be delivered to subscribers, and those
  dead-lettered (given up after their last retry).
- **Devices**: each care worker's device and its last successful sync.

Health is ``failing``, ``warning`` or ``ok``, the worst of its reasons:

=============================  ========  ====================================================
reason (code)                  level     when
=============================  ========  ====================================================
``dead_letters``               failing   a delivery was dead-lettered: a subscriber misses
                                         changes until someone retries or replays them
``no_export``                  failing   monitored contracts, and no export for longer than
                                         the reconcile interval: even the scheduled full
                                         reconcile has not run (``carehub worker`` is down)
``no_recent_export``           warning   monitored contracts, and no export within the last
                                         hour: the publishing job of ``carehub worker`` checks
                                         in every 5 minutes, so it has probably stopped
``device_not_synced``          warning   a linked device of a published worker has not synced
                                         within 30 minutes
``nothing_monitored``          warning   no contract is monitored, so nothing publishes
``branch_name_refused``        warning   a branch's published name belongs to another
                                         environment's branch (or is too long): its clients
                                         and workers do not publish
``visit_id_too_long``          warning   with the environment's prefix, a visit's ID would be
                                         longer than care planning's limit
=============================  ========  ====================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from carehub.platform.auth import permissions
from carehub.platform.auth.actor import Actor, Role
from carehub.platform.clock import utc_now
from carehub.platform.db import Database, core_table
from carehub.platform.delivery import service as delivery
from carehub.platform.delivery.tables import DEAD, PENDING
from carehub.platform.errors import PermissionDenied
from carehub.publishing.mobile import service as mobile
from carehub.publishing.service import context, names
from carehub.publishing.service.context import SETTINGS
from carehub.publishing.service.selects import MONITORED, P_CARE_PLANS, P_CLIENTS, P_VISITS, P_WORKERS, at
from carehub.publishing.tables import PublishRun
from carehub.tenancy.service import environment_in

RUNS = core_table(PublishRun)
EXPORT_WITHIN = timedelta(hours=1)
SYNC_WITHIN = mobile.STALE_AFTER
DAYS_BACK = 7
DAYS_AHEAD = 14
RECENT_RUNS = 10
CHECK_IN = "check"  # the worker's run over nothing every few minutes: it only says "alive" (last export)
SHOWN_DEVICES = 5
STATES = ("active", "cancelled", "deactivated", "ended")
KINDS = {"client": P_CLIENTS, "worker": P_WORKERS, "care_plan": P_CARE_PLANS, "visit": P_VISITS}


class Health(StrEnum):
    """Overall health, best to worst."""

    OK = "ok"
    WARNING = "warning"
    FAILING = "failing"

    @property
    def rank(self) -> int:
        """0 for ok, 1 for warning, 2 for failing (also ``carehub status``'s exit code; 3 there is unknown)."""
        return (Health.OK, Health.WARNING, Health.FAILING).index(self)


@dataclass(frozen=True, slots=True)
class Reason:
    """Why health is not ok: a stable code, a level, what was seen and what to do."""

    code: str
    level: Health
    message: str
    fix: str

    def as_dict(self) -> dict[str, str]:
        """The JSON shape."""
        return {"code": self.code, "level": self.level.value, "message": self.message, "fix": self.fix}


@dataclass(frozen=True, slots=True)
class RunRow:
    """One recent publishing run."""

    trigger: str
    started_at: datetime
    changes: int
    counts: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape."""
        return {"trigger": self.trigger, "started_at": self.started_at, "changes": self.changes, "counts": self.counts}


@dataclass(frozen=True, slots=True)
class DayCount:
    """Visits published and cancelled with their start on one local day."""

    day: date
    published: int
    cancelled: int

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape."""
        return {"day": self.day, "published": self.published, "cancelled": self.cancelled}


@dataclass(frozen=True, slots=True)
class Events:
    """Deliveries of the tenant's events to its subscribers."""

    pending: int
    dead: int
    subscriptions: int

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape."""
        return {"pending": self.pending, "dead_lettered": self.dead, "subscriptions": self.subscriptions}


@dataclass(frozen=True, slots=True)
class Device:
    """A linked device and its last successful sync."""

    id: int
    name: str
    worker_id: str | None
    worker_name: str
    username: str
    linked_at: datetime
    last_sync_at: datetime | None
    stale: bool

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape."""
        return {
            "id": self.id,
            "name": self.name,
            "worker_id": self.worker_id,
            "worker_name": self.worker_name,
            "username": self.username,
            "linked_at": self.linked_at,
            "last_sync_at": self.last_sync_at,
            "stale": self.stale,
        }


@dataclass(frozen=True, slots=True)
class Status:
    """The integration's health in one environment, and the facts behind it."""

    health: Health
    reasons: list[Reason]
    checked_at: datetime
    timezone: str
    statistics: dict[str, dict[str, int]]
    monitored_contracts: int
    last_export_at: datetime | None
    last_reconcile_at: datetime | None
    reconcile_every_minutes: int
    default_days_ahead: int
    runs: list[RunRow]
    events: Events
    devices: list[Device]
    days: list[DayCount] = field(default_factory=list)

    @property
    def total_published(self) -> int:
        """Records active in care planning now."""
        return sum(by_state.get("active", 0) for by_state in self.statistics.values())

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of ``GET /api/v1/publishing/status`` and ``carehub status --json``."""
        return {
            "health": self.health.value,
            "reasons": [r.as_dict() for r in self.reasons],
            "checked_at": self.checked_at,
            "timezone": self.timezone,
            "statistics": self.statistics,
            "monitored_contracts": self.monitored_contracts,
            "last_export_at": self.last_export_at,
            "last_reconcile_at": self.last_reconcile_at,
            "reconcile_every_minutes": self.reconcile_every_minutes,
            "default_days_ahead": self.default_days_ahead,
            "recent_runs": [r.as_dict() for r in self.runs],
            "events": self.events.as_dict(),
            "devices": [d.as_dict() for d in self.devices],
            "visits_per_day": [d.as_dict() for d in self.days],
        }


def require_staff(actor: Actor) -> None:
    """Explain is for staff: a care worker signed in on the web is refused."""
    if actor.kind == "user" and actor.role is Role.CARE_WORKER:
        raise PermissionDenied("care workers cannot see publishing status or explanations")
    permissions.require_staff(actor)


def _statistics(session: Session, environment_id: int) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for kind, table in KINDS.items():
        rows = session.execute(
            select(table.c.state, func.count()).where(table.c.environment_id == environment_id).group_by(table.c.state)
        ).all()
        counts = dict.fromkeys(STATES, 0)
        counts.update({str(state): int(n) for state, n in rows})
        out[kind] = counts
    return out


def _runs(session: Session, environment_id: int) -> list[RunRow]:
    rows = session.execute(
        select(RUNS.c.trigger, RUNS.c.started_at, RUNS.c.changes, RUNS.c.counts)
        .where(RUNS.c.environment_id == environment_id, RUNS.c.trigger != CHECK_IN)
        .order_by(RUNS.c.started_at.desc(), RUNS.c.id.desc())
        .limit(RECENT_RUNS)
    ).all()
    return [RunRow(str(t), s, int(c), dict(k or {})) for t, s, c, k in rows]


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(ZoneInfo("UTC"))


def _days(session: Session, environment_id: int, today: date, zone: ZoneInfo) -> list[DayCount]:
    """Published (active or ended) and cancelled visits per local day of their start, last week to two weeks on.

    Days are bucketed in SQL by their UTC bounds (so daylight-saving days have
    their true 23 or 25 hours) with one CASE, on either database.
    """
    days = [today + timedelta(days=d) for d in range(-DAYS_BACK, DAYS_AHEAD + 1)]
    bounds = [_midnight(d, zone) for d in [*days, days[-1] + timedelta(days=1)]]
    v = P_VISITS
    bucket = case(*((v.c.start_at < at(b), i) for i, b in enumerate(bounds[1:])), else_=len(days))
    published = func.sum(case((v.c.state.in_(("active", "ended")), 1), else_=0))
    cancelled = func.sum(case((v.c.state == "cancelled", 1), else_=0))
    rows = session.execute(
        select(bucket.label("bucket"), published, cancelled)
        .where(v.c.environment_id == environment_id, v.c.start_at >= at(bounds[0]), v.c.start_at < at(bounds[-1]))
        .group_by("bucket")
    ).all()
    found = {int(b): (int(p or 0), int(c or 0)) for b, p, c in rows}
    return [DayCount(d, *found.get(i, (0, 0))) for i, d in enumerate(days)]


def _events(db: Database, tenant_id: int) -> Events:
    """Deliveries of the tenant's events that are pending or dead-lettered, from the delivery service's counts."""
    subscriptions = delivery.list_subscriptions(db, tenant_id)
    return Events(
        sum(s.counts.get(PENDING, 0) for s in subscriptions),
        sum(s.counts.get(DEAD, 0) for s in subscriptions),
        len(subscriptions),
    )


def _devices(db: Database, environment_id: int, now: datetime) -> tuple[list[Device], list[Device]]:
    """Every linked device, and those a published worker carries that have not synced lately."""
    stale_ids = {d.id for d in mobile.stale_devices(db, environment_id, now, SYNC_WITHIN)}
    devices = [
        Device(
            d.id,
            d.name,
            d.worker_external_id,
            d.worker_name,
            d.username,
            d.linked_at,
            d.last_sync_at,
            d.id in stale_ids,
        )
        for d in mobile.list_devices(db, environment_id)
    ]
    return devices, [d for d in devices if d.stale]


def _ago(now: datetime, then: datetime) -> str:
    minutes = int((now - then).total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} minutes ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} hours ago"
    return f"{minutes // 1440} days ago"


def _export_reasons(
    now: datetime, monitored: int, last_export: datetime | None, reconcile_every: timedelta
) -> list[Reason]:
    if not monitored:
        return [
            Reason(
                "nothing_monitored",
                Health.WARNING,
                "No contract is monitored, so nothing publishes to care planning.",
                "Tick the contracts used by care planning under Publishing > Contracts "
                "(carehub publishing contracts tick ID).",
            )
        ]
    if last_export is not None and now - last_export <= EXPORT_WITHIN:
        return []
    seen = "never" if last_export is None else f"last at {last_export.isoformat(timespec='minutes')}"
    seen += "" if last_export is None else f", {_ago(now, last_export)}"
    if last_export is None or now - last_export > reconcile_every + EXPORT_WITHIN:
        return [
            Reason(
                "no_export",
                Health.FAILING,
                f"No export for longer than the reconcile interval ({seen}): "
                "even the scheduled full reconcile has not run.",
                "Check that 'carehub worker' is running, then run 'carehub publishing reconcile' "
                "(or Reconcile now under Publishing > Health).",
            )
        ]
    return [
        Reason(
            "no_recent_export",
            Health.WARNING,
            f"No export within the last hour ({seen}): the publishing job of 'carehub worker', which checks in "
            "every 5 minutes, has probably stopped. Roster changes still publish at once.",
            "Check that 'carehub worker' is running; 'carehub publishing reconcile --preview' shows what is due.",
        )
    ]


def _device_reasons(stale: Sequence[Device], now: datetime) -> list[Reason]:
    if not stale:
        return []
    shown = ", ".join(
        f"{d.name} ({d.worker_name}, "
        + (f"last sync {_ago(now, d.last_sync_at)}" if d.last_sync_at else "never synced")
        + ")"
        for d in stale[:SHOWN_DEVICES]
    )
    more = f" and {len(stale) - SHOWN_DEVICES} more" if len(stale) > SHOWN_DEVICES else ""
    return [
        Reason(
            "device_not_synced",
            Health.WARNING,
            f"{len(stale)} device(s) not synced within the last 30 minutes: {shown}{more}.",
            "Ask the worker to open the care-planning app with a connection; if the phone was replaced, "
            "revoke the old device and link the new one.",
        )
    ]


def _event_reasons(events: Events) -> list[Reason]:
    if not events.dead:
        return []
    return [
        Reason(
            "dead_letters",
            Health.FAILING,
            f"{events.dead} deliver{'y' if events.dead == 1 else 'ies'} dead-lettered: "
            "a subscriber is missing changes.",
            "Open Deliveries, read why the attempts failed, fix the receiving endpoint, then retry or replay them.",
        )
    ]


def status_of(db: Database, environment_id: int, now: datetime | None = None) -> Status:
    """The health of publishing in one environment, with its reasons and facts."""
    now = now or utc_now()
    settings = settings_of(db, environment_id)
    with db.read() as session:
        env = environment_in(session, environment_id)
        monitored = int(
            session.scalar(
                select(func.count()).select_from(MONITORED).where(MONITORED.c.environment_id == environment_id)
            )
            or 0
        )
        statistics = _statistics(session, environment_id)
        runs = _runs(session, environment_id)
        days = _days(session, environment_id, now.astimezone(env.zone).date(), env.zone)
        refused = [
            reason
            for reason in (
                names.health_reason(names.refused_branches(session, environment_id, now)),
                names.visit_health_reason(names.refused_visit_ids(session, environment_id, now)),
            )
            if reason is not None
        ]
    events = _events(db, env.tenant_id)
    devices, stale = _devices(db, environment_id, now)
    every = timedelta(minutes=settings.reconcile_every_minutes)
    reasons = [
        *_event_reasons(events),
        *_export_reasons(now, monitored, settings.last_export_at, every),
        *_device_reasons(stale, now),
        *(Reason(code, Health.WARNING, message, fix) for code, message, fix in refused),
    ]
    reasons.sort(key=lambda r: -r.level.rank)
    health = max((r.level for r in reasons), key=lambda h: h.rank, default=Health.OK)
    return Status(
        health=health,
        reasons=reasons,
        checked_at=now,
        timezone=env.timezone,
        statistics=statistics,
        monitored_contracts=monitored,
        last_export_at=settings.last_export_at,
        last_reconcile_at=settings.last_reconcile_at,
        reconcile_every_minutes=settings.reconcile_every_minutes,
        default_days_ahead=settings.default_days_ahead,
        runs=runs,
        events=events,
        devices=devices,
        days=days,
    )


def read_status(db: Database, actor: Actor, environment_id: int, now: datetime | None = None) -> Status:
    """:func:`status_of` for a tenant administrator.

    The status counts every branch's records (statistics, visits per day, runs, devices), so only a tenant
    administrator (or an API token) reads it; care workers and branch-scoped staff are refused.
    """
    require_staff(actor)
    permissions.require_admin(actor, "see the integration's health and statistics (they count every branch)")
    return status_of(db, environment_id, now)


@dataclass(frozen=True, slots=True)
class PublishingSettings:
    """An environment's publishing settings and when publishing last ran."""

    default_days_ahead: int
    reconcile_every_minutes: int
    last_export_at: datetime | None
    last_reconcile_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of ``GET /api/v1/publishing/settings``."""
        return {
            "default_days_ahead": self.default_days_ahead,
            "reconcile_every_minutes": self.reconcile_every_minutes,
            "last_export_at": self.last_export_at,
            "last_reconcile_at": self.last_reconcile_at,
        }


def settings_of(db: Database, environment_id: int) -> PublishingSettings:
    """The environment's publishing settings (the defaults until someone changes them)."""
    with db.transaction() as session:
        context.ensure_settings(session, environment_id)
        row = session.execute(
            select(
                SETTINGS.c.default_days_ahead,
                SETTINGS.c.reconcile_every_minutes,
                SETTINGS.c.last_export_at,
                SETTINGS.c.last_reconcile_at,
            ).where(SETTINGS.c.environment_id == environment_id)
        ).one()
    return PublishingSettings(int(row[0]), int(row[1]), row[2], row[3])


def unknown_reason(exc: BaseException) -> str:
    """Why health could not be checked, for ``carehub status``'s UNKNOWN: one line, no SQL and no parameters."""
    if isinstance(exc, DBAPIError):
        cause = str(exc.orig).strip().splitlines()[0] if exc.orig is not None and str(exc.orig).strip() else ""
        return (
            f"the database did not answer ({type(exc.orig).__name__}: {cause})"
            if cause
            else "the database did not answer"
        )
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"unexpected error {type(exc).__name__}" + (f": {detail}" if detail else "")
