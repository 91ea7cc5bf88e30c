"""Forms and services over REST, pages and the CLI: administrators write, staff read their branches' forms."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from carehub.cli import app as cli
from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import SYSTEM, Actor, Role, TokenScope
from carehub.platform.db import Database
from carehub.tenancy import service as tenancy
from carehub.tenancy.forms import service as forms
from tests.conftest import World
from tests.forms.conftest import NOTES, Branches, fields

SignedIn = Callable[..., TestClient]


def _ok(r: Any, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    return body


def test_rest_forms_and_services_for_an_administrator(
    admin_api: TestClient, api: TestClient, branches: Branches
) -> None:
    created = _ok(admin_api.post("/api/v1/forms", json={"key": "notes", "title": "Notes", "fields": NOTES}), 201)
    assert (created["id"], [v["version"] for v in created["versions"]]) == ("notes@1", [1])
    edited = _ok(
        admin_api.put("/api/v1/forms/notes", json={"title": "Notes", "fields": fields("x"), "expected_version": 1})
    )
    assert edited["version"] == 2
    assert _ok(admin_api.get("/api/v1/forms/notes/versions/1"))["fields"][0]["key"] == "mood"
    stale = admin_api.put("/api/v1/forms/notes", json={"title": "Notes", "fields": NOTES, "expected_version": 1})
    assert stale.status_code == 409
    service = _ok(
        admin_api.post(
            "/api/v1/services", json={"name": "Home care", "forms": ["notes"], "branch_ids": [branches.bristol]}
        ),
        201,
    )
    assert service["forms"] == [{"key": "notes", "title": "Notes", "id": "notes@2"}]
    assert [b["id"] for b in service["branches"]] == [branches.bristol]
    patched = _ok(
        admin_api.patch(f"/api/v1/services/{service['id']}", json={"branch_ids": [branches.bristol, branches.bath]})
    )
    assert {b["id"] for b in patched["branches"]} == {branches.bristol, branches.bath}
    own = _ok(admin_api.post("/api/v1/services/dedicated", json={"branch_id": branches.bath}), 201)
    assert own["dedicated_to_branch"]["id"] == branches.bath
    assert own["forms"][0]["id"] == "notes@2"
    listed = _ok(admin_api.get("/api/v1/forms", params={"branch_id": branches.bath}))["forms"]
    assert [f["id"] for f in listed] == ["notes@2"]
    branches_out = _ok(admin_api.get("/api/v1/services/branches"))["branches"]
    assert {b["name"]: [s["name"] for s in b["services"]] for b in branches_out} == {
        "Bath": ["Bath (own forms)"],
        "Bristol": ["Home care"],
    }
    assert _ok(admin_api.post("/api/v1/forms/notes/archive"))["archived"] is True
    assert _ok(admin_api.post("/api/v1/forms/notes/restore"))["archived"] is False
    imported = _ok(
        admin_api.post("/api/v1/forms/import", json={"forms": [{"key": "falls", "title": "Falls", "fields": NOTES}]})
    )
    assert imported["forms"] == [{"key": "falls", "outcome": "created", "version": 1, "id": "falls@1"}]


def test_rest_refusals_are_specific_and_never_500(admin_api: TestClient, api: TestClient, branches: Branches) -> None:
    bad = admin_api.post(
        "/api/v1/forms",
        json={"key": "notes", "title": "Notes", "fields": [{"key": "q", "label": "Q", "type": "essay"}]},
    )
    assert bad.status_code == 422
    rows = bad.json()["error"]["errors"]
    assert [(r["field"], r["value"]) for r in rows] == [("fields[0].type", "essay")]
    assert "choice" in rows[0]["reason"]
    assert admin_api.get("/api/v1/forms/nope").status_code == 404
    assert admin_api.get("/api/v1/services/99").status_code == 404
    assert admin_api.post("/api/v1/services", json={"name": "S", "branch_ids": [999999]}).status_code == 422
    assert admin_api.post("/api/v1/forms", json={"key": "x", "title": "X", "fields": "nope"}).status_code == 422
    assert admin_api.post("/api/v1/forms", json={"key": "x" * 300, "title": "X", "fields": []}).status_code == 422
    assert admin_api.put("/api/v1/forms/notes", json={"title": "T", "fields": NOTES}).status_code == 404


def test_staff_see_their_branches_forms_only(
    container: Any, db: Database, world: World, admin: Actor, branches: Branches, signed_in_as: SignedIn
) -> None:
    for key in ("a", "b"):
        forms.do_create_form(db, admin, key=key, title=key.upper(), fields=fields("x"))
    forms.do_create_service(db, admin, name="Bristol care", form_keys=["a"], branch_ids=[branches.bristol])
    forms.do_create_service(db, admin, name="Bath care", form_keys=["b"], branch_ids=[branches.bath])
    bath = signed_in_as("bea", Role.COORDINATOR, "B2")
    assert [f["key"] for f in _ok(bath.get("/api/v1/forms"))["forms"]] == ["b"]
    assert bath.get("/api/v1/forms/a").status_code == 404
    assert [s["name"] for s in _ok(bath.get("/api/v1/services"))["services"]] == ["Bath care"]
    assert bath.get("/forms/a").status_code == 404
    page = bath.get("/forms/b")
    assert page.status_code == 200
    assert "Save new version" not in page.text  # read-only for a coordinator
    assert bath.get("/forms/new").status_code == 403
    # A session cannot write over the API (tokens only), and the page refuses a coordinator's edit.
    assert bath.put("/api/v1/forms/b", json={"title": "B", "fields": fields("y")}).status_code == 401
    worker = signed_in_as("cal", Role.CARE_WORKER)
    assert worker.get("/api/v1/forms").status_code == 403
    assert worker.get("/forms").status_code == 403
    # Another tenant's token finds nothing of this one.
    other, env = tenancy.do_create_tenant(db, SYSTEM, name="Other Care", timezone="Europe/London")
    _, token = auth.do_create_token(
        db, SYSTEM, tenant_id=other.id, environment_id=env.id, name="t", scope=TokenScope.ADMIN
    )
    with TestClient(bath.app, headers={"Authorization": f"Bearer {token}"}) as theirs:
        assert theirs.get("/api/v1/forms/a").status_code == 404
        assert _ok(theirs.get("/api/v1/forms"))["forms"] == []
        assert theirs.post("/api/v1/services", json={"name": "S", "branch_ids": [branches.bath]}).status_code == 422


def test_cli_forms_and_services(carehub: CliRunner, world: World, branches: Branches, tmp_path: Path) -> None:
    document = tmp_path / "forms.json"
    document.write_text(json.dumps({"forms": [{"key": "notes", "title": "Notes", "fields": NOTES}]}))
    done = carehub.invoke(cli, ["forms", "import", str(document), "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["forms"][0]["outcome"] == "created"
    created = carehub.invoke(
        cli, ["services", "create", "Home care", "--form", "notes", "--branch", str(branches.bristol), "--json"]
    )
    assert created.exit_code == 0, created.output
    service = json.loads(created.output)
    listed = json.loads(carehub.invoke(cli, ["forms", "list", "--branch", str(branches.bristol), "--json"]).output)
    assert [f["id"] for f in listed] == ["notes@1"]
    document.write_text(json.dumps({"forms": [{"key": "notes", "title": "Notes", "fields": fields("x")}]}))
    assert carehub.invoke(cli, ["forms", "import", str(document)]).exit_code == 0
    shown = json.loads(carehub.invoke(cli, ["forms", "show", "notes", "--json"]).output)
    assert [v["version"] for v in shown["versions"]] == [2, 1]
    old = json.loads(carehub.invoke(cli, ["forms", "show", "notes", "--version", "1", "--json"]).output)
    assert old["fields"][0]["key"] == "mood"
    own = carehub.invoke(cli, ["services", "dedicate", str(branches.bristol), "--json"])
    assert own.exit_code == 0, own.output
    assert json.loads(own.output)["dedicated_to_branch"]["id"] == branches.bristol
    services = json.loads(carehub.invoke(cli, ["services", "list", "--json"]).output)
    assert {s["name"]: [b["id"] for b in s["branches"]] for s in services} == {
        "Bristol (own forms)": [branches.bristol],
        "Home care": [],
    }
    renamed = carehub.invoke(cli, ["services", "update", str(service["id"]), "--name", "Home care (all)", "--json"])
    assert json.loads(renamed.output)["name"] == "Home care (all)"
    assert "Bristol" in carehub.invoke(cli, ["services", "branches"]).output
    assert carehub.invoke(cli, ["forms", "list"]).exit_code == 0
    # Refusals: the reason and exit 1, nothing changed.
    document.write_text(json.dumps({"forms": [{"key": "bad", "title": "Bad", "fields": [{"key": "q"}]}]}))
    refused = carehub.invoke(cli, ["forms", "import", str(document), "--json"])
    assert refused.exit_code == 1
    fields_refused = {e["field"] for e in json.loads(refused.output)["error"]["errors"]}
    assert fields_refused == {"fields[0].label", "fields[0].type"}
    assert carehub.invoke(cli, ["forms", "show", "bad"]).exit_code == 1
    assert carehub.invoke(cli, ["forms", "archive", "notes"]).exit_code == 0
    exported = json.loads(carehub.invoke(cli, ["forms", "export"]).output)
    assert exported == {"forms": []}
