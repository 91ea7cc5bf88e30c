"""Tenant configuration of publishing: monitored contracts and publish schedules, and reconcile.

Each ``do_*`` function owns its transaction: it changes the configuration,
writes the audit rows, and runs publishing for the consequences in that same
transaction (events included). ``preview=True`` does all of it in a
transaction that is rolled back, so the result says exactly what would change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from carehub.platform import audit
from carehub.platform.auth.actor import Actor
from carehub.platform.clock import utc_now
from carehub.platform.db import Database
from carehub.platform.errors import InvalidInput, PermissionDenied, RecordError
from carehub.publishing.domain import schedules
from carehub.publishing.service import context, runs
from carehub.publishing.service.context import SCHEDULES, SETTINGS
from carehub.publishing.service.runs import RunResult, Scope
from carehub.publishing.service.selects import MONITORED, R
from carehub.tenancy.service import environment_in


def _require_admin(actor: Actor, what: str) -> None:
    """Tenant configuration is for tenant administrators (and API tokens): it acts on every branch."""
    if actor.kind == "device" or not actor.is_admin:
        raise PermissionDenied(f"only an administrator can {what}")


def _resolve(session: Session, table: str, environment_id: int, external_ids: Sequence[str]) -> dict[str, int]:
    """Roster keys of ``external_ids``; every unknown id is reported."""
    source = R.contracts if table == "contract" else R.groups
    wanted = sorted(set(external_ids))
    found = dict(
        session.execute(
            select(source.c.external_id, source.c.id).where(
                source.c.environment_id == environment_id,
                source.c.external_id.in_(wanted),
                source.c.deleted_at.is_(None),
            )
        ).all()
    )
    missing = [e for e in wanted if e not in found]
    if missing:
        raise InvalidInput(
            f"unknown {table} id(s): {', '.join(missing)}",
            errors=[RecordError(i, e, f"{table}_ids", e, f"no {table} with this id") for i, e in enumerate(missing)],
        )
    if not wanted:
        raise InvalidInput(
            f"no {table} ids given", errors=[RecordError(None, None, f"{table}_ids", [], "expected at least one id")]
        )
    return found


@dataclass(frozen=True, slots=True)
class ContractRow:
    """A contract and whether it is monitored."""

    id: str
    name: str
    funder: str
    monitored: bool
    ticked_by: str | None
    ticked_at: datetime | None


def list_contracts(db: Database, environment_id: int) -> list[ContractRow]:
    """Every live contract of the environment, monitored ones marked."""
    k, m = R.contracts, MONITORED
    with db.read() as session:
        rows = session.execute(
            select(k.c.external_id, k.c.name, k.c.funder, m.c.contract_id, m.c.ticked_by, m.c.ticked_at)
            .select_from(k.outerjoin(m, (m.c.contract_id == k.c.id) & (m.c.environment_id == environment_id)))
            .where(k.c.environment_id == environment_id, k.c.deleted_at.is_(None))
            .order_by(k.c.name, k.c.external_id)
        ).all()
    return [ContractRow(r[0], r[1], r[2], r[3] is not None, r[4], r[5]) for r in rows]


def _apply_monitored(
    session: Session, actor: Actor, environment_id: int, wanted: dict[str, tuple[int, bool]], now: datetime
) -> tuple[list[str], list[str]]:
    """Make each contract monitored or not as ``wanted`` says (external id: key, monitored), in ``session``.

    One audit row per contract that changed; returns the external ids ticked and unticked.
    """
    keys = [pk for pk, _ in wanted.values()]
    already = set(
        session.scalars(
            select(MONITORED.c.contract_id).where(
                MONITORED.c.environment_id == environment_id, MONITORED.c.contract_id.in_(keys)
            )
        )
    )
    tick = {e: pk for e, (pk, on) in sorted(wanted.items()) if on and pk not in already}
    untick = {e: pk for e, (pk, on) in sorted(wanted.items()) if not on and pk in already}
    if tick:
        session.execute(
            MONITORED.insert(),
            [
                {"environment_id": environment_id, "contract_id": pk, "ticked_by": actor.label, "ticked_at": now}
                for pk in tick.values()
            ],
        )
    if untick:
        session.execute(
            delete(MONITORED).where(
                MONITORED.c.environment_id == environment_id, MONITORED.c.contract_id.in_(untick.values())
            )
        )
    changes = [(ext, pk, True) for ext, pk in tick.items()] + [(ext, pk, False) for ext, pk in untick.items()]
    audit.record_many(
        session,
        actor,
        (
            audit.Change(
                "contract",
                pk,
                "monitor" if on else "unmonitor",
                {"monitored": [not on, on]},
                external_id=ext,
                environment_id=environment_id,
            )
            for ext, pk, on in changes
        ),
    )
    return list(tick), list(untick)


def do_set_monitored(
    db: Database,
    actor: Actor,
    environment_id: int,
    contract_ids: Sequence[str],
    *,
    monitored: bool,
    preview: bool = False,
    now: datetime | None = None,
) -> RunResult:
    """Tick (or untick) contracts as monitored and publish the consequences."""
    _require_admin(actor, "change monitored contracts")
    with db.rehearsal() if preview else db.transaction() as session:
        found = _resolve(session, "contract", environment_id, contract_ids)
        now = now or utc_now()
        ticked, unticked = _apply_monitored(
            session, actor, environment_id, {e: (pk, monitored) for e, pk in found.items()}, now
        )
        if not (ticked or unticked):
            return RunResult()
        return runs.run(session, environment_id, trigger="contracts", scope=Scope.everything(), now=now)


@dataclass(frozen=True, slots=True)
class MonitoredSave:
    """What saving the monitored contracts page did (or would do): contracts ticked, unticked, and the run."""

    ticked: list[str]
    unticked: list[str]
    result: RunResult

    @property
    def changed(self) -> bool:
        """Whether any tick changed."""
        return bool(self.ticked or self.unticked)


def do_save_monitored(
    db: Database,
    actor: Actor,
    environment_id: int,
    shown: Sequence[str],
    monitored: Sequence[str],
    *,
    preview: bool = False,
    now: datetime | None = None,
) -> MonitoredSave:
    """Save the monitored contracts page in one transaction: each contract ``shown`` is monitored iff in ``monitored``.

    Ticks and unticks, one audit row per contract that changed, and the run
    that publishes the consequences (its outbox events included) all commit
    together or not at all: a save that fails changes nothing. Contracts not
    ``shown`` (added since the page loaded) are left as they are; an id ticked
    but not shown, or no longer known, is refused by name.
    """
    _require_admin(actor, "change monitored contracts")
    on = set(monitored)
    stray = sorted(on - set(shown))
    if stray:
        raise InvalidInput(
            f"contract id(s) ticked but not on the page: {', '.join(stray)}",
            errors=[
                RecordError(i, e, "monitored", e, "expected a contract shown on the page") for i, e in enumerate(stray)
            ],
        )
    if not shown:
        return MonitoredSave([], [], RunResult())
    with db.rehearsal() if preview else db.transaction() as session:
        found = _resolve(session, "contract", environment_id, shown)
        now = now or utc_now()
        ticked, unticked = _apply_monitored(
            session, actor, environment_id, {e: (pk, e in on) for e, pk in found.items()}, now
        )
        if not (ticked or unticked):
            return MonitoredSave([], [], RunResult())
        result = runs.run(session, environment_id, trigger="contracts", scope=Scope.everything(), now=now)
        return MonitoredSave(ticked, unticked, result)


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    """A group with its publish-until date (None: the default window) and its window's last day."""

    group_id: str
    name: str
    publish_until: date | None
    last_day: date
    set_by: str | None
    set_at: datetime | None


def _default_days(session: Session, environment_id: int) -> int:
    context.ensure_settings(session, environment_id)
    return int(
        session.scalar(select(SETTINGS.c.default_days_ahead).where(SETTINGS.c.environment_id == environment_id)) or 7
    )


def list_schedules(db: Database, environment_id: int, now: datetime | None = None) -> list[ScheduleRow]:
    """Every group of the environment, with its publish schedule."""
    g, s = R.groups, SCHEDULES
    now = now or utc_now()
    with db.transaction() as session:
        zone = environment_in(session, environment_id).zone
        default_last = schedules.local_today(now, zone).toordinal() + _default_days(session, environment_id)
        rows = session.execute(
            select(g.c.external_id, g.c.name, s.c.publish_until, s.c.set_by, s.c.set_at)
            .select_from(g.outerjoin(s, (s.c.group_id == g.c.id) & (s.c.environment_id == environment_id)))
            .where(g.c.environment_id == environment_id, g.c.deleted_at.is_(None))
            .order_by(g.c.name, g.c.external_id)
        ).all()
    out = []
    for ext, name, until, by, at in rows:
        last = max(until.toordinal(), default_last) if until is not None else default_last
        out.append(ScheduleRow(ext, name, until, date.fromordinal(last), by, at))
    return out


def do_publish_schedule(
    db: Database,
    actor: Actor,
    environment_id: int,
    group_ids: Sequence[str],
    publish_until: date,
    *,
    preview: bool = False,
    now: datetime | None = None,
) -> RunResult:
    """Set the publish-until date of groups (at most 14 days ahead) and publish what enters the window."""
    if actor.role.value == "care_worker" and actor.kind == "user":
        raise PermissionDenied("care workers cannot publish schedules")
    # A schedule run publishes across every branch of the environment and reports it: administrators only.
    _require_admin(actor, "publish schedules")
    now = now or utc_now()
    with db.rehearsal() if preview else db.transaction() as session:
        zone = environment_in(session, environment_id).zone
        today = schedules.local_today(now, zone)
        try:
            schedules.check_publish_until(today, publish_until)
        except schedules.ScheduleError as exc:
            raise InvalidInput(
                str(exc),
                errors=[
                    RecordError(
                        None,
                        None,
                        "publish_until",
                        publish_until.isoformat(),
                        f"{exc}; expected a date from {today.isoformat()} to "
                        f"{date.fromordinal(today.toordinal() + schedules.MAX_DAYS_AHEAD).isoformat()}",
                    )
                ],
            ) from None
        found = _resolve(session, "group", environment_id, group_ids)
        end = schedules.window(today, publish_until, zone).end
        current = dict(
            session.execute(
                select(SCHEDULES.c.group_id, SCHEDULES.c.publish_until).where(
                    SCHEDULES.c.environment_id == environment_id, SCHEDULES.c.group_id.in_(found.values())
                )
            ).all()
        )
        for ext, pk in found.items():
            values = {"publish_until": publish_until, "window_end_at": end, "set_by": actor.label, "set_at": now}
            if pk in current:
                session.execute(
                    update(SCHEDULES)
                    .where(SCHEDULES.c.environment_id == environment_id, SCHEDULES.c.group_id == pk)
                    .values(values)
                )
            else:
                session.execute(SCHEDULES.insert().values(environment_id=environment_id, group_id=pk, **values))
            before = current.get(pk)
            audit.record(
                session,
                actor,
                audit.Change(
                    "group",
                    pk,
                    "publish_schedule",
                    {"publish_until": [before.isoformat() if before else None, publish_until.isoformat()]},
                    external_id=ext,
                    environment_id=environment_id,
                ),
            )
        return runs.run(session, environment_id, trigger="schedule", scope=Scope.everything(), now=now)


def do_reconcile(
    db: Database, actor: Actor, environment_id: int, *, preview: bool = False, now: datetime | None = None
) -> RunResult:
    """A full run over the environment: publishes what is due and repairs any drift; reports what it changed."""
    _require_admin(actor, "run a reconcile")
    now = now or utc_now()
    with db.rehearsal() if preview else db.transaction() as session:
        result = runs.run(session, environment_id, trigger="reconcile", scope=Scope.everything(), now=now)
        session.execute(
            update(SETTINGS).where(SETTINGS.c.environment_id == environment_id).values(last_reconcile_at=now)
        )
        if result.changes:
            audit.record(
                session,
                actor,
                audit.Change(
                    "environment",
                    environment_id,
                    "reconcile",
                    {"changes": [None, result.changes]},
                    environment_id=environment_id,
                ),
            )
        return result


def do_set_publish_settings(
    db: Database,
    actor: Actor,
    environment_id: int,
    *,
    default_days_ahead: int | None = None,
    reconcile_every_minutes: int | None = None,
) -> None:
    """Change the default window (0 to 14 days) or the reconcile interval (15 minutes to 7 days)."""
    _require_admin(actor, "change publishing settings")
    errors = []
    if default_days_ahead is not None and not 0 <= default_days_ahead <= schedules.MAX_DAYS_AHEAD:
        errors.append(RecordError(None, None, "default_days_ahead", default_days_ahead, "expected 0 to 14 days"))
    if reconcile_every_minutes is not None and not 15 <= reconcile_every_minutes <= 7 * 1440:
        errors.append(
            RecordError(None, None, "reconcile_every_minutes", reconcile_every_minutes, "expected 15 to 10080 minutes")
        )
    if errors:
        raise InvalidInput("invalid publishing settings", errors=errors)
    values = {
        k: v
        for k, v in (("default_days_ahead", default_days_ahead), ("reconcile_every_minutes", reconcile_every_minutes))
        if v is not None
    }
    if not values:
        return
    with db.transaction() as session:
        context.ensure_settings(session, environment_id)
        before = session.execute(
            select(SETTINGS.c.default_days_ahead, SETTINGS.c.reconcile_every_minutes).where(
                SETTINGS.c.environment_id == environment_id
            )
        ).one()
        session.execute(update(SETTINGS).where(SETTINGS.c.environment_id == environment_id).values(values))
        old = {"default_days_ahead": before[0], "reconcile_every_minutes": before[1]}
        audit.record(
            session,
            actor,
            audit.Change(
                "environment",
                environment_id,
                "publish_settings",
                {k: [old[k], v] for k, v in values.items()},
                environment_id=environment_id,
            ),
        )
        if "default_days_ahead" in values:
            runs.run(session, environment_id, trigger="settings", scope=Scope.everything(), now=utc_now())
