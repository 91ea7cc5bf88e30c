"""The publishing API and pages over HTTP, on SQLite and PostgreSQL.

Explain, monitored contracts, publish schedules, reconcile, settings and status:
authentication, who may change what, specific input errors, preview versus apply.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from carehub import bootstrap
from carehub.app import create_app
from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import SYSTEM, Role
from carehub.platform.db import Database
from carehub.publishing.domain.catalogue import BY_ID
from tests.conftest import PASSWORD, World
from tests.publishing.support import monitor, put, roster, states, visit

HTML = {"accept": "text/html"}
EXPLAIN_KEYS = {"kind", "id", "publishes", "checks", "published_state", "notes", "info"}
CHECK_KEYS = {"rule", "passed", "detail", "fix"}


def london_today() -> date:
    return datetime.now(ZoneInfo("Europe/London")).date()


def error_rows(r: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = r.json()["error"]["errors"]
    return rows


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


@pytest.fixture
def browser(container: bootstrap.Container, world: World) -> Iterator[TestClient]:
    """A client that behaves like a browser: session cookie, HTML wanted, redirects not followed."""
    with TestClient(create_app(container), headers=HTML, follow_redirects=False) as client:
        yield client


def sign_in(client: TestClient, db: Database, world: World, role: Role | None = None) -> TestClient:
    """Sign in as the admin, or as a new user of ``role``."""
    username = "admin"
    if role is not None:
        username = role.value.replace("_", "")
        auth.do_create_user(db, SYSTEM, tenant_id=world.tenant.id, username=username, password=PASSWORD, role=role)
    token = csrf_of(client.get("/sign-in").text)
    r = client.post("/sign-in", data={"username": username, "password": PASSWORD, "csrf": token})
    assert r.status_code == 303, r.text
    return client


# ---------------------------------------------------------------- explain


def test_explain_answers_in_the_documented_shape_for_every_kind(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    put(api, "visits", visit("V1", days=1, workers=("W1",)), visit("V2", days=2, workers=("W2",)))
    r = api.get("/api/v1/explain/visit/V1")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == EXPLAIN_KEYS
    assert (body["kind"], body["id"], body["publishes"], body["published_state"]) == ("visit", "V1", False, None)
    assert [c["rule"] for c in body["checks"]] == [
        "visit.monitored_contract",
        "visit.in_window",
        "visit.mobile_worker",
        "visit.not_confirmed_before_publish",
    ]
    for check in body["checks"]:
        assert set(check) == CHECK_KEYS
        assert isinstance(check["passed"], bool)
        assert isinstance(check["detail"], str)
        assert check["detail"]
    failed = [c for c in body["checks"] if not c["passed"]]
    assert [c["rule"] for c in failed] == ["visit.monitored_contract"]
    assert failed[0]["detail"] == "contract K1 is not monitored"
    assert failed[0]["fix"] == BY_ID["visit.monitored_contract"].fix
    assert "/publishing/contracts" in failed[0]["fix"]
    assert all(c["fix"] is None for c in body["checks"] if c["passed"])

    monitor(db, world.env.id, "K1")
    now_v1 = api.get("/api/v1/explain/visit/V1").json()
    assert (now_v1["publishes"], now_v1["published_state"]) == (True, "active")
    assert all(c["passed"] and c["fix"] is None for c in now_v1["checks"])
    assert "mobile-enabled worker(s): W1" in now_v1["checks"][2]["detail"]

    v2 = api.get("/api/v1/explain/visit/V2").json()
    assert [c["rule"] for c in v2["checks"] if not c["passed"]] == ["visit.mobile_worker"]
    assert "W2 (not mobile-enabled)" in v2["checks"][2]["detail"]

    w2 = api.get("/api/v1/explain/worker/W2").json()
    assert (w2["kind"], w2["publishes"]) == ("worker", False)
    assert {c["rule"]: c["passed"] for c in w2["checks"]} == {
        "worker.active": True,
        "worker.mobile_enabled": False,
        "worker.allocated_in_window": True,  # V2 is on a monitored contract in the window
    }
    w1 = api.get("/api/v1/explain/worker/W1").json()
    assert w1["publishes"] is True
    assert w1["info"] == ["care-planning username: wmobile"]

    client = api.get("/api/v1/explain/client/C1").json()
    assert (client["kind"], client["publishes"]) == ("client", True)
    assert [c["rule"] for c in client["checks"]] == ["client.active", "client.monitored_contract", "client.linked"]

    plan = api.get("/api/v1/explain/plan-visit/P1").json()
    assert set(plan) == EXPLAIN_KEYS
    assert plan["kind"] == "plan_visit"
    assert [c["rule"] for c in plan["checks"]] == [
        "plan_visit.monitored_contract",
        "plan_visit.visit_published",
        "plan_visit.has_description",
    ]


def test_explain_refuses_an_unknown_kind_and_reports_an_unknown_id(api: TestClient, world: World) -> None:
    roster(api)
    r = api.get("/api/v1/explain/nurse/X1")
    assert r.status_code == 422
    rows = error_rows(r)
    assert [(e["record_id"], e["field"], e["value"]) for e in rows] == [("path", "kind", "nurse")]
    assert "client" in rows[0]["reason"]
    assert "plan-visit" in rows[0]["reason"]
    r = api.get("/api/v1/explain/visit/NOPE")
    assert r.status_code == 404
    assert r.json()["error"] == {"code": "not_found", "message": "no visit with id 'NOPE'", "errors": []}
    assert api.get("/api/v1/explain/plan-visit/NOPE").json()["error"]["message"] == "no plan visit with id 'NOPE'"
    assert api.get("/api/v1/explain/visit/" + "x" * 101).status_code == 422


# ---------------------------------------------------------------- who may call


PUBLISHING_GETS = (
    "/api/v1/explain/visit/V1",
    "/api/v1/publishing/contracts",
    "/api/v1/publishing/schedules",
    "/api/v1/publishing/settings",
    "/api/v1/publishing/status",
)
PUBLISHING_WRITES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("post", "/api/v1/publishing/contracts", {"contract_ids": ["K1"], "monitored": True}),
    ("post", "/api/v1/publishing/schedules", {"group_ids": ["G1"], "publish_until": "2030-01-01"}),
    ("post", "/api/v1/publishing/reconcile", {}),
    ("patch", "/api/v1/publishing/settings", {"default_days_ahead": 3}),
)


def test_every_endpoint_needs_authentication(anonymous: TestClient, world: World) -> None:
    for path in PUBLISHING_GETS:
        r = anonymous.get(path)
        assert r.status_code == 401, path
        assert r.json()["error"]["code"] == "authentication_required"
    for method, path, body in PUBLISHING_WRITES:
        r = anonymous.request(method, path, json=body)
        assert r.status_code == 401, path
    bad = anonymous.get("/api/v1/publishing/status", headers={"Authorization": "Bearer cht_not-a-real-token"})
    assert bad.status_code == 401


def test_a_browser_session_reads_but_cannot_change_through_the_api(
    browser: TestClient, api: TestClient, db: Database, world: World
) -> None:
    roster(api)
    sign_in(browser, db, world)
    assert browser.get("/api/v1/publishing/contracts").status_code == 200
    for method, path, body in PUBLISHING_WRITES:
        assert browser.request(method, path, json=body).status_code == 401, path  # writes need a token (no CSRF)


def test_care_workers_cannot_read_explanations_or_status(
    browser: TestClient, api: TestClient, db: Database, world: World
) -> None:
    roster(api)
    sign_in(browser, db, world, Role.CARE_WORKER)
    for path in ("/api/v1/explain/visit/V1", "/api/v1/publishing/status"):
        r = browser.get(path)
        assert r.status_code == 403, path
        assert r.json()["error"]["code"] == "permission_denied"
    for page in ("/publishing/explain?kind=client&id=C1", "/publishing/health", "/publishing/schedules"):
        assert browser.get(page).status_code == 403, page


def test_only_an_administrator_changes_monitored_contracts_on_the_page(
    admin_api: TestClient, browser: TestClient, api: TestClient, db: Database, world: World
) -> None:
    roster(api)
    sign_in(browser, db, world, Role.COORDINATOR)
    # Tenant configuration and health count every branch: a coordinator (branch-scoped) is refused (docs/access.md).
    page = browser.get("/publishing/contracts")
    assert page.status_code == 403
    assert "only a tenant administrator" in page.text.lower()
    admin = sign_in(TestClient(browser.app, headers=dict(browser.headers), follow_redirects=False), db, world)
    form = {"csrf": csrf_of(admin.get("/publishing/contracts").text), "shown": ["K1", "K2"], "action": "save"}
    r = browser.post("/publishing/contracts", data=form)
    assert r.status_code == 403
    assert [c["monitored"] for c in admin_api.get("/api/v1/publishing/contracts").json()] == [False, False]
    for path in ("/publishing/health", "/publishing/schedules"):
        assert browser.get(path).status_code == 403, path
    # Explain (of their own branches' records) is still theirs.
    assert browser.get("/publishing/explain").status_code == 200
    assert browser.get("/publishing", follow_redirects=False).headers["location"] == "/publishing/explain"


# ---------------------------------------------------------------- monitored contracts


def test_contracts_are_listed_previewed_ticked_and_unticked(
    admin_api: TestClient, api: TestClient, db: Database, world: World
) -> None:
    roster(api)
    put(api, "visits", visit("V1"))
    listed = admin_api.get("/api/v1/publishing/contracts").json()
    assert [(c["id"], c["name"], c["funder"], c["monitored"], c["ticked_by"]) for c in listed] == [
        ("K1", "Council framework", "council", False, None),
        ("K2", "Private", "private", False, None),
    ]

    preview = admin_api.post(
        "/api/v1/publishing/contracts", json={"contract_ids": ["K1"], "monitored": True, "preview": True}
    )
    assert preview.status_code == 200
    body = preview.json()
    assert body["preview"] is True
    assert body["counts"]["visit"] == {"published": 1}
    assert body["counts"]["client"] == {"published": 1}
    assert body["counts"]["worker"] == {"published": 1}
    assert {"kind": "visit", "id": "V1", "change": "published", "state": "active"} in body["sample"]
    assert states(db, "visit") == {}
    assert admin_api.get("/api/v1/publishing/contracts").json()[0]["monitored"] is False

    done = admin_api.post("/api/v1/publishing/contracts", json={"contract_ids": ["K1"], "monitored": True}).json()
    assert done["preview"] is False
    assert done["counts"]["visit"] == {"published": 1}
    assert states(db, "visit") == {"V1": "active"}
    k1 = admin_api.get("/api/v1/publishing/contracts").json()[0]
    assert k1["monitored"] is True
    assert k1["ticked_by"].startswith("token:")
    again = admin_api.post("/api/v1/publishing/contracts", json={"contract_ids": ["K1"], "monitored": True}).json()
    assert again["changes"] == 0

    off = admin_api.post("/api/v1/publishing/contracts", json={"contract_ids": ["K1"], "monitored": False}).json()
    assert off["counts"]["visit"] == {"deactivated": 1}
    assert states(db, "visit") == {"V1": "deactivated"}


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"contract_ids": [], "monitored": True}, "contract_ids", "at least 1 item"),
        ({"contract_ids": ["K1"]}, "monitored", "Field required"),
        ({"contract_ids": ["K1"], "monitored": "yes"}, "monitored", "valid boolean"),
        ({"contract_ids": ["K1"], "monitored": True, "preview": 1}, "preview", "valid boolean"),
        ({"contract_ids": [""], "monitored": True}, "contract_ids.0", "at least 1 character"),
        ({"contract_ids": "K1", "monitored": True}, "contract_ids", "valid list"),
        ({"contract_ids": ["K1"], "monitored": True, "monitor": True}, "monitor", "Extra inputs"),
    ],
)
def test_contract_changes_refuse_bad_input_by_field(
    admin_api: TestClient, api: TestClient, world: World, body: dict[str, Any], field: str, reason: str
) -> None:
    r = admin_api.post("/api/v1/publishing/contracts", json=body)
    assert r.status_code == 422
    rows = error_rows(r)
    assert [e["field"] for e in rows] == [field]
    assert reason in rows[0]["reason"]


def test_unknown_contracts_are_named_and_nothing_changes(
    admin_api: TestClient, api: TestClient, db: Database, world: World
) -> None:
    roster(api)
    r = admin_api.post("/api/v1/publishing/contracts", json={"contract_ids": ["K1", "NOPE", "ALSO"], "monitored": True})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["message"] == "unknown contract id(s): ALSO, NOPE"
    assert [(e["field"], e["value"], e["reason"]) for e in error["errors"]] == [
        ("contract_ids", "ALSO", "no contract with this id"),
        ("contract_ids", "NOPE", "no contract with this id"),
    ]
    assert [c["monitored"] for c in admin_api.get("/api/v1/publishing/contracts").json()] == [False, False]


# ---------------------------------------------------------------- publish schedules


def test_schedules_preview_then_publish_only_what_enters_the_window(
    admin_api: TestClient, api: TestClient, db: Database, world: World
) -> None:
    roster(api)
    today = london_today()
    put(api, "visits", visit("V-NEAR", days=1), visit("V-FAR", days=10), visit("V-BEYOND", days=16))
    monitor(db, world.env.id, "K1")
    assert states(db, "visit") == {"V-NEAR": "active"}
    listed = admin_api.get("/api/v1/publishing/schedules").json()
    assert listed == [
        {
            "group_id": "G1",
            "name": "Morning run",
            "publish_until": None,
            "last_day": (today + timedelta(days=7)).isoformat(),
            "set_by": None,
            "set_at": None,
        }
    ]
    until = (today + timedelta(days=12)).isoformat()
    preview = admin_api.post(
        "/api/v1/publishing/schedules", json={"group_ids": ["G1"], "publish_until": until, "preview": True}
    ).json()
    assert preview["preview"] is True
    assert preview["counts"]["visit"] == {"published": 1}
    assert [s["id"] for s in preview["sample"] if s["kind"] == "visit"] == ["V-FAR"]
    assert admin_api.get("/api/v1/publishing/schedules").json()[0]["publish_until"] is None
    assert "V-FAR" not in states(db, "visit")

    done = admin_api.post("/api/v1/publishing/schedules", json={"group_ids": ["G1"], "publish_until": until}).json()
    assert done["counts"]["visit"] == {"published": 1}
    assert states(db, "visit") == {"V-NEAR": "active", "V-FAR": "active"}
    row = admin_api.get("/api/v1/publishing/schedules").json()[0]
    assert (row["publish_until"], row["last_day"]) == (until, until)
    assert row["set_by"].startswith("token:")


def test_a_publish_date_more_than_14_days_ahead_is_refused_clearly(
    admin_api: TestClient, api: TestClient, world: World
) -> None:
    roster(api)
    today = london_today()
    late = (today + timedelta(days=15)).isoformat()
    r = admin_api.post("/api/v1/publishing/schedules", json={"group_ids": ["G1"], "publish_until": late})
    assert r.status_code == 422
    error = r.json()["error"]
    latest = (today + timedelta(days=14)).isoformat()
    assert error["message"] == f"publish date {late} is more than 14 days ahead; the latest allowed is {latest}"
    assert [(e["field"], e["value"]) for e in error["errors"]] == [("publish_until", late)]
    assert f"expected a date from {today.isoformat()} to {latest}" in error["errors"][0]["reason"]
    past = (today - timedelta(days=1)).isoformat()
    r = admin_api.post("/api/v1/publishing/schedules", json={"group_ids": ["G1"], "publish_until": past})
    assert r.status_code == 422
    assert "is in the past" in r.json()["error"]["message"]
    assert admin_api.get("/api/v1/publishing/schedules").json()[0]["publish_until"] is None


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"group_ids": ["G1"], "publish_until": "14/03/2030"}, "publish_until", "valid date"),
        ({"group_ids": ["G1"], "publish_until": 20300314}, "publish_until", "valid date"),
        ({"group_ids": ["G1"]}, "publish_until", "Field required"),
        ({"group_ids": [], "publish_until": "2030-03-14"}, "group_ids", "at least 1 item"),
        ({"group_ids": ["G1"], "publish_until": "2030-03-14", "preview": "no"}, "preview", "valid boolean"),
    ],
)
def test_schedules_refuse_bad_input_by_field(
    admin_api: TestClient, api: TestClient, world: World, body: dict[str, Any], field: str, reason: str
) -> None:
    r = admin_api.post("/api/v1/publishing/schedules", json=body)
    assert r.status_code == 422
    rows = error_rows(r)
    assert [e["field"] for e in rows] == [field]
    assert reason in rows[0]["reason"]


def test_an_unknown_group_is_named(admin_api: TestClient, api: TestClient, world: World) -> None:
    roster(api)
    until = (london_today() + timedelta(days=3)).isoformat()
    r = admin_api.post("/api/v1/publishing/schedules", json={"group_ids": ["G1", "G9"], "publish_until": until})
    assert r.status_code == 422
    assert r.json()["error"]["message"] == "unknown group id(s): G9"


# ---------------------------------------------------------------- reconcile, settings, status


def test_reconcile_previews_and_applies(admin_api: TestClient, api: TestClient, db: Database, world: World) -> None:
    roster(api)
    monitor(db, world.env.id, "K1")
    assert admin_api.post("/api/v1/publishing/reconcile").json() == {
        "preview": False,
        "changes": 0,
        "counts": {"visit": {}, "care_plan": {}, "client": {}, "worker": {}},
        "sample": [],
    }
    assert admin_api.post("/api/v1/publishing/reconcile", json={"preview": True}).json()["preview"] is True
    r = admin_api.post("/api/v1/publishing/reconcile", json={"preview": "yes"})
    assert r.status_code == 422
    assert [e["field"] for e in error_rows(r)] == ["preview"]
    assert admin_api.get("/api/v1/publishing/settings").json()["last_reconcile_at"] is not None


def test_settings_are_read_and_changed_with_specific_errors(
    admin_api: TestClient, api: TestClient, db: Database, world: World
) -> None:
    roster(api)
    settings = admin_api.get("/api/v1/publishing/settings").json()
    assert settings == {
        "default_days_ahead": 7,
        "reconcile_every_minutes": 1440,
        "last_export_at": None,
        "last_reconcile_at": None,
    }
    r = admin_api.patch("/api/v1/publishing/settings", json={"default_days_ahead": 15, "reconcile_every_minutes": 5})
    assert r.status_code == 422
    assert [(e["field"], e["value"], e["reason"]) for e in error_rows(r)] == [
        ("default_days_ahead", 15, "expected 0 to 14 days"),
        ("reconcile_every_minutes", 5, "expected 15 to 10080 minutes"),
    ]
    r = admin_api.patch("/api/v1/publishing/settings", json={"default_days_ahead": "3"})
    assert r.status_code == 422
    assert "valid integer" in error_rows(r)[0]["reason"]
    assert admin_api.patch("/api/v1/publishing/settings", json={"colour": "blue"}).status_code == 422
    changed = admin_api.patch(
        "/api/v1/publishing/settings", json={"default_days_ahead": 3, "reconcile_every_minutes": 60}
    )
    assert changed.status_code == 200
    assert (changed.json()["default_days_ahead"], changed.json()["reconcile_every_minutes"]) == (3, 60)
    assert (
        admin_api.get("/api/v1/publishing/schedules").json()[0]["last_day"]
        == (london_today() + timedelta(days=3)).isoformat()
    )


def test_status_says_why_and_turns_ok_once_contracts_are_monitored(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    put(api, "visits", visit("V1"))
    body = api.get("/api/v1/publishing/status").json()
    assert body["health"] == "warning"
    assert [r["code"] for r in body["reasons"]] == ["nothing_monitored"]
    assert set(body["reasons"][0]) == {"code", "level", "message", "fix"}
    assert "carehub publishing contracts tick" in body["reasons"][0]["fix"]
    monitor(db, world.env.id, "K1")
    body = api.get("/api/v1/publishing/status").json()
    assert (body["health"], body["reasons"]) == ("ok", [])
    assert body["statistics"]["visit"] == {"active": 1, "cancelled": 0, "deactivated": 0, "ended": 0}
    assert body["statistics"]["client"]["active"] == 1
    assert body["monitored_contracts"] == 1
    assert body["last_export_at"] is not None
    assert body["events"] == {"pending": 0, "dead_lettered": 0, "subscriptions": 0}
    assert body["devices"] == []
    assert [r["trigger"] for r in body["recent_runs"]][:1] == ["contracts"]
    assert len(body["visits_per_day"]) == 22
    tomorrow = (london_today() + timedelta(days=1)).isoformat()
    by_day = {d["day"]: (d["published"], d["cancelled"]) for d in body["visits_per_day"]}
    assert sum(p for p, _ in by_day.values()) == 1
    assert by_day[tomorrow] == (1, 0) or by_day[london_today().isoformat()] == (1, 0)  # 09:00 UTC tomorrow


# ---------------------------------------------------------------- pages over HTTP


def test_schedule_page_refuses_a_late_date_with_its_reason_and_keeps_the_choice(
    browser: TestClient, api: TestClient, db: Database, world: World
) -> None:
    roster(api)
    sign_in(browser, db, world)
    page = browser.get("/publishing/schedules")
    assert page.status_code == 200
    late = (london_today() + timedelta(days=20)).isoformat()
    form = {"csrf": csrf_of(page.text), "until": late, "group": ["G1"], "action": "publish"}
    r = browser.post("/publishing/schedules", data=form)
    assert r.status_code == 422
    assert f"Publish date {late} is more than 14 days ahead" in r.text
    assert 'value="G1" checked' in r.text
    assert f'value="{late}"' in r.text
    r = browser.post("/publishing/schedules", data={**form, "until": "soon"})
    assert r.status_code == 422
    assert "“soon” is not a date like 2025-03-14." in r.text
    r = browser.post("/publishing/schedules", data={**form, "group": [], "until": london_today().isoformat()})
    assert "Tick at least one group." in r.text
    forged = browser.post("/publishing/schedules", data={**form, "csrf": "forged"})
    assert forged.status_code == 403


def test_schedule_page_previews_for_htmx_and_publishes_with_a_notice(
    browser: TestClient, api: TestClient, db: Database, world: World
) -> None:
    roster(api)
    put(api, "visits", visit("V-FAR", days=10))
    monitor(db, world.env.id, "K1")
    sign_in(browser, db, world)
    token = csrf_of(browser.get("/publishing/schedules").text)
    until = (london_today() + timedelta(days=12)).isoformat()
    form = {"csrf": token, "until": until, "group": ["G1"], "action": "preview"}
    fragment = browser.post("/publishing/schedules", data=form, headers={"hx-request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert 'data-change="published">1<' in fragment.text
    assert "Preview only: nothing has changed yet." in fragment.text
    assert "V-FAR" not in states(db, "visit")
    done = browser.post("/publishing/schedules", data={**form, "action": "publish"})
    assert (done.status_code, done.headers["location"]) == (303, "/publishing/schedules")
    assert states(db, "visit")["V-FAR"] == "active"
    shown = browser.get("/publishing/schedules").text
    assert "Published G1 until" in shown
    assert "visits: 1 published" in shown
    assert "Published G1 until" not in browser.get("/publishing/schedules").text  # the notice is shown once


def test_explain_page_reports_an_unknown_record_and_a_bad_kind(
    browser: TestClient, api: TestClient, db: Database, world: World
) -> None:
    roster(api)
    sign_in(browser, db, world)
    r = browser.get("/publishing/explain?kind=visit&id=NOPE")
    assert r.status_code == 200
    assert "No visit with id &#39;NOPE&#39;." in r.text
    r = browser.get("/publishing/explain?kind=nurse&id=C1")
    assert "“nurse” is not a record kind" in r.text
    r = browser.get("/publishing/explain?kind=client&id=C1")
    assert "Client C1 does not publish" in r.text
    assert 'data-rule="client.monitored_contract"' in r.text
    assert "carehub explain client C1" in r.text
