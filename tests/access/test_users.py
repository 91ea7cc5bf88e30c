"""Users and roles over the REST API, the pages and the command line."""

from __future__ import annotations

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from carehub.platform.db import Database
from tests.access.conftest import Site
from tests.access.support import csrf_of
from tests.cli.support import error_of, run
from tests.conftest import PASSWORD


def test_the_users_api_is_read_by_administrators_and_refused_to_api_tokens(
    clients: dict[str, TestClient], db: Database, site: Site
) -> None:
    """Users, roles and grants: signed-in administrators read them over the API.

    An API token is refused every users route (403) and changes nothing; other roles are refused too.
    """
    admin = clients["admin"]
    listed = admin.get("/api/v1/users").json()["users"]
    by_name = {u["username"]: u for u in listed}
    assert by_name["admin"]["every_branch"] is True
    assert [b["branch_id"] for b in by_name["manager"]["branches"]] == ["B-OWN"]
    assert by_name["carer"]["branches"] == []
    assert admin.get("/api/v1/users/manager").json()["role"] == "branch_manager"
    assert admin.get("/api/v1/users/nobody").status_code == 404
    token = clients["token"]
    for method, url, body in (
        ("GET", "/api/v1/users", None),
        ("GET", "/api/v1/users/admin", None),
        ("POST", "/api/v1/users", {"username": "Nina", "password": PASSWORD, "role": "admin"}),
        ("PATCH", "/api/v1/users/manager", {"role": "admin"}),
        ("POST", "/api/v1/users/manager/branches", {"branch_id": "B-OTHER"}),
        ("DELETE", "/api/v1/users/manager/branches/B-OWN", None),
    ):
        r = token.request(method, url, json=body)
        assert r.status_code == 403, (method, url, r.text)
        assert r.json()["error"]["message"].startswith("API tokens cannot see or change users, roles and branch grants")
    after = {u["username"]: u for u in admin.get("/api/v1/users").json()["users"]}
    assert "nina" not in after
    assert after["manager"]["role"] == "branch_manager"
    assert [b["branch_id"] for b in after["manager"]["branches"]] == ["B-OWN"]
    # Changes over the API need a bearer token (no CSRF on the API), and no token may make these.
    assert admin.post("/api/v1/users", json={}).status_code == 401
    for caller in ("manager", "coord", "carer"):
        assert clients[caller].get("/api/v1/users").status_code == 403
        assert clients[caller].get("/api/v1/users/admin").status_code == 403


def test_the_users_pages_for_administrators(clients: dict[str, TestClient], site: Site) -> None:
    admin = clients["admin"]
    page = admin.get("/users")
    assert page.status_code == 200
    assert 'href="/users"' in page.text  # the nav link, for administrators
    assert 'href="/users"' not in clients["coord"].get("/roster/clients").text
    assert 'href="/deliveries"' not in clients["coord"].get("/roster/clients").text
    assert "Bristol (B-OWN)" in page.text
    csrf = csrf_of(page.text)
    r = admin.post("/users", data={"csrf": csrf, "username": "ola", "password": PASSWORD, "role": "branch_manager"})
    assert (r.status_code, r.headers["location"]) == (303, "/users/ola")
    short = admin.post("/users", data={"csrf": csrf, "username": "pip", "password": "x", "role": "coordinator"})
    assert short.status_code == 422
    assert "at least 10 characters" in short.text
    detail = admin.get("/users/ola")
    assert "No branch" in detail.text
    assert (
        admin.post("/users/ola/grant", data={"csrf": csrf, "branch": f"{site.world.env.id}:B-OTHER"}).status_code == 303
    )
    assert "Cardiff" in admin.get("/users/ola").text
    assert (
        admin.post("/users/ola/revoke", data={"csrf": csrf, "branch": f"{site.world.env.id}:B-OTHER"}).status_code
        == 303
    )
    assert admin.post("/users/ola/role", data={"csrf": csrf, "role": "coordinator"}).status_code == 303
    assert admin.post("/users/ola/deactivate", data={"csrf": csrf}).status_code == 303
    assert "Deactivated" in admin.get("/users").text
    refused = admin.post("/users/admin/deactivate", data={"csrf": csrf})
    assert refused.status_code == 409
    assert "cannot deactivate yourself" in refused.text
    assert admin.get("/users/nobody").status_code == 404


def test_the_user_commands_grant_revoke_and_list_branches(carehub: CliRunner, site: Site) -> None:
    shown = run(carehub, "user", "grant", "coord", "--branch", "B-OTHER", "--json")
    assert sorted(b["branch_id"] for b in shown["branches"]) == ["B-OTHER", "B-OWN"]
    listed = {u["username"]: u for u in run(carehub, "user", "list", "--json")}
    assert listed["admin"]["branches"] == "*"
    assert sorted(listed["coord"]["branches"]) == ["B-OTHER", "B-OWN"]
    table = run(carehub, "user", "list")
    assert "every branch" in table
    assert "B-OWN" in table
    run(carehub, "user", "revoke", "coord", "--branch", "B-OTHER")
    assert {u["username"]: u["branches"] for u in run(carehub, "user", "list", "--json")}["coord"] == ["B-OWN"]
    assert "no branch with id 'B-NOPE'" in error_of(carehub, "user", "grant", "coord", "--branch", "B-NOPE", "--json")
    assert "no environment 999" in error_of(
        carehub, "user", "grant", "coord", "--branch", "B-OWN", "--environment", "999", "--json"
    )
    text = run(carehub, "user", "grant", "manager", "--branch", "B-OTHER")
    assert "Cardiff (B-OTHER" in text
    assert "branch_manager" in run(carehub, "user", "set-role", "coord", "branch_manager")
    assert "deactivated" in run(carehub, "user", "deactivate", "coord")
