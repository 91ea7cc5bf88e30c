"""The mobile sync API over HTTP: linking, syncing, which tokens work where, staff endpoints, the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from carehub import cli
from carehub.platform.auth.actor import Actor
from carehub.platform.db import Database
from carehub.publishing.mobile import service as mobile
from tests.conftest import World
from tests.publishing.mobile.conftest import Published, day_at


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _code(client: TestClient, admin_token: str, worker: str = "W01") -> dict[str, Any]:
    """A link code issued over the staff API with an admin API token (a tenant administrator's automation)."""
    answer = client.post("/api/v1/mobile/link-codes", json={"worker_id": worker}, headers=_bearer(admin_token))
    assert answer.status_code == 201, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body: dict[str, Any] = answer.json()
    return body


def _link(client: TestClient, admin_token: str) -> str:
    code = _code(client, admin_token)
    answer = client.post(
        "/api/mobile/v1/link", json={"username": code["username"], "code": code["code"], "device_name": "Jo's phone"}
    )
    assert answer.status_code == 201, answer.text
    token: str = answer.json()["token"]
    return token


def test_link_and_sync_over_http(
    admin_token: str, mobile_client: TestClient, world: World, published: Published
) -> None:
    published.client(501, "Ada")
    published.visit(1, 501, day_at(1, 8), ["W01"])
    code = _code(mobile_client, admin_token)
    assert code["username"] == "jo.bloggs"
    assert code["worker_id"] == "W01"
    linked = mobile_client.post(
        "/api/mobile/v1/link", json={"username": "jo.bloggs", "code": code["code"], "device_name": "Jo's phone"}
    )
    assert linked.status_code == 201
    body = linked.json()
    assert body["device"]["username"] == "jo.bloggs"
    token = body["token"]

    first = mobile_client.get("/api/mobile/v1/sync", headers=_bearer(token))
    assert first.status_code == 200, first.text
    assert first.headers["cache-control"] == "no-store"
    feed = first.json()
    assert [v["external_id"] for v in feed["visits"]] == ["V1"]
    assert [c["first_name"] for c in feed["clients"]] == ["Ada"]
    assert feed["has_more"] is False
    assert feed["window"]["days"] == 14

    published.visit(1, 501, day_at(1, 8), ["W01"], state="cancelled")
    second = mobile_client.get(
        "/api/mobile/v1/sync", params={"cursor": feed["cursor"], "days": 3}, headers=_bearer(token)
    ).json()
    assert second["visits"] == []
    assert [(d["kind"], d["external_id"], d["reason"]) for d in second["drops"]] == [("visit", "V1", "cancelled")]

    devices = mobile_client.get("/api/v1/mobile/devices", headers=_bearer(admin_token)).json()
    assert [(d["username"], d["stale"]) for d in devices["items"]] == [("jo.bloggs", False)]
    assert devices["items"][0]["last_sync_at"] is not None
    assert devices["stale_after_minutes"] == 30
    syncs = mobile_client.get(
        f"/api/v1/mobile/devices/{devices['items'][0]['id']}/syncs", headers=_bearer(admin_token)
    ).json()
    assert [s["complete"] for s in syncs] == [True, True]


def test_each_token_works_only_on_its_own_api(
    admin_token: str, mobile_client: TestClient, world: World, published: Published
) -> None:
    token = _link(mobile_client, admin_token)
    # A normal API token (and no token, and a session-less browser) cannot sync.
    for headers in (
        _bearer(world.token),
        _bearer(admin_token),
        {},
        _bearer("chd_forged"),
        {"Authorization": "Basic abc"},
    ):
        refused = mobile_client.get("/api/mobile/v1/sync", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.json()["error"]["code"] == "authentication_required"
        assert refused.headers["www-authenticate"] == "Bearer"
    # A device token cannot use the roster or staff API.
    for path in ("/api/v1/workers", "/api/v1/mobile/devices"):
        assert mobile_client.get(path, headers=_bearer(token)).status_code == 401
    assert (
        mobile_client.post("/api/v1/mobile/link-codes", json={"worker_id": "W01"}, headers=_bearer(token)).status_code
        == 401
    )


def test_revoked_devices_stop_syncing(
    admin_token: str, mobile_client: TestClient, world: World, published: Published
) -> None:
    token = _link(mobile_client, admin_token)
    device_id = mobile_client.get("/api/v1/mobile/devices", headers=_bearer(admin_token)).json()["items"][0]["id"]
    revoked = mobile_client.post(f"/api/v1/mobile/devices/{device_id}/revoke", headers=_bearer(admin_token))
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    answer = mobile_client.get("/api/mobile/v1/sync", headers=_bearer(token))
    assert answer.status_code == 401
    assert "link it again" in answer.json()["error"]["message"]
    assert mobile_client.get("/api/v1/mobile/devices", headers=_bearer(admin_token)).json()["items"] == []
    for bad in ("999999", "0", str(2**70), "abc"):
        status = mobile_client.post(f"/api/v1/mobile/devices/{bad}/revoke", headers=_bearer(admin_token)).status_code
        assert status in (404, 422), bad


def test_link_refusals_are_clear_and_never_500(
    admin_token: str, mobile_client: TestClient, world: World, published: Published
) -> None:
    code = _code(mobile_client, admin_token)
    wrong = mobile_client.post(
        "/api/mobile/v1/link", json={"username": "nobody", "code": code["code"], "device_name": "Phone"}
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"]["message"] == "unknown username or wrong code"
    assert code["code"] not in wrong.text
    malformed = mobile_client.post(
        "/api/mobile/v1/link", json={"username": "jo.bloggs", "code": "12", "device_name": ""}
    )
    assert malformed.status_code == 422
    assert [e["field"] for e in malformed.json()["error"]["errors"]] == ["code", "device_name"]
    for body in (
        "{}",
        json.dumps({"username": "x" * 5000, "code": "1", "device_name": "p"}),
        json.dumps({"username": "a\x00b", "code": "12345678", "device_name": "p"}),
        '{"username": "\\ud800", "code": "1234\\u00a05678", "device_name": "\\ud83d\\udcf1"}',
        json.dumps(
            {"username": "jo.bloggs", "code": "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668", "device_name": "p"}
        ),
        json.dumps({"username": 5, "code": ["1"], "device_name": None}),
        "[]",
        "not json",
    ):
        answer = mobile_client.post(
            "/api/mobile/v1/link", content=body.encode(), headers={"Content-Type": "application/json"}
        )
        assert answer.status_code in (401, 422), (body, answer.text)
    used = mobile_client.post(
        "/api/mobile/v1/link", json={"username": "jo.bloggs", "code": code["code"], "device_name": "Phone"}
    )
    assert used.status_code == 201
    again = mobile_client.post(
        "/api/mobile/v1/link", json={"username": "jo.bloggs", "code": code["code"], "device_name": "Phone"}
    )
    assert again.status_code == 401
    assert "already been used" in again.json()["error"]["message"]


def test_bad_sync_queries_are_refused_and_never_500(
    admin_token: str, mobile_client: TestClient, world: World, published: Published
) -> None:
    token = _link(mobile_client, admin_token)
    for params, field in (
        ({"cursor": "garbage"}, "cursor"),
        ({"cursor": "1.99999999999999999999.*.-.20260101"}, "cursor"),
        ({"cursor": "1.5.*.-.20261301"}, "cursor"),
        ({"cursor": "1.5\x00"}, "cursor"),
        ({"days": "-1"}, "days"),
        ({"days": "abc"}, "days"),
        ({"days": str(10**30)}, None),
        ({"limit": "0"}, "limit"),
        ({"limit": "1.5"}, "limit"),
    ):
        answer = mobile_client.get("/api/mobile/v1/sync", params=params, headers=_bearer(token))
        if field is None:
            assert answer.status_code in (200, 422), (params, answer.text)
            continue
        assert answer.status_code == 422, (params, answer.text)
        assert field in json.dumps(answer.json()["error"]["errors"]), params
    capped = mobile_client.get("/api/mobile/v1/sync", params={"days": 40}, headers=_bearer(token))
    assert capped.json()["window"]["days"] == 14


def test_staff_endpoints_refuse_bad_input(
    admin_token: str, mobile_client: TestClient, world: World, published: Published
) -> None:
    headers = _bearer(admin_token)
    unknown = mobile_client.post("/api/v1/mobile/link-codes", json={"worker_id": "NOPE"}, headers=headers)
    assert unknown.status_code == 404
    unpublished = mobile_client.post("/api/v1/mobile/link-codes", json={"worker_id": "W03"}, headers=headers)
    assert unpublished.status_code == 409
    assert "not published" in unpublished.json()["error"]["message"]
    for body in ({}, {"worker_id": ""}, {"worker_id": "x" * 101}, {"worker_id": 7}):
        assert mobile_client.post("/api/v1/mobile/link-codes", json=body, headers=headers).status_code == 422
    assert mobile_client.post("/api/v1/mobile/link-codes", json={"worker_id": "W01"}).status_code == 401


@pytest.fixture
def carehub_cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CAREHUB_DATABASE_URL", db_url)
    monkeypatch.setenv("CAREHUB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CAREHUB_SECRET_KEY", "cli-test-secret")
    monkeypatch.delenv("CAREHUB_MODE", raising=False)
    return CliRunner()


def _cli(runner: CliRunner, *args: str, code: int = 0) -> Any:
    result = runner.invoke(cli.app, list(args))
    assert result.exit_code == code, (args, result.output, result.exception)
    return json.loads(result.stdout) if "--json" in args else result.output


def test_the_mobile_commands(carehub_cli: CliRunner, db: Database, staff: Actor, published: Published) -> None:
    issued = _cli(carehub_cli, "mobile", "link-code", "W01", "--json")
    assert issued["username"] == "jo.bloggs"
    device, _ = mobile.do_link_device(db, "jo.bloggs", issued["code"], "Jo's phone")
    listed = _cli(carehub_cli, "mobile", "devices", "--json")
    assert [(d["id"], d["last_sync_at"], d["stale"]) for d in listed] == [(device.id, None, False)]
    assert "Jo's phone" in _cli(carehub_cli, "mobile", "devices")
    assert _cli(carehub_cli, "mobile", "devices", "--stale", "--json") == []
    assert "unlinked" in _cli(carehub_cli, "mobile", "revoke", str(device.id))
    assert _cli(carehub_cli, "mobile", "devices", "--json") == []
    assert len(_cli(carehub_cli, "mobile", "devices", "--all", "--json")) == 1
    refused = _cli(carehub_cli, "mobile", "link-code", "W03", "--json", code=1)
    assert "not published" in refused["error"]["message"]
    assert "no device" in _cli(carehub_cli, "mobile", "revoke", "424242", "--json", code=1)["error"]["message"]
    assert "Link code for" in _cli(carehub_cli, "mobile", "link-code", "W01")
