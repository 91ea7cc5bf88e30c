"""The worker's publishing job: daily reconcile, window moves at midnight, check-ins in between."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from carehub.platform import jobs
from carehub.platform.auth.actor import SYSTEM
from carehub.platform.db import Database
from carehub.publishing.service import config, schedule_jobs
from carehub.publishing.tables import PublishRun
from tests.conftest import World
from tests.publishing.support import monitor, put, roster, states, visit


def triggers(db: Database) -> list[str]:
    with db.read() as session:
        return list(session.scalars(select(PublishRun.trigger).order_by(PublishRun.id)))


def test_rule_scheduled_reconcile_then_check_ins_then_window_moves_at_midnight(
    api: TestClient, db: Database, world: World
) -> None:
    roster(api)
    put(api, "visits", visit("V1", days=1))
    monitor(db, world.env.id, "K1")
    assert states(db, "visit") == {"V1": "active"}
    now = datetime.now(UTC)

    first = schedule_jobs.refresh(db, now)
    assert "reconcile, 0 change(s)" in first, first
    assert schedule_jobs.refresh(db, now + timedelta(minutes=5)).endswith("checked in")
    # Two days on (reconcile set to weekly), V1 has started before the window: it ends, and W1,
    # with no visit left in the window, is deactivated.
    config.do_set_publish_settings(db, SYSTEM, world.env.id, reconcile_every_minutes=7 * 1440)
    later = schedule_jobs.refresh(db, now + timedelta(days=2))
    assert "window moved, 2 change(s)" in later, later
    assert states(db, "visit") == {"V1": "ended"}
    assert states(db, "worker") == {"W1": "deactivated"}
    assert triggers(db)[-3:] == ["reconcile", "check", "window"]


def test_job_is_registered_for_the_worker(db: Database) -> None:
    assert schedule_jobs.JOB in {job.name for job in jobs.registered()}
    results = jobs.run_due(db, "test-worker")
    assert [r.name for r in results if r.name == schedule_jobs.JOB] == [schedule_jobs.JOB]
    assert "no environment publishes" in next(r for r in results if r.name == schedule_jobs.JOB).result
