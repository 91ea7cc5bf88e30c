"""Seed 001: devices, the primary's feed, new records and the API after a connection. SQLite and PostgreSQL.

- "Devices will also need to be re-linked for staff from those environments": the affected worker links
  again under the new username and the new device syncs the added environment's visits.
- "For staff already in your main ACP tenant, nothing changes. Their usernames, devices, and data stay as
  they are": the primary's linked device keeps syncing, and its feed is what it was.
- Issue: "carehub env connect ... --dry-run, carehub env list, and the same over the API": an administrator's
  automation (an admin API token) runs the dry run, applies, lists, pauses, resumes and exports login changes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from carehub import bootstrap
from carehub.app import create_app
from carehub.platform.auth.actor import Actor
from carehub.platform.clock import utc_now
from carehub.platform.db import Database
from carehub.platform.errors import AuthenticationRequired
from carehub.publishing.mobile import service as mobile
from carehub.roster.domain.kinds import RecordKind
from carehub.roster.service import queries
from carehub.tenancy import connect
from tests.conftest import World
from tests.tenancy.support import Standalone, snapshot

CONNECT = {"name": "SouthWest", "prefix": "SouthWest", "source_tenant": "SouthWest Care"}


@pytest.fixture
def automation(container: bootstrap.Container, admin_token: str) -> Iterator[TestClient]:
    """An HTTP client with an admin API token of the world's tenant (a tenant administrator's automation)."""
    with TestClient(create_app(container), headers={"Authorization": f"Bearer {admin_token}"}) as client:
        yield client


def _sync(container: bootstrap.Container, device_token: str) -> tuple[int, Any]:
    """The status and body of a sync over HTTP with this device token."""
    with TestClient(create_app(container)) as client:
        r = client.get("/api/mobile/v1/sync", headers={"Authorization": f"Bearer {device_token}"})
        return r.status_code, r.json()


def _feed(db: Database, device_token: str, now: Any) -> dict[str, Any]:
    """A first sync's page at ``now`` without its cursor (which encodes when it was taken)."""
    page = mobile.pull(db, mobile.authenticate_device(db, device_token), None, now=now)
    return {"visits": page.visits, "forms": page.forms}


def _without_token_use(rows: dict[str, set[tuple[Any, ...]]]) -> dict[str, set[tuple[Any, ...]]]:
    """Every table but the API tokens' (a call records when its token was last used)."""
    return {name: r for name, r in rows.items() if name != "api_tokens"}


def test_rule_an_affected_worker_re_links_a_device_under_the_new_username_and_syncs_the_added_environment(
    container: bootstrap.Container, db: Database, admin: Actor, primary: TestClient, southwest: Standalone
) -> None:
    old_code = mobile.do_issue_link_code(db, admin, southwest.env.id, "W1")
    _, old_token = mobile.do_link_device(db, old_code.username, old_code.code, "Wren's second phone")
    assert _sync(container, old_token)[0] == 200
    plan = connect.do_connect_environment(db, admin, **CONNECT, dry_run=False)  # type: ignore[arg-type]
    assert plan.environment is not None
    added = plan.environment.id
    # The standalone's links are revoked: the old device no longer syncs.
    status, body = _sync(container, old_token)
    assert status == 401
    assert body["error"]["code"] == "authentication_required"
    with pytest.raises(AuthenticationRequired):
        mobile.authenticate_device(db, old_token)
    # Re-linking in the added environment uses the new username, and the feed holds the prefixed visit.
    code = mobile.do_issue_link_code(db, admin, added, "W1")
    assert code.username == "SouthWest.wmobile"
    with pytest.raises(AuthenticationRequired):
        mobile.do_link_device(db, "wmobile", code.code, "Wren's new phone")  # the old username is not hers here
    _, new_token = mobile.do_link_device(db, code.username, code.code, "Wren's new phone")
    status, body = _sync(container, new_token)
    assert status == 200, body
    assert [v["external_id"] for v in body["visits"]] == ["SouthWest-V1"]


def test_rule_the_primary_s_linked_devices_keep_syncing_the_same_feed_after_a_connection(
    container: bootstrap.Container,
    db: Database,
    admin: Actor,
    primary: TestClient,
    southwest: Standalone,
    world: World,
) -> None:
    code = mobile.do_issue_link_code(db, admin, world.env.id, "W1")
    assert code.username == "wmobile"
    _, token = mobile.do_link_device(db, code.username, code.code, "Primary phone")
    now = utc_now() + timedelta(minutes=5)
    before = _feed(db, token, now)
    assert [v["external_id"] for v in before["visits"]] == ["V1"]
    connect.do_connect_environment(db, admin, **CONNECT, dry_run=False)  # type: ignore[arg-type]
    assert _feed(db, token, now) == before
    status, body = _sync(container, token)
    assert status == 200, body
    assert [v["external_id"] for v in body["visits"]] == ["V1"]
    assert [d.name for d in mobile.list_devices(db, world.env.id)] == ["Primary phone"]


def test_rule_the_api_connects_with_a_dry_run_then_applies_lists_pauses_resumes_and_exports_logins(
    db: Database, primary: TestClient, southwest: Standalone, automation: TestClient
) -> None:
    before = _without_token_use(snapshot(db))
    dry = automation.post("/api/v1/environments", json=CONNECT)  # a dry run unless told otherwise
    assert dry.status_code == 200, dry.text
    plan = dry.json()
    assert (plan["dry_run"], plan["applied"], plan["ok"], plan["environment"]) == (True, False, True, None)
    assert [(u["old_username"], u["new_username"], u["branch"]) for u in plan["usernames"]] == [
        ("wmobile", "SouthWest.wmobile", "SouthWest - Bristol")
    ]
    assert [(b["old"], b["new"]) for b in plan["branches"]] == [("Bristol", "SouthWest - Bristol")]
    assert [(v["old"], v["new"]) for v in plan["visit_ids"]] == [("V1", "SouthWest-V1")]
    assert [(d["old_username"], d["new_username"]) for d in plan["devices"]] == [("wmobile", "SouthWest.wmobile")]
    assert plan["collisions"] == []
    assert _without_token_use(snapshot(db)) == before, "a dry run over the API changed something"

    done = automation.post("/api/v1/environments", json={**CONNECT, "dry_run": False})
    assert done.status_code == 200, done.text
    env = done.json()["environment"]
    assert (env["name"], env["prefix"], env["is_primary"]) == ("SouthWest", "SouthWest", False)
    listed = automation.get("/api/v1/environments").json()["environments"]
    assert [(e["name"], e["status"]) for e in listed] == [("Primary", "active"), ("SouthWest", "active")]

    again = automation.post("/api/v1/environments", json={"name": "Again", "prefix": "SOUTHWEST"})
    assert [(c["field"], c["value"], c["code"]) for c in again.json()["collisions"]] == [
        ("prefix", "SOUTHWEST", "prefix_taken")
    ]

    paused = automation.post(f"/api/v1/environments/{env['id']}/pause")
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused"
    resumed = automation.post(f"/api/v1/environments/{env['id']}/resume")
    assert resumed.status_code == 200, resumed.text
    assert [e["status"] for e in automation.get("/api/v1/environments").json()["environments"]] == [
        "active",
        "active",
    ]

    logins = automation.get(f"/api/v1/environments/{env['id']}/login-changes")
    assert logins.status_code == 200
    assert logins.headers["content-type"].startswith("text/csv")
    assert list(csv.reader(io.StringIO(logins.text))) == [
        ["name", "old username", "new username", "branch"],
        ["Wren Mobile", "wmobile", "SouthWest.wmobile", "SouthWest - Bristol"],
    ]


def test_rule_service_users_of_an_added_environment_come_through_as_new_records(
    db: Database, admin: Actor, primary: TestClient, southwest: Standalone, world: World
) -> None:
    """Staff *and service users* (clients) arrive as new records; the standalone's and the primary's stay theirs."""
    old = {c: queries.get_record(db, southwest.env.id, RecordKind.CLIENT, c) for c in ("C1", "C2")}
    mine = {c: queries.get_record(db, world.env.id, RecordKind.CLIENT, c) for c in ("C1", "C2")}
    plan = connect.do_connect_environment(db, admin, **CONNECT, dry_run=False)  # type: ignore[arg-type]
    assert plan.environment is not None
    new = {c: queries.get_record(db, plan.environment.id, RecordKind.CLIENT, c) for c in ("C1", "C2")}
    for c in ("C1", "C2"):
        assert new[c]["_pk"] not in (old[c]["_pk"], mine[c]["_pk"]), c
        assert (new[c]["first_name"], new[c]["last_name"]) == (old[c]["first_name"], old[c]["last_name"])
        assert queries.get_record(db, southwest.env.id, RecordKind.CLIENT, c) == old[c]
        assert queries.get_record(db, world.env.id, RecordKind.CLIENT, c) == mine[c]
