"""Loading the demo into a real database (SQLite and PostgreSQL) through the service layer and the CLI."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from carehub import bootstrap
from carehub.cli import app
from carehub.demo import load
from carehub.demo.generator import TENANT_NAME, DemoData, Scale, generate
from carehub.platform.audit import AuditEntry
from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import Role
from carehub.platform.db import Database
from carehub.publishing.domain import catalogue
from carehub.publishing.service.explain import do_explain
from carehub.roster.domain.kinds import LOAD_ORDER, RecordKind
from carehub.roster.tables import TABLES, Visit

TODAY = date(2026, 3, 20)


@pytest.fixture(scope="module")
def small() -> DemoData:
    return generate(Scale.SMALL, today=TODAY)


def stored_counts(db: Database, environment_id: int) -> dict[RecordKind, int]:
    with db.read() as session:
        return {
            kind: session.scalar(
                select(func.count())
                .select_from(TABLES[kind.value])
                .where(TABLES[kind.value].environment_id == environment_id)
            )
            or 0
            for kind in LOAD_ORDER
        }


def confirmed_ids(db: Database, environment_id: int) -> set[str]:
    with db.read() as session:
        return set(
            session.scalars(
                select(Visit.external_id).where(Visit.environment_id == environment_id, Visit.confirmed_at.is_not(None))
            )
        )


def test_small_loads_through_the_service_layer_with_nothing_rejected(db: Database, small: DemoData) -> None:
    actor = load.demo_actor(None, None)
    tenant, env, created = load.ensure_tenant(db, actor, TENANT_NAME)
    assert created
    actor = load.demo_actor(tenant.id, env.id)
    assert not load.has_roster_data(db, tenant.id)
    steps: dict[str, int] = {}

    def progress(step: str, n: int) -> None:
        steps[step] = steps.get(step, 0) + n

    results = load.load_in_batches(db, actor, env.id, small, batch_size=500, progress=progress)
    assert {k: r.rejected for k, r in results.items()} == dict.fromkeys(LOAD_ORDER, 0)
    assert {k: r.created for k, r in results.items()} == small.counts()
    assert steps == {k.value: n for k, n in small.counts().items()}
    assert stored_counts(db, env.id) == small.counts()
    assert load.has_roster_data(db, tenant.id)

    assert load.confirm_visits(db, actor, env.id, small.confirmed_visit_ids) == len(small.confirmed_visit_ids)
    assert confirmed_ids(db, env.id) == small.confirmed_visit_ids
    # Confirming is audited by the service layer, with the demo actor.
    with db.read() as session:
        audited = {
            (row[0], row[1])
            for row in session.execute(
                select(AuditEntry.external_id, AuditEntry.actor_label).where(
                    AuditEntry.entity == "visit", AuditEntry.action.like("confirm%")
                )
            )
        }
    assert audited == {(vid, "carehub demo load") for vid in small.confirmed_visit_ids}

    # A second load changes nothing.
    again = load.load_in_batches(db, actor, env.id, small, batch_size=5000)
    assert {k: r.unchanged for k, r in again.items()} == small.counts()
    assert load.confirm_visits(db, actor, env.id, small.confirmed_visit_ids) == 0


def test_small_loads_through_file_imports(db: Database, small: DemoData) -> None:
    tenant, env, _ = load.ensure_tenant(db, load.demo_actor(None, None), TENANT_NAME)
    actor = load.demo_actor(tenant.id, env.id)
    steps: dict[str, int] = {}

    def progress(step: str, n: int) -> None:
        steps[step] = steps.get(step, 0) + n

    results = load.load_as_files(db, actor, env.id, small, progress=progress)
    assert {k: (r.rejected, r.errors) for k, r in results.items()} == dict.fromkeys(LOAD_ORDER, (0, []))
    assert {k: r.created for k, r in results.items()} == small.counts()
    assert steps == {
        **{k.value: n for k, n in small.counts().items()},
        **{f"write:{k.value}": n for k, n in small.counts().items()},
    }
    assert stored_counts(db, env.id) == small.counts()


def test_demo_users_can_sign_in(db: Database) -> None:
    tenant, env, _ = load.ensure_tenant(db, load.demo_actor(None, None), TENANT_NAME)
    sign_ins = load.ensure_users(db, load.demo_actor(tenant.id, env.id), tenant)
    assert [s.role for s in sign_ins] == [Role.ADMIN, Role.BRANCH_MANAGER, Role.COORDINATOR]
    assert all(s.created and len(s.password) >= 10 for s in sign_ins)
    for s in sign_ins:
        actor = auth.authenticate(db, s.username, s.password)
        assert actor.role is s.role
        assert actor.tenant_id == tenant.id
    again = load.ensure_users(db, load.demo_actor(tenant.id, env.id), tenant)
    assert [s.created for s in again] == [False, False, False]


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "CAREHUB_DATABASE_URL": db_url,
        "CAREHUB_DATA_DIR": str(tmp_path / "data"),
        "CAREHUB_MODE": "development",
    }


def test_cli_demo_load_small_json_and_if_empty(cli_env: dict[str, str], container: bootstrap.Container) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["demo", "load", "--scale", "small", "--json", "--if-empty"], env=cli_env)
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert summary["loaded"] is True
    assert summary["tenant"]["name"] == TENANT_NAME
    assert summary["tenant"]["timezone"] == "Europe/London"
    assert summary["tenant"]["created"] is True
    assert summary["rejected"] == 0
    assert summary["url"] == "http://127.0.0.1:8000"
    assert {s["role"] for s in summary["sign_ins"]} == {"admin", "branch_manager", "coordinator"}
    assert summary["seconds"] > 0
    data = generate(Scale.SMALL, today=date.fromisoformat(summary["today"]))
    assert summary["counts"] == {k.value: n for k, n in data.counts().items()}
    assert {k: r["created"] for k, r in summary["results"].items()} == summary["counts"]
    assert summary["confirmed_visits"] == len(data.confirmed_visit_ids)
    assert {s["rule"] for s in summary["scenarios"]} == {s.rule for s in data.scenarios}
    env_id = summary["environment_id"]
    before = stored_counts(container.db, env_id)
    assert before == data.counts()
    for s in summary["sign_ins"]:
        signed_in = auth.authenticate(container.db, s["username"], s["password"])
        # The demo's branch manager and coordinator are granted a branch, so they see something (docs/access.md).
        assert signed_in.branch_ids is None if s["role"] == "admin" else len(signed_in.branch_ids or ()) == 1

    second = runner.invoke(app, ["demo", "load", "--scale", "small", "--json", "--if-empty"], env=cli_env)
    assert second.exit_code == 0, second.output
    again = json.loads(second.stdout)
    assert again["loaded"] is False
    assert [s["created"] for s in again["sign_ins"]] == [False, False, False]
    assert stored_counts(container.db, env_id) == before
    with container.db.read() as session:
        audit_rows = session.scalar(select(func.count()).select_from(AuditEntry))
    third = runner.invoke(app, ["demo", "load", "--scale", "small", "--json", "--if-empty"], env=cli_env)
    assert third.exit_code == 0, third.output
    with container.db.read() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == audit_rows


def test_cli_demo_load_prints_sign_ins_and_address(cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["demo", "load", "--tenant", "Meadow Care"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8000" in result.stdout
    assert "meadow.admin" in result.stdout
    assert "meadow-coordinator-demo" in result.stdout


def test_cli_demo_load_refused_in_production(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "CAREHUB_MODE": "production", "CAREHUB_SECRET_KEY": "x" * 40}
    result = CliRunner().invoke(app, ["demo", "load", "--json"], env=env)
    assert result.exit_code == 1
    assert "production" in json.loads(result.stdout)["error"]["message"]


def test_small_demo_explains_each_failing_rule_with_its_fix(db: Database) -> None:
    """Loaded, confirmed and published as ``carehub demo load`` does: explain shows every scenario's rule failing."""
    today = load.local_today("Europe/London")
    data = generate(Scale.SMALL, today=today)
    actor = load.demo_actor(None, None)
    tenant, env, _ = load.ensure_tenant(db, actor, TENANT_NAME)
    actor = load.demo_actor(tenant.id, env.id)
    load.load_in_batches(db, actor, env.id, data, batch_size=1000)
    load.confirm_visits(db, actor, env.id, data.confirmed_visit_ids)
    published = load.publish(db, actor, env.id, data, today)
    visits = sum(published[step].get("visit", {}).get("published", 0) for step in ("contracts", "schedules"))
    assert visits > data.counts()[RecordKind.VISIT] // 3, published

    seen = set()
    for scenario in data.scenarios:
        answer = do_explain(db, actor, env.id, scenario.kind.value, scenario.external_id).as_dict()
        assert answer["publishes"] is False, answer
        failed = {c["rule"]: c for c in answer["checks"] if not c["passed"]}
        assert scenario.rule in failed, (scenario, answer)
        assert failed[scenario.rule]["fix"], answer
        assert failed[scenario.rule]["detail"], answer
        seen.add(scenario.rule)
    assert seen == {rule.id for rule in catalogue.RULES}
