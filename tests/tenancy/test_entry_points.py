"""Environments over the REST API (read by administrators, refused to API tokens) and the CLI."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from carehub import bootstrap
from carehub.cli import app
from carehub.platform.auth.actor import Actor
from carehub.tenancy import connect
from tests.access.conftest import signed_in
from tests.tenancy.support import Standalone


def test_api_environments_are_read_by_administrators_and_refused_to_api_tokens(
    container: bootstrap.Container, admin: Actor, primary: TestClient, southwest: Standalone
) -> None:
    """The environments API lists environments and exports login changes for a signed-in administrator.

    An API token (a rostering system's credential for one environment) is refused every environments route.
    """
    body = {"name": "SouthWest", "prefix": "SouthWest", "source_tenant": "SouthWest Care"}
    for method, url, payload in (
        ("POST", "/api/v1/environments", body),
        ("POST", "/api/v1/environments", {**body, "dry_run": False}),
        ("GET", "/api/v1/environments", None),
        ("POST", "/api/v1/environments/1/pause", None),
        ("POST", "/api/v1/environments/1/resume", None),
        ("GET", "/api/v1/environments/1/login-changes", None),
    ):
        r = primary.request(method, url, json=payload)
        assert r.status_code == 403, (method, url, r.text)
        assert r.json()["error"]["message"].startswith("API tokens cannot connect, pause, resume or list environments")
    assert [e.name for e in connect.list_for(container.db, admin)] == ["Primary"]  # nothing was connected
    plan = connect.do_connect_environment(container.db, admin, **body, dry_run=False)  # type: ignore[arg-type]
    assert plan.environment is not None
    env = plan.environment.id
    browser = signed_in(container, "admin")
    try:
        names = [e["name"] for e in browser.get("/api/v1/environments").json()["environments"]]
        assert names == ["Primary", "SouthWest"]
        csv_text = browser.get(f"/api/v1/environments/{env}/login-changes").text
        assert csv_text.splitlines()[1] == "Wren Mobile,wmobile,SouthWest.wmobile,SouthWest - Bristol"
        assert browser.get("/api/v1/environments/999999/login-changes").status_code == 404
        # Changes over the API need a bearer token, and no token may make them: a session is not enough.
        assert browser.post(f"/api/v1/environments/{env}/pause").status_code == 401
    finally:
        browser.__exit__(None, None, None)


def test_cli_env_connect_dry_run_list_pause_resume_and_login_changes(
    carehub: CliRunner, primary: TestClient, southwest: Standalone
) -> None:
    common = ["--tenant", "Sunrise Care"]
    dry = carehub.invoke(
        app,
        [
            "env",
            "connect",
            "SouthWest",
            "--prefix",
            "SouthWest",
            "--from-tenant",
            "SouthWest Care",
            "--dry-run",
            "--json",
            *common,
        ],
    )
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["visit_ids"] == [{"record": "V1", "old": "V1", "new": "SouthWest-V1"}]
    done = carehub.invoke(
        app, ["env", "connect", "SouthWest", "--prefix", "SouthWest", "--from-tenant", "SouthWest Care", *common]
    )
    assert done.exit_code == 0, done.output
    assert "Connected 'SouthWest'" in done.output
    listed = carehub.invoke(app, ["env", "list", "--json", *common])
    assert [e["name"] for e in json.loads(listed.output)] == ["Primary", "SouthWest"]
    assert carehub.invoke(app, ["env", "pause", "SouthWest", *common]).exit_code == 0
    resumed = carehub.invoke(app, ["env", "resume", "SouthWest", *common])
    assert "resumed" in resumed.output
    logins = carehub.invoke(app, ["env", "login-changes", "SouthWest", *common])
    assert logins.output.splitlines()[0] == "name,old username,new username,branch"
    refused = carehub.invoke(app, ["env", "connect", "X", "--prefix", "X!", "--json", *common])
    assert refused.exit_code == 1
    assert json.loads(refused.output)["error"]["errors"][0]["field"] == "prefix"
