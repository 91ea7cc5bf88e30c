"""The pages over plain HTTP (no browser): headers, CSRF, redirects, htmx fragments, input errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from carehub import bootstrap
from carehub.app import create_app
from carehub.platform.clock import utc_now
from tests.conftest import PASSWORD, World
from tests.web.seed import Roster, local, seed_roster

HTML = {"accept": "text/html"}  # as a browser asks for pages
HTMX = {**HTML, "hx-request": "true", "hx-target": "results"}


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the form"
    return found.group(1)


@pytest.fixture
def roster(container: bootstrap.Container, world: World) -> Roster:
    return seed_roster(container.db, world)


@pytest.fixture
def browser_client(container: bootstrap.Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), headers=HTML, follow_redirects=False) as client:
        yield client


@pytest.fixture
def signed_in(browser_client: TestClient, roster: Roster) -> TestClient:
    token = csrf_of(browser_client.get("/sign-in").text)
    r = browser_client.post("/sign-in", data={"username": "admin", "password": PASSWORD, "csrf": token})
    assert r.status_code == 303
    return browser_client


def test_pages_are_never_cached_framed_or_given_third_party_resources(signed_in: TestClient) -> None:
    for path in ("/sign-in", "/roster/visits", "/roster/clients/C001", "/roster/clients/NOPE"):
        r = signed_in.get(path, follow_redirects=True)
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["x-frame-options"] == "DENY"
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert "http://" not in r.text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in r.text


def test_sign_in_refuses_a_form_without_its_csrf_token(browser_client: TestClient, roster: Roster) -> None:
    browser_client.get("/sign-in")
    r = browser_client.post("/sign-in", data={"username": "admin", "password": PASSWORD, "csrf": "forged"})
    assert r.status_code == 403
    assert "This sign-in form had expired" in r.text
    assert browser_client.get("/roster/visits").status_code == 303  # still signed out


def test_sign_out_needs_the_csrf_token(signed_in: TestClient) -> None:
    r = signed_in.post("/sign-out", data={"csrf": "forged"})
    assert r.status_code == 403
    assert signed_in.get("/roster/visits").status_code == 200
    token = csrf_of(signed_in.get("/roster/visits").text)
    assert signed_in.post("/sign-out", data={"csrf": token}).headers["location"] == "/sign-in"
    assert signed_in.get("/roster/visits").status_code == 303


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:x"])
def test_sign_in_never_redirects_off_site(browser_client: TestClient, roster: Roster, target: str) -> None:
    token = csrf_of(browser_client.get("/sign-in").text)
    r = browser_client.post("/sign-in", data={"username": "admin", "password": PASSWORD, "csrf": token, "next": target})
    assert r.headers["location"] == "/"


def test_an_overlong_sign_in_is_refused_with_a_message(browser_client: TestClient, roster: Roster) -> None:
    token = csrf_of(browser_client.get("/sign-in").text)
    r = browser_client.post("/sign-in", data={"username": "a" * 5000, "password": "x", "csrf": token})
    assert r.status_code == 422
    assert "at most 200 characters" in r.text


def test_htmx_gets_only_the_results_and_a_clean_address(signed_in: TestClient) -> None:
    r = signed_in.get("/roster/clients?q=ada&status=&branch=", headers=HTMX)
    assert r.status_code == 200
    assert "<html" not in r.text
    assert 'data-testid="clients-table"' in r.text
    assert r.headers["hx-push-url"] == "/roster/clients?q=ada"
    assert "HX-Request" in r.headers["vary"]
    full = signed_in.get("/roster/clients?q=ada")
    assert "<html" in full.text


def test_bad_input_on_every_list_is_a_message_not_an_error(signed_in: TestClient) -> None:
    cases = {
        "/roster/clients?page=-1": "Page “-1” is not a page number",
        "/roster/clients?q=" + "x" * 300: "Search is at most 100 characters",
        "/roster/workers?mobile=maybe": "Mobile “maybe” is not one of: yes, no.",
        "/roster/workers?status=retired": "Status “retired” is not one of: active, inactive, left.",
        "/roster/visits?confirmed=1": "Confirmed “1” is not one of: yes, no.",
        "/roster/visits?status=done": "Status “done” is not one of: scheduled, cancelled.",
        "/roster/visits?from=tomorrow": "From “tomorrow” is not a date like",
        "/roster/visits?page=99999999999": "Page “99999999999” is not a page number",
        "/roster/visits?from=9999-12-31&to=9999-12-31": "From 9999-12-31 is outside 2000–2099",
        "/roster/visits?from=0001-01-01": "From 0001-01-01 is outside 2000–2099",
    }
    for path, message in cases.items():
        r = signed_in.get(path)
        assert r.status_code == 200, path
        assert message in r.text, path


def test_search_words_are_literal_not_wildcards(signed_in: TestClient) -> None:
    for q in ("%", "_", "\\"):
        r = signed_in.get("/roster/clients", params={"q": q})
        assert "No clients match" in r.text, q


def test_a_missing_record_is_a_404_page(signed_in: TestClient) -> None:
    for path, message in (
        ("/roster/clients/NOPE", "No client with id &#39;NOPE&#39;."),
        ("/roster/workers/NOPE", "No worker with id &#39;NOPE&#39;."),
        ("/roster/visits/NOPE", "No visit with id &#39;NOPE&#39;."),
    ):
        r = signed_in.get(path)
        assert r.status_code == 404
        assert message in r.text


def test_control_characters_in_searches_and_ids_are_handled(signed_in: TestClient) -> None:
    r = signed_in.get("/roster/clients", params={"q": "ada\x00"})
    assert r.status_code == 200
    assert "Search had control characters" in r.text
    assert "Lovelace" in r.text
    r = signed_in.get("/roster/visits", params={"client": "\x00"})
    assert r.status_code == 200
    assert "Client search had control characters" in r.text
    for kind in ("clients", "workers", "visits"):
        assert signed_in.get(f"/roster/{kind}/C%00").status_code == 404
        assert signed_in.get(f"/roster/{kind}/" + "x" * 300).status_code == 404


def test_a_workers_visits_of_the_coming_week_are_counted(signed_in: TestClient, roster: Roster) -> None:
    now = utc_now()
    starts = [local(roster.today + timedelta(days=d), 8) for d in (0, 2, 4, 6)]
    starts += [local(roster.today + timedelta(days=d), 17, 30) for d in (1, 3, 5, 7)]
    expected = sum(now <= datetime.fromisoformat(s) < now + timedelta(days=7) for s in starts)
    row = re.search(r"Hopper, Grace.*?</tr>", signed_in.get("/roster/workers?q=hopper").text, re.DOTALL)
    assert row is not None
    assert re.search(rf'class="num">(<span class="muted">)?{expected}<', row.group(0))
    assert f"<dt>Visits, next 7 days</dt><dd>{expected}</dd>" in signed_in.get("/roster/workers/W01").text
