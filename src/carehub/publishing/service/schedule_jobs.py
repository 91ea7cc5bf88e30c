"""The publishing job ``carehub worker`` runs every few minutes: reconcile, window moves and check-ins.

For every environment with a monitored contract, each time the job runs (a
paused environment is skipped until it resumes):

- when its reconcile is due (``reconcile_every_minutes`` since the last, daily
  by default) a full reconcile runs: it publishes what is due, repairs any
  drift and reports what it repaired;
- otherwise, when the local day has changed since the last export, a full run
  moves the publish window: yesterday's visits end, the new last day's publish;
- otherwise the export process checks in: a run over nothing, so the last
  export time shows the integration is alive (health warns after an hour
  without one).

Roster changes never wait for this job: they publish at once, in their own
transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from carehub.platform import jobs
from carehub.platform.auth.actor import SYSTEM
from carehub.platform.clock import utc_now
from carehub.platform.db import Database
from carehub.publishing.domain import schedules
from carehub.publishing.service import config, runs
from carehub.publishing.service.context import SETTINGS
from carehub.publishing.service.runs import Scope
from carehub.publishing.service.selects import MONITORED
from carehub.tenancy.service import environment_in

JOB = "publishing.refresh"
EVERY = timedelta(minutes=5)


def _environments(db: Database) -> list[tuple[int, datetime | None, datetime | None, int]]:
    """(environment, last export, last reconcile, reconcile minutes) of environments that publish."""
    with db.read() as session:
        live = set(session.scalars(select(MONITORED.c.environment_id).distinct()))
        rows = session.execute(
            select(
                SETTINGS.c.environment_id,
                SETTINGS.c.last_export_at,
                SETTINGS.c.last_reconcile_at,
                SETTINGS.c.reconcile_every_minutes,
            )
        ).all()
        live -= {env for env in live if environment_in(session, env).paused}
    known = {r[0] for r in rows}
    return [(r[0], r[1], r[2], r[3]) for r in rows if r[0] in live] + [
        (env, None, None, 1440) for env in sorted(live - known)
    ]


def refresh(db: Database, now: datetime | None = None) -> str:
    """One pass of the job over every publishing environment; a line per environment."""
    now = now or utc_now()
    lines = []
    for env, last_export, last_reconcile, minutes in _environments(db):
        if last_reconcile is None or now - last_reconcile >= timedelta(minutes=minutes):
            result = config.do_reconcile(db, SYSTEM, env, now=now)
            lines.append(f"environment {env}: reconcile, {result.changes} change(s) repaired or published")
            continue
        with db.transaction() as session:
            zone = environment_in(session, env).zone
            moved = last_export is None or schedules.local_today(last_export, zone) != schedules.local_today(now, zone)
            scope = Scope.everything() if moved else Scope.nothing()
            result = runs.run(session, env, trigger="window" if moved else "check", scope=scope, now=now)
        lines.append(
            f"environment {env}: window moved, {result.changes} change(s)"
            if moved
            else f"environment {env}: checked in"
        )
    return "; ".join(lines) or "no environment publishes (no monitored contract)"


def install() -> None:
    """Register the job (called once by the composition root)."""
    jobs.register(JOB, EVERY, refresh)
