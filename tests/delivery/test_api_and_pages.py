"""The webhook API and pages over HTTP: authentication, roles, specific errors for bad input, never a 500."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from carehub import bootstrap
from carehub.app import create_app
from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import SYSTEM, Role, TokenScope
from carehub.platform.db import Database
from carehub.tenancy import service as tenancy
from tests.conftest import PASSWORD, World
from tests.delivery.conftest import deliver, emit
from tests.delivery.receiver import Receiver

HTML = {"accept": "text/html"}

ROUTES = [
    ("GET", "/api/v1/subscriptions"),
    ("POST", "/api/v1/subscriptions"),
    ("GET", "/api/v1/subscriptions/1"),
    ("PATCH", "/api/v1/subscriptions/1"),
    ("POST", "/api/v1/subscriptions/1/replay"),
    ("POST", "/api/v1/subscriptions/1/retry-dead"),
    ("GET", "/api/v1/deliveries"),
    ("GET", "/api/v1/deliveries/1"),
    ("POST", "/api/v1/deliveries/1/retry"),
    ("POST", "/api/v1/deliveries/1/replay"),
]


def errors_of(body: dict[str, Any]) -> list[tuple[Any, Any]]:
    return [(e["field"], e["value"]) for e in body["error"]["errors"]]


def create(client: TestClient, url: str, **extra: Any) -> dict[str, Any]:
    r = client.post("/api/v1/subscriptions", json={"name": extra.pop("name", "hooks"), "url": url, **extra})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_endpoint_needs_credentials(anonymous: TestClient, method: str, path: str) -> None:
    r = anonymous.request(method, path, json={})
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "authentication_required"


def test_subscriptions_are_created_read_changed_and_their_secret_shown_once(
    admin_api: TestClient, api: TestClient, world: World
) -> None:
    made = create(admin_api, "https://example.org/hook", topics=["publishing.visit.", "roster."], max_attempts=5)
    assert made["secret"].startswith("whsec_")
    assert made["topics"] == ["publishing.visit.", "roster."]
    assert made["deliveries"] == {"pending": 0, "dead": 0}
    listed = admin_api.get("/api/v1/subscriptions").json()["items"]
    assert [s["name"] for s in listed] == ["hooks"]
    one = admin_api.get(f"/api/v1/subscriptions/{made['id']}").json()
    for shown in (listed[0], one, api.get("/api/v1/openapi.json").json()):
        assert made["secret"] not in str(shown)
    changed = admin_api.patch(f"/api/v1/subscriptions/{made['id']}", json={"active": False, "max_attempts": 2}).json()
    assert (changed["active"], changed["max_attempts"]) == (False, 2)
    own = create(admin_api, "https://example.org/other", name="own", secret="a-secret-of-my-own-choosing")
    assert own["secret"] == "a-secret-of-my-own-choosing"


def test_bad_input_is_refused_with_the_field_the_value_and_what_was_expected(
    admin_api: TestClient, api: TestClient
) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "x", "url": "ftp://example.org/"}, "url"),
        ({"name": "x", "url": "https://example.org/", "max_attempts": 0}, "max_attempts"),
        ({"name": "x", "url": "https://example.org/", "topics": ["Not A Topic"]}, "topics"),
        ({"name": "", "url": "https://example.org/"}, "name"),
        ({"name": "x", "url": "https://example.org/", "colour": "red"}, "colour"),
        ({"name": "x", "url": "https://example.org/", "secret": "short"}, "secret"),
    ]
    for body, field in cases:
        r = admin_api.post("/api/v1/subscriptions", json=body)
        assert r.status_code == 422, (body, r.text)
        assert any(field in str(f) for f, _ in errors_of(r.json())), (body, r.json())
    r = admin_api.post("/api/v1/subscriptions", json={"name": "x", "url": "ftp://example.org/"})
    assert r.json()["error"]["errors"][0]["reason"].startswith("an http:// or https:// URL")
    create(admin_api, "https://example.org/", name="taken")
    r = admin_api.post("/api/v1/subscriptions", json={"name": "taken", "url": "https://example.org/"})
    assert r.status_code == 409
    assert errors_of(r.json()) == [("name", "taken")]
    r = admin_api.get("/api/v1/deliveries", params={"status": "lost"})
    assert r.status_code == 422
    assert "'pending', 'delivered' or 'dead'" in r.json()["error"]["errors"][0]["reason"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/deliveries/99999999999999999999999", None),
        ("GET", "/api/v1/subscriptions/99999999999", None),
        ("GET", "/api/v1/deliveries?event_id=99999999999999999999999", None),
        ("POST", "/api/v1/subscriptions/1/replay", {"from_event_id": 10**30}),
        ("POST", "/api/v1/subscriptions/1/replay", {"since": "2026-01-01T00:00:00"}),
        ("POST", "/api/v1/subscriptions/1/replay", {"from_event_id": 1, "since": "2026-01-01T00:00:00Z"}),
        ("POST", "/api/v1/subscriptions/1/replay", {}),
        ("GET", "/api/v1/deliveries?page=0", None),
        ("PATCH", "/api/v1/subscriptions/1", {"url": "not a url"}),
    ],
)
def test_out_of_range_and_malformed_values_are_4xx_never_500(
    admin_api: TestClient, method: str, path: str, body: Any
) -> None:
    create(admin_api, "https://example.org/hook")
    r = admin_api.request(method, path, json=body)
    assert 400 <= r.status_code < 500, (path, body, r.status_code, r.text)
    assert r.json()["error"]["code"] in {"invalid_input", "not_found"}


def test_deliveries_with_their_attempts_retry_and_replay(
    admin_api: TestClient, api: TestClient, db: Database, world: World, receiver: Receiver
) -> None:
    sub = create(admin_api, receiver.url + "/hook", max_attempts=1)
    receiver.fail_always(500)
    [event] = emit(db, world.env.id, [1])
    deliver(db)
    listed = admin_api.get("/api/v1/deliveries", params={"status": "dead"}).json()
    assert listed["total"] == 1
    [dead] = listed["items"]
    assert (dead["event_id"], dead["idempotency_key"], dead["last_error"]) == (
        event,
        f"evt-{event}",
        "HTTP 500: refused by test receiver (500)",
    )
    one = admin_api.get(f"/api/v1/deliveries/{dead['id']}").json()
    assert [(a["number"], a["outcome"], a["status_code"]) for a in one["attempt_log"]] == [(1, "dead", 500)]
    assert one["payload"] == {"record": 1}
    assert admin_api.post(f"/api/v1/deliveries/{dead['id']}/replay").status_code == 200
    assert admin_api.post(f"/api/v1/deliveries/{dead['id']}/retry").status_code == 409  # pending now: not dead
    receiver.succeed()
    deliver(db)
    assert admin_api.get(f"/api/v1/deliveries/{dead['id']}").json()["status"] == "delivered"
    r = admin_api.post(f"/api/v1/subscriptions/{sub['id']}/replay", json={"from_event_id": event})
    assert r.json() == {
        "subscription_id": sub["id"],
        "events": 1,
        "requeued": 1,
        "created": 0,
        "first_event_id": event,
        "last_event_id": event,
    }
    assert admin_api.post(f"/api/v1/subscriptions/{sub['id']}/retry-dead").json() == {
        "subscription_id": sub["id"],
        "retried": 0,
    }
    assert admin_api.get("/api/v1/deliveries", params={"event_id": event}).json()["items"][0]["status"] == "pending"


def test_another_tenants_token_sees_nothing_of_this_tenant(
    container: bootstrap.Container, admin_api: TestClient, db: Database, world: World
) -> None:
    sub = create(admin_api, "https://example.org/hook")
    other, env = tenancy.do_create_tenant(db, SYSTEM, name="Elsewhere", timezone="Europe/London")
    _, token = auth.do_create_token(
        db, SYSTEM, tenant_id=other.id, environment_id=env.id, name="t", scope=TokenScope.ADMIN
    )
    emit(db, world.env.id, [1])
    deliver(db)
    with TestClient(create_app(container), headers={"Authorization": f"Bearer {token}"}) as theirs:
        assert theirs.get("/api/v1/subscriptions").json() == {"items": []}
        assert theirs.get(f"/api/v1/subscriptions/{sub['id']}").status_code == 404
        assert theirs.get("/api/v1/deliveries").json()["total"] == 0
        assert theirs.post(f"/api/v1/subscriptions/{sub['id']}/replay", json={"from_event_id": 1}).status_code == 404
        r = theirs.patch(f"/api/v1/subscriptions/{sub['id']}", json={"active": False})
        assert r.status_code == 404


# ---------------------------------------------------------------- pages over HTTP


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


@pytest.fixture
def browser(container: bootstrap.Container, world: World) -> Iterator[TestClient]:
    with TestClient(create_app(container), headers=HTML, follow_redirects=False) as client:
        yield client


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> None:
    r = client.post(
        "/sign-in", data={"username": username, "password": password, "csrf": csrf_of(client.get("/sign-in").text)}
    )
    assert r.status_code == 303


def test_pages_list_deliveries_and_only_an_administrator_sees_them(
    browser: TestClient, db: Database, world: World, receiver: Receiver
) -> None:
    auth.do_create_user(
        db, SYSTEM, tenant_id=world.tenant.id, username="coord", password="a long password", role=Role.COORDINATOR
    )
    from carehub.platform.delivery import service  # noqa: PLC0415

    service.do_create_subscription(
        db, SYSTEM, tenant_id=world.tenant.id, name="hooks", url=receiver.url + "/h", max_attempts=1
    )
    receiver.fail_always(503)
    [event] = emit(db, world.env.id, [1])
    deliver(db)
    delivery_id = service.list_deliveries(db, world.tenant.id).items[0].id
    # Deliveries carry every branch's events: a coordinator (branch-scoped) is refused (docs/access.md).
    sign_in(browser, "coord", "a long password")
    csrf = csrf_of(browser.get("/roster/clients").text)
    for path in ("/deliveries?status=dead", f"/deliveries/{delivery_id}"):
        assert browser.get(path).status_code == 403, path
    r = browser.post(f"/deliveries/{delivery_id}/retry", data={"csrf": csrf})
    assert r.status_code == 403
    browser.cookies.clear()
    sign_in(browser, "admin", PASSWORD)
    page = browser.get("/deliveries?status=dead")
    assert page.status_code == 200
    assert f"Event {event}" in page.text
    assert "HTTP 503: refused by test receiver (503)" in page.text
    detail = browser.get(f"/deliveries/{delivery_id}")
    assert "Why it failed" in detail.text
    assert browser.get("/deliveries?status=lost&page=x&event=abc").status_code == 200  # messages, not errors
    assert "is not one of" in browser.get("/deliveries?status=lost").text
    assert browser.get("/deliveries/99999999999999999999999").status_code == 422


def test_an_administrator_retries_from_the_page_with_htmx_and_adds_a_subscription(
    browser: TestClient, db: Database, world: World, receiver: Receiver
) -> None:
    from carehub.platform.delivery import service  # noqa: PLC0415

    service.do_create_subscription(
        db, SYSTEM, tenant_id=world.tenant.id, name="hooks", url=receiver.url + "/h", max_attempts=1
    )
    receiver.fail_always(503)
    emit(db, world.env.id, [1])
    deliver(db)
    sign_in(browser, world.admin_username)
    page = browser.get("/deliveries")
    token = csrf_of(page.text)
    delivery_id = service.list_deliveries(db, world.tenant.id).items[0].id
    assert browser.post(f"/deliveries/{delivery_id}/retry", data={"csrf": "wrong"}).status_code == 403
    r = browser.post(
        f"/deliveries/{delivery_id}/retry",
        data={"csrf": token},
        headers={"hx-request": "true", "hx-target": f"row-{delivery_id}"},
    )
    assert r.status_code == 200
    assert f'id="row-{delivery_id}"' in r.text
    assert 'data-status="pending"' in r.text
    added = browser.post(
        "/deliveries/subscriptions",
        data={"csrf": token, "name": "second", "url": "https://example.org/x", "topics": "roster. publishing."},
    )
    assert added.status_code == 201
    secret = re.search(r'data-testid="secret">([^<]+)<', added.text)
    assert secret
    assert secret.group(1).startswith("whsec_")
    assert secret.group(1) not in browser.get("/deliveries/subscriptions").text
    refused = browser.post(
        "/deliveries/subscriptions", data={"csrf": token, "name": "third", "url": "ftp://example.org/x"}
    )
    assert refused.status_code == 422
    assert "an http:// or https:// URL" in refused.text
