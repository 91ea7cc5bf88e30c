"""Retention of device syncs: old rows go, in batches; each device's latest (and latest complete) sync stays."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from typer.testing import CliRunner

from carehub.platform import jobs
from carehub.platform.auth.actor import SYSTEM
from carehub.platform.clock import utc_now
from carehub.platform.db import Database
from carehub.platform.errors import InvalidInput
from carehub.platform.settings import Settings
from carehub.publishing.mobile import retention
from carehub.publishing.mobile import service as mobile
from carehub.publishing.mobile.tables import MobileDeviceSync
from tests.cli.support import run
from tests.conftest import World
from tests.publishing.mobile.conftest import Published

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=utc_now().tzinfo)


def link(db: Database, env_id: int, worker: str, username: str) -> int:
    issued = mobile.do_issue_link_code(db, SYSTEM, env_id, worker)
    device, _ = mobile.do_link_device(db, username, issued.code, f"{worker}'s phone")
    return device.id


def syncs(
    db: Database, device_id: int, *days_ago: tuple[float, bool], now: datetime = NOW
) -> dict[tuple[float, bool], int]:
    """Sync rows of a device ``days`` before ``now``, complete or not; their ids."""
    ids = {}
    with db.transaction() as session:
        for days, complete in days_ago:
            row = MobileDeviceSync(
                device_id=device_id,
                at=now - timedelta(days=days),
                cursor_from=None,
                cursor_to=1,
                complete=complete,
                counts={"visits": 0},
            )
            session.add(row)
            session.flush()
            ids[(days, complete)] = row.id
    return ids


def kept(db: Database) -> set[int]:
    with db.read() as session:
        return set(session.scalars(select(MobileDeviceSync.id)))


@pytest.fixture
def devices(db: Database, world: World, published: Published) -> tuple[int, int]:
    """W01's and W02's phones."""
    return link(db, world.env.id, "W01", "jo.bloggs"), link(db, world.env.id, "W02", "sam.smith")


def test_rule_old_syncs_are_deleted_but_each_devices_latest_and_latest_complete_sync_stay(
    db: Database, devices: tuple[int, int]
) -> None:
    jo, sam = devices
    # Jo: old history, a recent complete sync, and an incomplete one since.
    jo_rows = syncs(db, jo, (90, True), (60, False), (45, True), (31, True), (2, True), (1, False))
    # Sam stopped syncing long ago: his last complete sync (60 days) and a later first page (50 days) stay.
    sam_rows = syncs(db, sam, (100, True), (80, False), (60, True), (50, False))

    result = retention.prune_syncs(db, 30, batch=2, now=NOW)

    assert kept(db) == {jo_rows[(2, True)], jo_rows[(1, False)], sam_rows[(60, True)], sam_rows[(50, False)]}
    assert result.deleted == 6
    assert result.batches == 4  # 2 + 2 + 2 + an empty last batch
    assert result.older_than == NOW - timedelta(days=30)
    assert result.as_dict()["retention_days"] == 30
    again = retention.prune_syncs(db, 30, now=NOW)
    assert (again.deleted, again.batches) == (0, 1)


def test_rule_a_device_whose_only_syncs_are_old_keeps_its_latest(db: Database, devices: tuple[int, int]) -> None:
    jo, sam = devices
    jo_rows = syncs(db, jo, (400, True))
    sam_rows = syncs(db, sam, (400, False), (300, False))
    assert retention.prune_syncs(db, 30, now=NOW).deleted == 1
    assert kept(db) == {jo_rows[(400, True)], sam_rows[(300, False)]}


def test_rule_syncs_within_the_retention_period_are_kept(db: Database, devices: tuple[int, int]) -> None:
    jo, _ = devices
    recent = syncs(db, jo, (29, True), (20, False), (10, True), (0, True))
    assert retention.prune_syncs(db, 30, now=NOW).deleted == 0
    assert kept(db) == set(recent.values())
    assert retention.prune_syncs(db, 15, now=NOW).deleted == 2
    assert kept(db) == {recent[(10, True)], recent[(0, True)]}


def test_health_still_sees_the_last_successful_sync_after_pruning(
    db: Database, world: World, devices: tuple[int, int]
) -> None:
    jo, _ = devices
    info = next(d for d in mobile.list_devices(db, world.env.id) if d.id == jo)
    page = mobile.pull(db, info, None, now=NOW - timedelta(days=60))
    mobile.pull(db, info, page.cursor, now=NOW - timedelta(days=40))
    retention.prune_syncs(db, 30, now=NOW)
    history = mobile.sync_history(db, world.env.id, jo)
    assert [h["at"] for h in history] == [NOW - timedelta(days=40)]
    listed = next(d for d in mobile.list_devices(db, world.env.id) if d.id == jo)
    assert listed.last_sync_at == NOW - timedelta(days=40)


@pytest.mark.parametrize(("days", "batch", "field"), [(0, 10, "retention_days"), (30, 0, "batch")])
def test_a_bad_retention_or_batch_is_refused(db: Database, days: int, batch: int, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        retention.prune_syncs(db, days, batch=batch)
    assert [(e.field, e.value) for e in refused.value.errors] == [(field, days if field == "retention_days" else batch)]


def test_the_retention_setting_defaults_to_30_days_and_refuses_less_than_one() -> None:
    assert Settings().mobile_sync_retention_days == 30
    with pytest.raises(ValidationError, match="mobile_sync_retention_days"):
        Settings(mobile_sync_retention_days=0)


def test_the_worker_runs_the_prune_job(db: Database, devices: tuple[int, int]) -> None:
    jo, _ = devices
    now = utc_now()
    syncs(db, jo, (45, True), (0, True), now=now)
    assert retention.JOB in {job.name for job in jobs.registered()}
    results = {r.name: r for r in jobs.run_due(db, "test-worker", now=now)}
    assert results[retention.JOB].ok
    assert results[retention.JOB].result.startswith("deleted 1 device sync row(s) older than 30 day(s)")
    assert len(kept(db)) == 1


def test_prune_syncs_command_reports_json_and_refuses_a_bad_period(
    carehub: CliRunner, db: Database, devices: tuple[int, int]
) -> None:
    jo, _ = devices
    rows = syncs(db, jo, (4, True), (3, True), (2, True), now=utc_now())
    out = run(carehub, "mobile", "prune-syncs", "--older-than-days", "1", "--batch", "1", "--json")
    assert (out["retention_days"], out["deleted"], out["batches"]) == (1, 2, 3)
    assert kept(db) == {max(rows.values())}
    text = run(carehub, "mobile", "prune-syncs")
    assert "Deleted 0 device sync row(s) older than 30 day(s)" in text
    bad = run(carehub, "mobile", "prune-syncs", "--older-than-days", "0", "--json", code=1)
    assert bad["error"]["errors"][0]["field"] == "retention_days"
