"""The setting of one publishing run: environment, tenant zone, now, the publish windows, the change counter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from carehub.platform.db import core_table
from carehub.publishing.domain import schedules
from carehub.publishing.tables import PublishSchedule, PublishSettings
from carehub.tenancy.domain.naming import Convention
from carehub.tenancy.service import environment_in

SETTINGS = core_table(PublishSettings)
SCHEDULES = core_table(PublishSchedule)


@dataclass(frozen=True, slots=True)
class RunContext:
    """Everything a run needs to know besides the roster.

    Windows run from the start of today (tenant zone); a group's end is the
    later of its publish schedule and the default (today plus
    ``default_days_ahead``), so a schedule only ever extends the window.
    """

    environment_id: int
    tenant_id: int
    zone: ZoneInfo
    now: datetime
    today: date
    window_start: datetime
    default_end: datetime
    latest_end: datetime
    default_days_ahead: int
    # The environment's naming convention (branch names, usernames, visit IDs); None: names unchanged.
    naming: Convention | None = None
    paused: bool = False


def ensure_settings(session: Session, environment_id: int) -> None:
    """Create the environment's settings row if it has none (safe when two transactions race)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(SETTINGS).values(environment_id=environment_id).on_conflict_do_nothing())


def lock_settings(session: Session, environment_id: int) -> tuple[int, int]:
    """Lock the environment's settings row for this transaction; returns (default days ahead, seq).

    Holding this lock serialises publishing runs of one environment, so the
    change counter (``seq``) becomes visible in increasing order.
    """
    ensure_settings(session, environment_id)
    row = session.execute(
        select(SETTINGS.c.default_days_ahead, SETTINGS.c.seq)
        .where(SETTINGS.c.environment_id == environment_id)
        .with_for_update()
    ).one()
    return int(row[0]), int(row[1])


def set_seq(session: Session, environment_id: int, seq: int, now: datetime) -> None:
    """Store the counter after a run, and the export time."""
    session.execute(
        update(SETTINGS).where(SETTINGS.c.environment_id == environment_id).values(seq=seq, last_export_at=now)
    )


def context_for(session: Session, environment_id: int, now: datetime, default_days_ahead: int) -> RunContext:
    """The run context for ``environment_id`` at ``now``."""
    env = environment_in(session, environment_id)
    zone = env.zone
    today = schedules.local_today(now, zone)
    default = schedules.window(today, today + timedelta(days=default_days_ahead), zone)
    latest = session.scalar(
        select(SCHEDULES.c.window_end_at)
        .where(SCHEDULES.c.environment_id == environment_id)
        .order_by(SCHEDULES.c.window_end_at.desc())
        .limit(1)
    )
    return RunContext(
        environment_id=environment_id,
        tenant_id=env.tenant_id,
        zone=zone,
        now=now,
        today=today,
        window_start=default.start,
        default_end=default.end,
        latest_end=max(default.end, latest) if latest is not None else default.end,
        default_days_ahead=default_days_ahead,
        naming=env.convention,
        paused=env.paused,
    )
