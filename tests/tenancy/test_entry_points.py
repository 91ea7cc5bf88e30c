"""Environments over the REST API and the CLI: list, connect with a dry run, pause, resume, login changes."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from carehub.cli import app
from tests.tenancy.support import Standalone


def test_api_connects_with_a_dry_run_then_applies_pauses_resumes_and_exports_logins(
    primary: TestClient, southwest: Standalone
) -> None:
    body = {"name": "SouthWest", "prefix": "SouthWest", "source_tenant": "SouthWest Care"}
    dry = primary.post("/api/v1/environments", json=body)
    assert dry.status_code == 200, dry.text
    assert dry.json()["dry_run"] is True
    assert dry.json()["usernames"][0]["new_username"] == "SouthWest.wmobile"
    bad = primary.post("/api/v1/environments", json={**body, "prefix": "South-West"})
    assert bad.status_code == 422
    assert bad.json()["error"]["errors"][0]["field"] == "prefix"
    done = primary.post("/api/v1/environments", json={**body, "dry_run": False})
    assert done.status_code == 200, done.text
    env = done.json()["environment"]["id"]
    again = primary.post("/api/v1/environments", json={**body, "dry_run": False})
    assert again.status_code == 409
    names = [e["name"] for e in primary.get("/api/v1/environments").json()["environments"]]
    assert names == ["Primary", "SouthWest"]
    assert primary.post(f"/api/v1/environments/{env}/pause").json()["status"] == "paused"
    assert primary.post(f"/api/v1/environments/{env}/resume").json()["environment"]["status"] == "active"
    csv_text = primary.get(f"/api/v1/environments/{env}/login-changes").text
    assert csv_text.splitlines()[1] == "Wren Mobile,wmobile,SouthWest.wmobile,SouthWest - Bristol"
    assert primary.post("/api/v1/environments/999999/pause").status_code == 404


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
