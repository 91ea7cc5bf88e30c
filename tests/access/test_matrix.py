"""The access-control matrix: every caller against every route, for own-branch and other-branch records.

The app's routes are enumerated programmatically; every (method, path) must be classified in ROUTES, so a
new route that nobody classified fails :func:`test_every_route_is_classified`. Callers: anonymous, tenant
administrator, branch manager and care coordinator (granted branch B-OWN only), care worker, roster API
token ("token"), admin API token ("admin_token"). Records of branch B-OTHER must be not found (404) for
branch staff and leave no trace in any answer.

A roster API token is a rostering system's credential for one environment: every API route, every method,
is called with it; only its environment's roster, explain and the integration status answer, every other
route is refused with 403 "API tokens cannot ...". An admin API token is checked like a tenant
administrator on the API: allowed wherever the administrator is, every branch; never on pages (they need
a browser session) nor on the mobile device feed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import SYSTEM, Role, TokenScope
from carehub.platform.db import Database
from tests.access.conftest import Site
from tests.access.support import csrf_of, leaks
from tests.platform.test_api_security import _routes
from tests.tenancy.support import snapshot


class C(StrEnum):
    """What kind of access a route needs."""

    PUBLIC = "public"  # no sign-in
    HOME = "home"  # a redirect for anyone signed in
    DEVICE = "device"  # a linked device's token only
    SCOPED_API = "scoped_api"  # staff reads, branch-scoped; tokens see the whole environment
    SCOPED_PAGE = "scoped_page"  # staff pages, branch-scoped
    ADMIN_API = "admin_api"  # tenant administrators (and admin tokens) only
    ADMIN_PAGE = "admin_page"  # tenant administrators only
    TOKEN_WRITE = "token_write"  # API changes: a bearer token only, never a browser session
    STAFF_POST = "staff_post"  # device management forms: coordinators and above, branch-scoped
    ADMIN_POST = "admin_post"  # configuration forms: tenant administrators only
    FORMS_READ = "forms_read"  # forms and services, read (part C): staff, branch-scoped; never care workers
    CONTRACT = "contract"  # the OpenAPI contract and its page: anyone signed in or holding a token


KINDS = {
    "branches": "B",
    "groups": "G",
    "contracts": "K",
    "clients": "C",
    "workers": "W",
    "plan-visits": "P",
    "visits": "V",
}


# What an API token may call (listed here independently of the product's own list).
ROSTER_PATH = r"/api/v1/(" + "|".join(KINDS) + r")"
TOKEN_MAY = (
    ("GET", ROSTER_PATH + r"(/\{external_id\}(/history)?)?"),
    ("PUT", ROSTER_PATH + r"/\{external_id\}"),
    ("DELETE", ROSTER_PATH + r"/\{external_id\}"),
    ("POST", ROSTER_PATH + r"/batch"),
    ("POST", r"/api/v1/imports/\{plural\}"),
    ("POST", r"/api/v1/visits/\{visit_id\}/(allocations|confirm|cancel)"),
    ("DELETE", r"/api/v1/visits/\{visit_id\}/allocations/\{worker_id\}"),
    ("GET", r"/api/v1/explain/\{kind\}/\{external_id\}"),
    ("GET", r"/api/v1/publishing/status"),
    ("GET", r"/api/v1/openapi\.json|/docs"),
)


def token_may(method: str, path: str) -> bool:
    """Whether an API token may call this API route."""
    return any(m == method and re.fullmatch(p, path) for m, p in TOKEN_MAY)


def classify(method: str, path: str) -> C | None:  # noqa: C901, PLR0911, PLR0912 - one rule per family of routes
    """The access class of a route; None if nobody classified it."""
    public = {
        ("GET", "/health"),
        ("GET", "/sign-in"),
        ("POST", "/sign-in"),
        ("POST", "/sign-out"),
        ("POST", "/api/mobile/v1/link"),
        ("GET", "/publishing/static/publishing.css"),
        ("GET", "/forms/static/forms.css"),
        ("MOUNT", "/static"),
    }
    if (method, path) in public:
        return C.PUBLIC
    if (method, path) in {("GET", "/docs"), ("GET", "/api/v1/openapi.json")}:
        return C.CONTRACT
    if (method, path) == ("GET", "/"):
        return C.HOME
    if (method, path) == ("GET", "/api/mobile/v1/sync"):
        return C.DEVICE
    roster = r"/api/v1/(" + "|".join(KINDS) + r")(/\{external_id\}(/history)?)?"
    if method == "GET" and (re.fullmatch(roster, path) or path.startswith("/api/v1/explain/")):
        return C.SCOPED_API
    if method == "GET" and path in ("/api/v1/mobile/devices", "/api/v1/mobile/devices/{device_id}/syncs"):
        return C.SCOPED_API
    if path.startswith(("/api/v1/forms", "/api/v1/services")):
        return C.FORMS_READ if method == "GET" else C.TOKEN_WRITE
    if path.startswith(("/forms", "/services")):
        return C.FORMS_READ if method == "GET" else C.ADMIN_POST
    admin_api = (
        "/api/v1/users",
        "/api/v1/subscriptions",
        "/api/v1/deliveries",
        "/api/v1/environments",
        "/api/v1/publishing/",
    )
    if path.startswith("/api/"):
        if method == "GET" and path.startswith(admin_api):
            return C.ADMIN_API
        return C.TOKEN_WRITE if method != "GET" else None
    if method == "GET" and (path.startswith("/roster/") or path in ("/publishing/explain", "/mobile/devices")):
        return C.SCOPED_PAGE
    if method == "GET" and path == "/publishing":
        return C.HOME
    admin_pages = ("/users", "/deliveries", "/environments", "/publishing/")
    if path.startswith(admin_pages):
        return C.ADMIN_PAGE if method == "GET" else C.ADMIN_POST
    if method == "POST" and path.startswith("/mobile/devices/"):
        return C.STAFF_POST
    return None


def all_routes(app: Any) -> list[tuple[str, str]]:
    assert isinstance(app, FastAPI)
    return sorted(set(_routes(app)))


def test_every_route_is_classified(clients: dict[str, TestClient]) -> None:
    unclassified = [(m, p) for m, p in all_routes(clients["admin"].app) if classify(m, p) is None]
    assert unclassified == [], f"classify these routes in tests/access/test_matrix.py: {unclassified}"


# ----------------------------------------------------------------------------------- GET matrix

STAFF = ("manager", "coord")
SIGNED_IN = ("admin", "manager", "coord", "carer")


def _fill(path: str, side: str, site: Site) -> list[str]:
    """Concrete URLs of ``path`` for the own or other branch's records (placeholders for admin-only ids)."""
    s = side.upper()
    match = re.fullmatch(r"/api/v1/([a-z-]+)/\{external_id\}(/history)?", path)
    if match and match.group(1) in KINDS:
        return [f"/api/v1/{match.group(1)}/{KINDS[match.group(1)]}-{s}{match.group(2) or ''}"]
    if path == "/api/v1/explain/{kind}/{external_id}":
        return [
            f"/api/v1/explain/{kind}/{prefix}-{s}"
            for kind, prefix in (("client", "C"), ("worker", "W"), ("visit", "V"), ("plan-visit", "P"))
        ]
    match = re.fullmatch(r"/roster/(clients|workers|visits)/\{external_id\}", path)
    if match:
        return [f"/roster/{match.group(1)}/{match.group(1)[0].upper()}-{s}"]
    if "{device_id}" in path:
        return [path.replace("{device_id}", str(site.devices[side]))]
    return [re.sub(r"\{[^}]+\}", "1", path)]


def _without(text: str, url: str) -> str:
    for part in url.split("/"):
        if "OTHER" in part:
            text = text.replace(part, "")
    return text


def _expect_get(cls: C, caller: str, side: str, *, one_record: bool, path: str) -> set[int]:  # noqa: C901, PLR0911 - one answer per access class and caller
    """The status codes a GET may answer."""
    api = cls in (C.SCOPED_API, C.ADMIN_API, C.DEVICE)
    if cls is C.CONTRACT:  # the page sends anonymous visitors to sign in; the contract itself answers 401
        return ({401} if path.startswith("/api/") else {303}) if caller == "anonymous" else {200}
    if caller == "anonymous":
        return {401} if api or (cls is C.FORMS_READ and side == "api") else {303}
    if caller in ("token", "admin_token"):  # an admin token is the administrator on the API (every branch)
        if cls is C.DEVICE:
            return {401}
        if not api:
            return {303}  # pages need a browser session
        if caller == "token" and not token_may("GET", path):
            return {403}
        return {200} if cls is C.SCOPED_API else {200, 404, 422}
    if cls is C.DEVICE:
        return {401}
    if caller == "carer":
        return {403}
    if cls in (C.ADMIN_API, C.ADMIN_PAGE):
        return {200, 404, 422} if caller == "admin" else {403}
    if caller == "admin" or side == "own" or not one_record:
        return {200}
    return {404}


def test_rule_staff_in_one_branch_cannot_see_case_files_from_another(
    clients: dict[str, TestClient], site: Site
) -> None:
    """Every GET route, every caller, own and other branch: the expected status, and no trace of the other."""
    checked = 0
    for method, path in all_routes(clients["admin"].app):
        cls = classify(method, path)
        if method != "GET" or cls in (C.PUBLIC, C.HOME, C.FORMS_READ, None):
            continue
        one_record = "{" in path
        for side in ("own", "other") if one_record else ("own",):
            for url in _fill(path, side, site):
                for caller, client in clients.items():
                    r = client.get(url, follow_redirects=False)
                    expected = _expect_get(cls, caller, side, one_record=one_record, path=path)
                    assert r.status_code in expected, f"{caller} GET {url}: {r.status_code}, expected {expected}"
                    if caller in STAFF:  # what was asked for may be echoed ("no client with id 'C-OTHER'")
                        found = leaks(_without(r.text, url))
                        assert not found, f"{caller} GET {url} shows {found}"
                    checked += 1
    assert checked > 300


def test_the_leak_markers_would_be_found(clients: dict[str, TestClient]) -> None:
    """The admin sees the other branch: the markers searched for are really in the answers."""
    for url in ("/api/v1/clients", "/roster/clients", "/roster/visits", "/roster/workers", "/api/v1/visits"):
        assert leaks(clients["admin"].get(url).text), url
        for token in ("token", "admin_token"):
            assert leaks(clients[token].get(url).text) or url.startswith("/roster"), (token, url)


def test_lists_counts_and_searches_hold_only_the_own_branch(clients: dict[str, TestClient]) -> None:
    for caller in STAFF:
        c = clients[caller]
        for plural, prefix in KINDS.items():
            body = c.get(f"/api/v1/{plural}").json()
            ids = sorted(i["id"] for i in body["items"])
            expected = {"contracts": ["K-OWN", "K-SHARED"]}.get(plural, [f"{prefix}-OWN"])
            assert ids == expected, (caller, plural, ids)
            assert body["total"] == len(expected)
        for q in ("Zelda", "Hidden", "OTHER", "C-"):
            found = c.get("/api/v1/clients", params={"q": q}).json()
            assert all(i["id"] == "C-OWN" for i in found["items"]), q
        page = c.get("/roster/clients?q=Zelda").text
        assert "0 clients" in page or "No clients" in page or "no clients" in page.lower()
        assert not leaks(page.replace("Zelda", ""))  # the search box echoes what was typed
        assert "Cardiff" not in c.get("/roster/workers").text  # not even as a branch filter option
        assert not leaks(c.get("/roster/visits?client=Hidden").text.replace("Hidden", ""))
        devices = c.get("/api/v1/mobile/devices").json()["items"]
        assert [d["worker_id"] for d in devices] == ["W-OWN"]
    admin_ids = sorted(i["id"] for i in clients["admin"].get("/api/v1/clients").json()["items"])
    assert admin_ids == ["C-OTHER", "C-OWN"]


def test_explain_of_another_branch_reads_as_a_record_that_does_not_exist(clients: dict[str, TestClient]) -> None:
    for caller in STAFF:
        c = clients[caller]
        hidden = c.get("/publishing/explain?kind=client&id=C-OTHER")
        missing = c.get("/publishing/explain?kind=client&id=C-NOPE")
        assert hidden.status_code == missing.status_code == 200
        assert hidden.text.replace("C-OTHER", "X") == missing.text.replace("C-NOPE", "X")
        for kind, ident in (("client", "C-OTHER"), ("visit", "V-OTHER"), ("plan-visit", "P-OTHER")):
            r = c.get(f"/api/v1/explain/{kind}/{ident}")
            nope = c.get(f"/api/v1/explain/{kind}/{ident.replace('OTHER', 'NOPE')}")
            assert r.status_code == nope.status_code == 404
            assert r.json()["error"]["message"].replace("OTHER", "NOPE") == nope.json()["error"]["message"]
        assert c.get("/publishing/explain?kind=client&id=C-OWN").status_code == 200
        assert "Ada" in c.get("/roster/clients/C-OWN").text


# ---------------------------------------------------------------------------- changes, not reads


def test_browser_sessions_never_change_anything_through_the_api(clients: dict[str, TestClient]) -> None:
    for method, path in all_routes(clients["admin"].app):
        if classify(method, path) is not C.TOKEN_WRITE:
            continue
        url = re.sub(r"\{[^}]+\}", "1", path)
        for caller in SIGNED_IN:
            r = clients[caller].request(method, url, json={})
            assert r.status_code == 401, f"{caller} {method} {url}: {r.status_code}"


def test_rule_api_tokens_use_only_their_environments_roster_explain_and_status(
    clients: dict[str, TestClient], site: Site, db: Database
) -> None:
    """Every API route and method, called with the token.

    Off its list: 403 "API tokens cannot ..." and nothing changes. On its list: never refused (placeholder ids
    and empty bodies may be not found or invalid).
    """
    token = clients["token"]
    routes = [
        (m, p) for m, p in all_routes(token.app) if p.startswith("/api/") and classify(m, p) not in (C.PUBLIC, C.DEVICE)
    ]
    refused = [(m, p) for m, p in routes if not token_may(m, p)]
    allowed = [(m, p) for m, p in routes if token_may(m, p)]
    families = {p.split("/")[3] for _, p in refused}
    assert {"environments", "users", "subscriptions", "deliveries", "publishing", "forms", "services"} <= families
    assert {"mobile"} <= families
    before = snapshot(db)
    for method, path in refused:
        url = re.sub(r"\{[^}]+\}", "1", path)
        r = token.request(method, url, json={})
        assert r.status_code == 403, f"token {method} {url}: {r.status_code} {r.text[:200]}"
        message = r.json()["error"]["message"]
        assert message.startswith("API tokens cannot "), f"token {method} {url}: {message}"
    assert snapshot(db) == before, "a refused token call changed something"
    for method, path in allowed:
        url = re.sub(r"\{[^}]+\}", "1", path).replace("/explain/1/", "/explain/client/")
        r = token.request(method, url, json={}) if method != "GET" else token.get(url)
        assert r.status_code != 403, f"token {method} {url}: {r.status_code} {r.text[:200]}"
        assert r.status_code < 500, f"token {method} {url}: {r.status_code} {r.text[:200]}"
    assert len(refused) > 40, len(refused)
    assert len(allowed) > 30, len(allowed)


def test_rule_admin_tokens_go_wherever_a_tenant_administrator_may_on_the_api(clients: dict[str, TestClient]) -> None:
    """Every API route and method, called with an admin token: never refused, never a 500.

    Placeholder ids and empty bodies may be not found, invalid or in conflict. Where the roster token is
    refused, the signed-in administrator's GET answers the same as the admin token's.
    """
    admin_token, admin = clients["admin_token"], clients["admin"]
    routes = [
        (m, p)
        for m, p in all_routes(admin_token.app)
        if p.startswith("/api/") and classify(m, p) not in (C.PUBLIC, C.DEVICE)
    ]
    assert len([r for r in routes if not token_may(*r)]) > 40
    for method, path in routes:
        url = re.sub(r"\{[^}]+\}", "1", path).replace("/explain/1/", "/explain/client/")
        r = admin_token.request(method, url, json={}) if method != "GET" else admin_token.get(url)
        assert r.status_code not in (401, 403), f"admin token {method} {url}: {r.status_code} {r.text[:200]}"
        assert r.status_code < 500, f"admin token {method} {url}: {r.status_code} {r.text[:200]}"
        if method == "GET" and not token_may(method, path):
            assert admin.get(url).status_code == r.status_code, f"admin and admin token differ on GET {url}"


def test_admin_tokens_never_open_the_mobile_device_feed(clients: dict[str, TestClient]) -> None:
    r = clients["admin_token"].get("/api/mobile/v1/sync")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "authentication_required"


def test_admin_tokens_are_administrators_to_the_services_too(db: Database, site: Site) -> None:
    """Behind the API, the services take an admin token's actor as a tenant administrator (every branch)."""
    from carehub.platform.auth import permissions  # noqa: PLC0415
    from carehub.publishing.mobile import service as mobile  # noqa: PLC0415
    from carehub.tenancy import connect  # noqa: PLC0415
    from carehub.tenancy.forms import service as forms  # noqa: PLC0415

    _, secret = auth.do_create_token(
        db, SYSTEM, tenant_id=site.world.tenant.id, environment_id=site.world.env.id, name="ops", scope=TokenScope.ADMIN
    )
    actor = auth.actor_for_token(db, secret)
    assert (actor.kind, actor.role, actor.branch_ids, actor.is_admin) == ("token", Role.ADMIN, None, True)
    assert all(permissions.can(actor, p) for p in permissions.Permission)
    permissions.require_admin(actor, "see the integration's health")
    mobile.require_staff(actor)
    assert forms.require_staff(actor) == site.world.tenant.id
    assert forms.can_edit(actor)
    assert [e.name for e in connect.list_for(db, actor)] == [site.world.env.name]
    code = mobile.do_issue_link_code(db, actor, site.world.env.id, "W-OTHER")  # every branch
    assert code.worker_external_id == "W-OTHER"


def test_api_tokens_are_refused_configuration_by_the_services_too(db: Database, site: Site) -> None:
    """Behind the API, the services refuse a token's actor as well (what the web and the CLI call)."""
    from carehub.platform.auth import permissions  # noqa: PLC0415
    from carehub.platform.errors import PermissionDenied  # noqa: PLC0415
    from carehub.publishing.mobile import service as mobile  # noqa: PLC0415
    from carehub.publishing.service import config  # noqa: PLC0415
    from carehub.tenancy import connect  # noqa: PLC0415
    from carehub.tenancy.access import service as access  # noqa: PLC0415
    from carehub.tenancy.forms import service as forms  # noqa: PLC0415

    actor = auth.actor_for_token(db, site.world.token)
    env = site.world.env.id
    assert not actor.is_admin
    refusals: list[Callable[[], object]] = [
        lambda: connect.do_pause_environment(db, actor, env),
        lambda: connect.list_for(db, actor),
        lambda: access.do_grant_branch(db, actor, "manager", "B-OTHER", tenant_id=site.world.tenant.id),
        lambda: auth.do_set_role(db, actor, "manager", Role.ADMIN),
        lambda: mobile.do_issue_link_code(db, actor, env, "W-OWN"),
        lambda: mobile.do_revoke_device(db, actor, env, site.devices["own"]),
        lambda: permissions.require_admin(actor, "see the integration's health"),
    ]
    for refuse in refusals:
        with pytest.raises(PermissionDenied, match=r"^API tokens cannot "):
            refuse()
    # Defence in depth: the forms and devices services refuse a roster token before anything else.
    staff_only: list[Callable[[], object]] = [
        lambda: forms.require_staff(actor),
        lambda: forms.list_forms(db, actor),
        lambda: mobile.require_staff(actor),
    ]
    for refuse in staff_only:
        with pytest.raises(PermissionDenied, match=r"^API tokens cannot "):
            refuse()
    assert not forms.can_edit(actor)
    with pytest.raises(PermissionDenied):
        config.do_reconcile(db, actor, env)
    assert permissions.can(actor, permissions.Permission.READ_ROSTER)
    assert permissions.can(actor, permissions.Permission.EXPLAIN)
    assert not permissions.can(actor, permissions.Permission.CONFIGURE)


def test_configuration_forms_refuse_everyone_but_administrators(clients: dict[str, TestClient]) -> None:
    for method, path in all_routes(clients["admin"].app):
        if classify(method, path) is not C.ADMIN_POST:
            continue
        action = "pause" if path.startswith("/environments") else "role" if path.startswith("/users") else "archive"
        url = re.sub(r"\{[^}]+\}", "1", path.replace("{action}", action))
        for caller in ("manager", "coord", "carer"):
            c = clients[caller]
            csrf = csrf_of(c.get("/roster/clients").text) if caller != "carer" else "x"
            r = c.post(url, data={"csrf": csrf})
            refused = {403, 404} if "{" in path else {403}  # placeholder ids may be not found first
            assert r.status_code in refused, f"{caller} POST {url}: {r.status_code}"
        assert clients["anonymous"].post(url, data={}).status_code in {303, 401, 403}


def test_device_forms_follow_roles_and_branches(clients: dict[str, TestClient], site: Site) -> None:
    manager, coord, carer = clients["manager"], clients["coord"], clients["carer"]
    for c in (manager, coord):
        csrf = csrf_of(c.get("/mobile/devices").text)
        own = c.post("/mobile/devices/link-code", data={"csrf": csrf, "worker_id": "W-OWN"})
        assert own.status_code == 200
        assert "Enter this code" in own.text or "code" in own.text.lower()
        other = c.post("/mobile/devices/link-code", data={"csrf": csrf, "worker_id": "W-OTHER"})
        assert "No worker with id" in other.text or "no worker with id" in other.text.lower()
        assert not leaks(other.text.replace("W-OTHER", ""))
    csrf = csrf_of(coord.get("/mobile/devices").text)
    assert coord.post(f"/mobile/devices/{site.devices['own']}/revoke", data={"csrf": csrf}).status_code == 403
    csrf = csrf_of(manager.get("/mobile/devices").text)
    assert manager.post(f"/mobile/devices/{site.devices['other']}/revoke", data={"csrf": csrf}).status_code == 404
    assert manager.post(f"/mobile/devices/{site.devices['own']}/revoke", data={"csrf": csrf}).status_code == 303
    assert carer.post("/mobile/devices/link-code", data={"csrf": "x", "worker_id": "W-OWN"}).status_code == 403


def test_forms_and_services_reads_refuse_care_workers_and_strangers(clients: dict[str, TestClient]) -> None:
    """Forms are part C's; here only the role rules every staff route shares (the branch rule is tested there)."""
    for method, path in all_routes(clients["admin"].app):
        if method != "GET" or classify(method, path) is not C.FORMS_READ:
            continue
        url = re.sub(r"\{[^}]+\}", "1", path)
        assert clients["carer"].get(url).status_code == 403, url
        assert clients["anonymous"].get(url).status_code in {303, 401}, url
        for caller in ("admin", "manager", "coord"):
            assert clients[caller].get(url).status_code < 500, (caller, url)
