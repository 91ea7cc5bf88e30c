"""Publishing health and its reasons, made real with the services that cause them, on SQLite and PostgreSQL.

- no export within the last hour (warning), nor within the reconcile interval (failing);
- a device not synced within 30 minutes (warning), through mobile linking and sync;
- dead-lettered deliveries (failing), through a webhook subscription whose endpoint refuses.
"""

from __future__ import annotations

import socket
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from carehub.platform.auth.actor import SYSTEM, Actor, Role
from carehub.platform.clock import utc_now
from carehub.platform.db import Database
from carehub.platform.delivery import service as delivery
from carehub.platform.delivery.fanout import fan_out
from carehub.platform.delivery.worker import WorkerConfig, run_once
from carehub.platform.errors import PermissionDenied
from carehub.publishing.mobile import service as mobile
from carehub.publishing.service import config, status
from carehub.publishing.service.status import Health
from tests.conftest import World
from tests.publishing.support import monitor, put, roster, visit

FAST = WorkerConfig(timeout=2.0, lease=5.0, retry_base=0.05, retry_max=0.2, poll=0.05)


def codes(found: status.Status) -> dict[str, Health]:
    return {r.code: r.level for r in found.reasons}


def closed_port() -> int:
    """A localhost port nothing listens on: connections to it are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def london_today() -> date:
    return datetime.now(ZoneInfo("Europe/London")).date()


def test_nothing_monitored_is_a_warning_and_an_export_makes_it_ok(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    found = status.status_of(db, world.env.id)
    assert (found.health, codes(found)) == (Health.WARNING, {"nothing_monitored": Health.WARNING})
    monitor(db, world.env.id, "K1")
    found = status.status_of(db, world.env.id)
    assert (found.health, found.reasons) == (Health.OK, [])
    assert found.monitored_contracts == 1
    assert found.last_export_at is not None
    assert found.runs[0].trigger == "contracts"


def test_no_export_within_the_last_hour_warns_and_past_the_reconcile_interval_fails(
    api: TestClient, db: Database, world: World
) -> None:
    roster(api)
    monitor(db, world.env.id, "K1")
    exported = status.status_of(db, world.env.id).last_export_at
    assert exported is not None
    assert status.status_of(db, world.env.id, now=exported + timedelta(minutes=59)).health is Health.OK

    quiet = status.status_of(db, world.env.id, now=exported + timedelta(hours=2))
    assert (quiet.health, codes(quiet)) == (Health.WARNING, {"no_recent_export": Health.WARNING})
    reason = quiet.reasons[0]
    assert "No export within the last hour" in reason.message
    assert "2 hours ago" in reason.message
    assert "carehub worker" in reason.fix

    # The daily reconcile has not run either: the worker is down.
    stuck = status.status_of(db, world.env.id, now=exported + timedelta(hours=26))
    assert (stuck.health, codes(stuck)) == (Health.FAILING, {"no_export": Health.FAILING})
    assert "carehub worker" in stuck.reasons[0].fix
    config.do_set_publish_settings(db, SYSTEM, world.env.id, reconcile_every_minutes=30)
    assert codes(status.status_of(db, world.env.id, now=exported + timedelta(minutes=95))) == {
        "no_export": Health.FAILING
    }

    # A reconcile exports (even when nothing changes): health is ok again.
    config.do_reconcile(db, SYSTEM, world.env.id, now=exported + timedelta(hours=26))
    assert status.status_of(db, world.env.id, now=exported + timedelta(hours=26, minutes=5)).health is Health.OK


def test_a_device_not_synced_within_30_minutes_warns(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    put(api, "visits", visit("V1", workers=("W1",)))
    monitor(db, world.env.id, "K1")
    issued = mobile.do_issue_link_code(db, SYSTEM, world.env.id, "W1")
    device, _token = mobile.do_link_device(db, issued.username, issued.code, "Wren's phone")
    synced_at = utc_now()
    mobile.pull(db, device, None, now=synced_at)

    fresh = status.status_of(db, world.env.id, now=synced_at + timedelta(minutes=29))
    assert fresh.health is Health.OK
    assert [(d.name, d.worker_id, d.username, d.stale) for d in fresh.devices] == [
        ("Wren's phone", "W1", "wmobile", False)
    ]
    assert fresh.devices[0].last_sync_at == synced_at

    late = status.status_of(db, world.env.id, now=synced_at + timedelta(minutes=31))
    assert (late.health, codes(late)) == (Health.WARNING, {"device_not_synced": Health.WARNING})
    assert late.devices[0].stale is True
    assert "1 device(s) not synced within the last 30 minutes: Wren's phone" in late.reasons[0].message
    assert "last sync 31 minutes ago" in late.reasons[0].message

    # Syncing again clears it; a revoked device is no longer expected to sync.
    mobile.pull(db, device, None, now=synced_at + timedelta(minutes=31))
    assert status.status_of(db, world.env.id, now=synced_at + timedelta(minutes=32)).health is Health.OK
    mobile.do_revoke_device(db, SYSTEM, world.env.id, device.id)
    gone = status.status_of(db, world.env.id, now=synced_at + timedelta(minutes=50))
    assert (gone.health, gone.devices) == (Health.OK, [])


def test_dead_lettered_deliveries_fail_health(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    put(api, "visits", visit("V1"))
    delivery.do_create_subscription(
        db,
        SYSTEM,
        tenant_id=world.tenant.id,
        name="care-planning",
        url=f"http://127.0.0.1:{closed_port()}/hooks",
        max_attempts=1,
    )
    monitor(db, world.env.id, "K1")  # publishes a visit, a client and a worker: three events
    fan_out(db)
    waiting = status.status_of(db, world.env.id)
    assert (waiting.events.pending, waiting.events.dead, waiting.events.subscriptions) == (3, 0, 1)
    assert waiting.health is Health.OK

    run_once(db, FAST)  # the endpoint refuses; one attempt allowed: dead-lettered
    found = status.status_of(db, world.env.id)
    assert (found.events.pending, found.events.dead) == (0, 3)
    assert (found.health, codes(found)) == (Health.FAILING, {"dead_letters": Health.FAILING})
    assert found.reasons[0].message == "3 deliveries dead-lettered: a subscriber is missing changes."
    assert "retry or replay" in found.reasons[0].fix
    assert found.as_dict()["events"] == {"pending": 0, "dead_lettered": 3, "subscriptions": 1}


def test_reasons_are_listed_worst_first(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    put(api, "visits", visit("V1", workers=("W1",)))
    delivery.do_create_subscription(
        db, SYSTEM, tenant_id=world.tenant.id, name="hooks", url=f"http://127.0.0.1:{closed_port()}/", max_attempts=1
    )
    monitor(db, world.env.id, "K1")
    issued = mobile.do_issue_link_code(db, SYSTEM, world.env.id, "W1")
    mobile.do_link_device(db, issued.username, issued.code, "Phone")
    run_once(db, FAST)
    found = status.status_of(db, world.env.id, now=utc_now() + timedelta(hours=2))
    assert found.health is Health.FAILING
    assert [(r.code, r.level) for r in found.reasons] == [
        ("dead_letters", Health.FAILING),
        ("no_recent_export", Health.WARNING),
        ("device_not_synced", Health.WARNING),
    ]
    assert "never synced" in found.reasons[2].message


def test_visits_published_and_cancelled_are_counted_per_local_day(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    put(api, "visits", visit("V1", days=1), visit("V2", days=1), visit("V3", days=3))
    monitor(db, world.env.id, "K1")
    r = api.post("/api/v1/visits/V2/cancel", json={"reason": "hospital"})
    assert r.status_code == 200, r.text
    found = status.status_of(db, world.env.id)
    today = london_today()
    assert [d.day for d in found.days] == [today + timedelta(days=n) for n in range(-7, 15)]
    counted = {d.day: (d.published, d.cancelled) for d in found.days if d.published or d.cancelled}
    # Visits start at 09:00 UTC: the same local day in London, summer or winter.
    first = (utc_now() + timedelta(days=1)).astimezone(ZoneInfo("Europe/London")).date()
    third = (utc_now() + timedelta(days=3)).astimezone(ZoneInfo("Europe/London")).date()
    assert counted == {first: (1, 1), third: (1, 0)}
    assert found.statistics["visit"] == {"active": 2, "cancelled": 1, "deactivated": 0, "ended": 0}


def test_care_workers_may_not_read_status(api: TestClient, db: Database, world: World) -> None:
    worker = Actor(kind="user", id=99, label="cw", tenant_id=world.tenant.id, role=Role.CARE_WORKER)
    with pytest.raises(PermissionDenied, match="care workers"):
        status.read_status(db, worker, world.env.id)
    # The status counts every branch's records: tenant administrators only (docs/access.md).
    coordinator = Actor(kind="user", id=98, label="co", tenant_id=world.tenant.id, role=Role.COORDINATOR)
    with pytest.raises(PermissionDenied, match="tenant administrator"):
        status.read_status(db, coordinator, world.env.id)
    admin = Actor(kind="user", id=97, label="ad", tenant_id=world.tenant.id, role=Role.ADMIN)
    assert status.read_status(db, admin, world.env.id).health is Health.WARNING
