"""The ``carehub`` command line against the test database, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from carehub.platform import audit
from carehub.platform.audit import AuditEntry
from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import SYSTEM
from carehub.platform.db import Database
from carehub.platform.errors import AuthenticationRequired
from tests.cli.support import error_of, run

PASSWORD = "a long enough password"


def test_tenant_create(carehub: CliRunner) -> None:
    made = run(carehub, "tenant", "create", "Sunrise Care", "--timezone", "Europe/London", "--json")
    assert made["tenant"]["name"] == "Sunrise Care"
    assert isinstance(made["tenant"]["id"], int)
    assert isinstance(made["primary_environment"], int)
    assert "Tenant 'Other' created" in run(carehub, "tenant", "create", "Other")


def test_tenant_create_refuses_a_duplicate_and_an_unknown_zone(carehub: CliRunner) -> None:
    run(carehub, "tenant", "create", "Sunrise Care")
    assert error_of(carehub, "tenant", "create", "Sunrise Care", "--json") == "tenant 'Sunrise Care' exists"
    assert "unknown time zone 'Mars/Olympus'" in error_of(
        carehub, "tenant", "create", "X", "--timezone", "Mars/Olympus"
    )


def test_user_create_and_list(carehub: CliRunner, db: Database) -> None:
    run(carehub, "tenant", "create", "Sunrise Care")
    made = run(carehub, "user", "create", "Ada", "--password", PASSWORD, "--role", "coordinator", "--json")
    assert made == {"id": made["id"], "username": "ada", "role": "coordinator"}
    run(carehub, "user", "create", "bea", "--password", PASSWORD, "--name", "Bea Admin")
    users = run(carehub, "user", "list", "--json")
    assert [(u["username"], u["role"], u["active"]) for u in users] == [
        ("ada", "coordinator", True),
        ("bea", "admin", True),
    ]
    table = run(carehub, "user", "list")
    assert "Bea Admin" in table
    for output in (json.dumps(users), table):
        assert PASSWORD not in output
        assert "argon2" not in output
    assert auth.authenticate(db, "ada", PASSWORD).label == "ada"


def test_user_create_refuses_a_short_password_and_a_taken_name(carehub: CliRunner) -> None:
    run(carehub, "tenant", "create", "Sunrise Care")
    short = error_of(carehub, "user", "create", "ada", "--password", "short", "--json")
    assert short == "password too short: at least 10 characters"
    run(carehub, "user", "create", "ada", "--password", PASSWORD)
    assert error_of(carehub, "user", "create", "ADA", "--password", PASSWORD) == "Error: username 'ada' is taken"


def test_token_create_list_and_revoke(carehub: CliRunner, db: Database) -> None:
    run(carehub, "tenant", "create", "Sunrise Care")
    made = run(carehub, "token", "create", "rostering", "--json")
    secret = made["token"]
    assert secret.startswith("chk_")
    assert auth.actor_for_token(db, secret).environment_id == made["environment_id"]
    listed = run(carehub, "token", "list", "--json")
    assert [(t["id"], t["name"], t["prefix"], t["revoked_at"]) for t in listed] == [
        (made["id"], "rostering", secret[:12], None)
    ]
    assert secret not in json.dumps(listed)
    assert secret not in run(carehub, "token", "list")
    revoked = run(carehub, "token", "revoke", str(made["id"]), "--json")
    assert revoked["id"] == made["id"]
    assert revoked["revoked_at"] is not None
    assert run(carehub, "token", "list", "--json")[0]["revoked_at"] == revoked["revoked_at"]
    with pytest.raises(AuthenticationRequired):
        auth.actor_for_token(db, secret)
    assert error_of(carehub, "token", "revoke", "999", "--json") == "no API token 999"
    assert "Token" in run(carehub, "token", "revoke", str(made["id"]))  # revoking twice changes nothing


def test_token_create_refuses_another_tenants_environment(carehub: CliRunner) -> None:
    run(carehub, "tenant", "create", "Sunrise Care")
    other = run(carehub, "tenant", "create", "Other", "--json")
    message = error_of(
        carehub, "token", "create", "x", "--tenant", "Sunrise Care", "--environment", str(other["primary_environment"])
    )
    assert f"environment {other['primary_environment']} is not in tenant 'Sunrise Care'" in message
    assert error_of(carehub, "token", "create", "x", "--tenant", "Sunrise Care", "--environment", "9999", "--json") == (
        "no environment 9999"
    )


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_roster_import_of_a_small_csv_and_its_history(carehub: CliRunner, tmp_path: Path) -> None:
    run(carehub, "tenant", "create", "Sunrise Care")
    branches = _write(tmp_path, "branches.csv", "id,version,name\nB1,1,Bristol\n")
    assert run(carehub, "roster", "import", "branches", branches, "--json")["created"] == 1
    clients = _write(
        tmp_path,
        "clients.csv",
        "id,version,branch_id,first_name,last_name,postcode\n"
        "C1,1,B1,Ada,Lovelace,BS1 4DJ\n"
        "C2,1,B404,Bea,Baker,\n"
        "C3,1,B1,Cy,Cole,NOT A CODE\n",
    )
    report = run(carehub, "roster", "import", "clients", clients, "--json")
    assert (report["read"], report["created"], report["rejected"]) == (3, 1, 2)
    assert [(e["line"], e["id"], e["field"], e["value"]) for e in report["errors"]] == [
        (3, "C2", "branch_id", "B404"),
        (4, "C3", "postcode", "NOT A CODE"),
    ]
    assert "branch not found" in report["errors"][0]["reason"]
    again = run(carehub, "roster", "import", "clients", clients)
    assert "unchanged 1" in again
    assert "line 3: C2 branch_id='B404'" in " ".join(again.split())

    history = run(carehub, "roster", "history", "clients", "C1", "--json")
    assert (history["kind"], history["id"]) == ("client", "C1")
    [entry] = history["entries"]
    assert (entry["action"], entry["actor"]) == ("create", {"kind": "system", "label": "carehub"})
    assert entry["changes"]["postcode"] == {"before": None, "after": "BS1 4DJ"}
    assert entry["changes"]["branch_id"] == {"before": None, "after": "B1"}
    assert entry["at"].endswith("+00:00")
    table = run(carehub, "roster", "history", "clients", "C1")
    assert "create" in table
    assert "carehub" in table


def test_roster_history_shows_updates_newest_first(carehub: CliRunner, tmp_path: Path) -> None:
    run(carehub, "tenant", "create", "Sunrise Care")
    run(carehub, "roster", "import", "branches", _write(tmp_path, "b1.csv", "id,version,name\nB1,1,Bristol\n"))
    run(carehub, "roster", "import", "branches", _write(tmp_path, "b2.csv", "id,version,name\nB1,2,Bath\n"))
    entries = run(carehub, "roster", "history", "branches", "B1", "--json")["entries"]
    assert [e["action"] for e in entries] == ["update", "create"]
    assert entries[0]["changes"] == {
        "name": {"before": "Bristol", "after": "Bath"},
        "version": {"before": 1, "after": 2},
    }


def test_errors_exit_1_with_a_clear_message(carehub: CliRunner, tmp_path: Path) -> None:
    branches = _write(tmp_path, "branches.csv", "id,version,name\nB1,1,Bristol\n")
    assert error_of(carehub, "user", "list") == "Error: no tenant yet: run 'carehub tenant create'"
    assert error_of(carehub, "roster", "import", "branches", branches, "--json") == (
        "no tenant yet: run 'carehub tenant create'"
    )
    run(carehub, "tenant", "create", "Sunrise Care")
    run(carehub, "tenant", "create", "Other")
    assert error_of(carehub, "token", "list", "--json") == "2 tenants exist; choose one with --tenant"
    assert error_of(carehub, "user", "list", "--tenant", "Nope") == "Error: no tenant named 'Nope'"
    unknown = error_of(carehub, "roster", "import", "people", branches, "--tenant", "Other", "--json")
    assert unknown.startswith("unknown record kind 'people'; expected one of branches")
    assert error_of(carehub, "roster", "history", "clients", "NOPE", "--tenant", "Other", "--json") == (
        "no client with id 'NOPE'"
    )
    assert "unknown record kind 'client'" in error_of(carehub, "roster", "history", "client", "C1", "--tenant", "Other")
    bad = _write(tmp_path, "bad.csv", "id,version,colour\nB1,1,red\n")
    message = error_of(carehub, "roster", "import", "branches", bad, "--tenant", "Other", "--json")
    assert message.startswith("unknown column(s) colour")


def test_roster_history_lists_views_only_when_asked(carehub: CliRunner, db: Database, tmp_path: Path) -> None:
    run(carehub, "tenant", "create", "Sunrise Care")
    run(carehub, "roster", "import", "branches", _write(tmp_path, "b1.csv", "id,version,name\nB1,1,Bristol\n"))
    created = run(carehub, "roster", "history", "branches", "B1", "--json")["entries"]
    with db.read() as session:
        row = session.scalars(select(AuditEntry).where(AuditEntry.external_id == "B1")).one()
    with db.transaction() as session:
        audit.record(session, SYSTEM, audit.Change("branch", row.entity_id, "view", {}, "B1", row.environment_id))
    assert run(carehub, "roster", "history", "branches", "B1", "--json")["entries"] == created
    with_views = run(carehub, "roster", "history", "branches", "B1", "--views", "--json")["entries"]
    assert [e["action"] for e in with_views] == ["view", "create"]
