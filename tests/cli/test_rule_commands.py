"""``carehub`` commands the other CLI tests leave out: db upgrade, serve, JSON-lines imports. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from carehub.platform import schema
from carehub.tables import metadata
from tests.cli.support import run

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_rule_db_upgrade_builds_the_schema_from_an_empty_database_and_twice_changes_nothing(
    empty_engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CAREHUB_DATABASE_URL", empty_engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CAREHUB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CAREHUB_MODE", raising=False)
    assert inspect(empty_engine).get_table_names() == []
    runner = CliRunner()
    first = run(runner, "db", "upgrade")
    head = schema.current_revision(empty_engine)
    assert head
    assert f"Database at revision {head}" in first
    tables = set(inspect(empty_engine).get_table_names())
    assert set(metadata.tables) <= tables
    again = run(runner, "db", "upgrade", "--json")
    assert again == {"database": empty_engine.dialect.name, "revision": head, "previous": head}
    assert set(inspect(empty_engine).get_table_names()) == tables
    # The upgraded database is usable at once.
    assert run(runner, "tenant", "create", "Sunrise Care", "--json")["tenant"]["name"] == "Sunrise Care"


def test_rule_roster_import_of_json_lines_reports_every_line_as_json(carehub: CliRunner, tmp_path: Path) -> None:
    run(carehub, "tenant", "create", "Sunrise Care")
    for kind, text in (
        ("branches", '{"id": "B1", "version": 1, "name": "Bristol"}\n'),
        ("contracts", '{"id": "K1", "version": 1, "name": "Council", "funder": "council"}\n'),
        ("clients", '{"id": "C1", "version": 1, "branch_id": "B1", "first_name": "Ada", "last_name": "Lovelace"}\n'),
        (
            "workers",
            (
                '{"id": "W1", "version": 1, "branch_id": "B1", "first_name": "Wren", "last_name": "One"}\n'
                '{"id": "W2", "version": 1, "branch_id": "B1", "first_name": "Wren", "last_name": "Two"}\n'
            ),
        ),
    ):
        report = run(carehub, "roster", "import", kind, str(_write(tmp_path, f"{kind}.jsonl", text)), "--json")
        assert (report["format"], report["rejected"]) == ("jsonl", 0), report
    visit = {"client_id": "C1", "contract_id": "K1", "start": "2026-03-29T08:00:00+01:00"}
    lines = [
        json.dumps({**visit, "id": "V1", "version": 1, "end": "2026-03-29T09:00:00+01:00", "kind": "adhoc"}),
        json.dumps(
            {
                **visit,
                "id": "V2",
                "version": 1,
                "end": "2026-03-29T09:00:00+01:00",
                "carers_needed": 2,
                "worker_ids": ["W1", "W2"],
            }
        ),
        "[1, 2",
        json.dumps({**visit, "id": "V3", "version": 1, "end": "2026-03-29T07:00:00+01:00"}),
        json.dumps({**visit, "id": "V4", "version": 1, "end": "2026-03-29T09:00:00+01:00", "worker_ids": ["W404"]}),
    ]
    visits = str(_write(tmp_path, "visits.jsonl", "\n".join(lines) + "\n"))
    report = run(carehub, "roster", "import", "visits", visits, "--json")
    assert (report["kind"], report["format"], report["read"], report["created"], report["rejected"]) == (
        "visit",
        "jsonl",
        5,
        2,
        3,
    )
    assert [(e["line"], e["id"], e["field"], e["value"], e["code"]) for e in report["errors"]] == [
        (3, None, None, None, "invalid_json"),
        (4, "V3", "end", "2026-03-29T06:00:00+00:00", "end_before_start"),
        (5, "V4", "worker_ids", "W404", "unknown_worker"),
    ]
    again = run(carehub, "roster", "import", "visits", visits, "--json")
    assert (again["created"], again["updated"], again["unchanged"], again["rejected"]) == (0, 0, 2, 3)
    history = run(carehub, "roster", "history", "visits", "V2", "--json")
    [entry] = history["entries"]
    assert entry["changes"]["worker_ids"] == {"before": None, "after": ["W1", "W2"]}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_rule_serve_answers_health_and_refuses_the_api_and_its_contract_without_sign_in(
    db_url: str, tmp_path: Path
) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "CAREHUB_DATABASE_URL": db_url,
        "CAREHUB_DATA_DIR": str(tmp_path / "data"),
        "CAREHUB_SECRET_KEY": "serve-test-secret",
    }
    env.pop("CAREHUB_MODE", None)
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [sys.executable, "-m", "carehub", "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        health = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert health is not None, log_path.read_text(errors="replace")
        assert health.status_code == 200
        anonymous = httpx.get(f"{base}/api/v1/clients", timeout=5)
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["code"] == "authentication_required"
        docs = httpx.get(f"{base}/docs", timeout=5)  # a page: anonymous visitors are sent to sign in
        assert (docs.status_code, docs.headers["location"]) == (303, "/sign-in?next=%2Fdocs")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
