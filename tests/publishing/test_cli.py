"""``carehub explain``, ``carehub status`` and ``carehub publishing ...`` on SQLite and PostgreSQL."""

from __future__ import annotations

import socket
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from typer.testing import CliRunner

from carehub import cli
from carehub.platform.auth.actor import SYSTEM
from carehub.platform.clock import utc_now
from carehub.platform.db import Database
from carehub.publishing.domain.catalogue import BY_ID
from carehub.publishing.service import status
from carehub.publishing.tables import PublishSettings
from carehub.tenancy import service as tenancy
from tests.cli.support import error_of, run
from tests.conftest import World
from tests.publishing.support import monitor, put, roster, states, visit


def london_today() -> date:
    return datetime.now(ZoneInfo("Europe/London")).date()


def test_explain_prints_every_rule_and_its_fix_and_json_in_the_documented_shape(
    carehub: CliRunner, api: TestClient, db: Database, world: World
) -> None:
    roster(api)
    put(api, "visits", visit("V1", workers=("W2",)))
    text = run(carehub, "explain", "visit", "V1")
    assert "Visit V1 does not publish." in " ".join(text.split())
    assert "visit.monitored_contract" in text
    assert "FAILED" in text
    assert "contracts tick" in text

    body = run(carehub, "explain", "visit", "V1", "--json")
    assert set(body) == {"kind", "id", "publishes", "checks", "published_state", "notes", "info"}
    assert (body["kind"], body["id"], body["publishes"]) == ("visit", "V1", False)
    assert [set(c) for c in body["checks"]] == [{"rule", "passed", "detail", "fix"}] * 4
    failing = {c["rule"]: c["fix"] for c in body["checks"] if not c["passed"]}
    assert failing == {
        "visit.monitored_contract": BY_ID["visit.monitored_contract"].fix,
        "visit.mobile_worker": BY_ID["visit.mobile_worker"].fix,
    }

    monitor(db, world.env.id, "K1")
    worker = run(carehub, "explain", "worker", "W2", "--json")
    assert [c["rule"] for c in worker["checks"] if not c["passed"]] == ["worker.mobile_enabled"]
    plan = run(carehub, "explain", "plan-visit", "P1", "--json")
    assert plan["kind"] == "plan_visit"
    assert run(carehub, "explain", "client", "C1", "--json")["publishes"] is True  # through plan visit P1 on K1
    c2 = run(carehub, "explain", "client", "C2", "--json")
    assert [c["rule"] for c in c2["checks"] if not c["passed"]] == ["client.monitored_contract", "client.linked"]


def test_explain_refuses_an_unknown_kind_record_or_tenant(carehub: CliRunner, api: TestClient, world: World) -> None:
    roster(api)
    assert "unknown record kind 'nurse'" in error_of(carehub, "explain", "nurse", "X")
    assert error_of(carehub, "explain", "visit", "NOPE", "--json") == "no visit with id 'NOPE'"
    assert error_of(carehub, "explain", "client", "C1", "--tenant", "Nobody", "--json") == "no tenant named 'Nobody'"
    assert error_of(carehub, "explain", "client", "C1", "--environment", "999", "--json") == "no environment 999"


def test_explain_needs_a_tenant_to_be_chosen_when_there_are_several(
    carehub: CliRunner, api: TestClient, db: Database, world: World
) -> None:
    roster(api)
    tenancy.do_create_tenant(db, SYSTEM, name="Other Care", timezone="Europe/London")
    assert "2 tenants exist; choose one with --tenant" in error_of(carehub, "explain", "client", "C1")
    assert run(carehub, "explain", "client", "C1", "--tenant", "Sunrise Care", "--json")["id"] == "C1"
    assert error_of(carehub, "explain", "client", "C1", "--tenant", "Other Care", "--json") == (
        "no client with id 'C1'"
    )


def test_rule_status_exits_like_a_monitoring_plugin_0_ok_1_warning_2_critical(
    carehub: CliRunner, api: TestClient, db: Database, world: World
) -> None:
    roster(api)
    put(api, "visits", visit("V1"))
    warning = run(carehub, "status", "--json", code=1)
    assert warning["health"] == "warning"
    assert [r["code"] for r in warning["reasons"]] == ["nothing_monitored"]
    text = run(carehub, "status", code=1)
    assert "WARNING" in text
    assert "nothing_monitored" in text
    monitor(db, world.env.id, "K1")
    ok = run(carehub, "status", "--json")
    assert (ok["health"], ok["reasons"]) == ("ok", [])
    assert ok["statistics"]["visit"]["active"] == 1
    assert "OK" in run(carehub, "status")
    # Nothing exported for two days (longer than the daily reconcile): failing, exit 2.
    with db.transaction() as session:
        session.execute(
            update(PublishSettings)
            .where(PublishSettings.environment_id == world.env.id)
            .values(last_export_at=utc_now() - timedelta(days=2))
        )
    failing = run(carehub, "status", "--json", code=2)
    assert (failing["health"], [r["code"] for r in failing["reasons"]]) == ("failing", ["no_export"])
    assert "FAILING" in run(carehub, "status", code=2)


def test_rule_status_exits_3_unknown_when_the_database_is_unreachable(
    carehub: CliRunner, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    monkeypatch.setenv("CAREHUB_DATABASE_URL", f"postgresql://carehub@127.0.0.1:{port}/carehub")
    answer = run(carehub, "status", "--json", code=3)
    assert answer["health"] == "unknown"
    assert answer["error"]["message"].startswith("the database did not answer (OperationalError: ")
    assert "UNKNOWN" in run(carehub, "status", code=3)


def test_rule_status_exits_3_unknown_on_an_unexpected_error_never_a_state(
    carehub: CliRunner, api: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(status, "status_of", broken)
    answer = run(carehub, "status", "--json", code=3)
    assert answer == {"health": "unknown", "error": {"message": "unexpected error RuntimeError: a bug", "errors": []}}
    text = run(carehub, "status", code=3)
    assert "UNKNOWN" in text
    assert "a bug" in text


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--tenant", "Nobody"), "no tenant named 'Nobody'"),
        (("--environment", "999"), "999"),
    ],
)
def test_rule_status_exits_3_unknown_for_an_unknown_tenant_or_environment(
    carehub: CliRunner, world: World, args: tuple[str, ...], said: str
) -> None:
    answer = run(carehub, "status", *args, "--json", code=3)
    assert answer["health"] == "unknown"
    assert said in answer["error"]["message"]


@pytest.mark.parametrize("args", [("--bogus",), ("--environment", "abc"), ("--tenant",), ("extra",)])
def test_rule_status_usage_errors_exit_3_unknown_not_2_critical(
    carehub: CliRunner, world: World, args: tuple[str, ...]
) -> None:
    result = carehub.invoke(cli.app, ["status", *args])
    assert result.exit_code == 3, (args, result.output)
    # Other commands keep Click's usual exit status 2 for usage errors.
    assert carehub.invoke(cli.app, ["explain", "--bogus"]).exit_code == 2


def test_contracts_list_tick_and_untick_with_preview(
    carehub: CliRunner, api: TestClient, db: Database, world: World
) -> None:
    roster(api)
    put(api, "visits", visit("V1"))
    listed = run(carehub, "publishing", "contracts", "list", "--json")
    assert [(c["id"], c["monitored"]) for c in listed] == [("K1", False), ("K2", False)]
    assert "Council framework" in run(carehub, "publishing", "contracts", "list")

    preview = run(carehub, "publishing", "contracts", "tick", "K1", "--preview", "--json")
    assert preview["preview"] is True
    assert preview["counts"]["visit"] == {"published": 1}
    assert states(db, "visit") == {}
    text = run(carehub, "publishing", "contracts", "tick", "K1", "--preview")
    assert "Preview only: nothing was changed." in text
    assert "visit V1: published (active)" in text

    done = run(carehub, "publishing", "contracts", "tick", "K1", "K2", "--json")
    assert (done["preview"], done["counts"]["visit"]) == (False, {"published": 1})
    assert states(db, "visit") == {"V1": "active"}
    ticked = run(carehub, "publishing", "contracts", "list", "--json")
    assert [(c["id"], c["monitored"], c["ticked_by"]) for c in ticked] == [
        ("K1", True, "carehub"),
        ("K2", True, "carehub"),
    ]
    assert "nothing changed" in run(carehub, "publishing", "contracts", "tick", "K1")

    off = run(carehub, "publishing", "contracts", "untick", "K1", "--json")
    assert off["counts"]["visit"] == {"deactivated": 1}
    assert states(db, "visit") == {"V1": "deactivated"}
    assert "unknown contract id(s): NOPE" in error_of(carehub, "publishing", "contracts", "tick", "NOPE")


def test_schedule_publishes_up_to_14_days_and_refuses_later(
    carehub: CliRunner, api: TestClient, db: Database, world: World
) -> None:
    roster(api)
    put(api, "visits", visit("V-FAR", days=10))
    monitor(db, world.env.id, "K1")
    today = london_today()
    late = (today + timedelta(days=15)).isoformat()
    message = error_of(carehub, "publishing", "schedule", "--groups", "G1", "--until", late, "--json")
    assert message == (
        f"publish date {late} is more than 14 days ahead; the latest allowed is "
        f"{(today + timedelta(days=14)).isoformat()}"
    )
    assert "is not a date like" in error_of(carehub, "publishing", "schedule", "--groups", "G1", "--until", "soon")
    assert "--groups needs at least one group id" in error_of(
        carehub, "publishing", "schedule", "--groups", " , ", "--until", today.isoformat()
    )
    assert "unknown group id(s): G9" in error_of(
        carehub, "publishing", "schedule", "--groups", "G1,G9", "--until", today.isoformat()
    )

    until = (today + timedelta(days=12)).isoformat()
    preview = run(carehub, "publishing", "schedule", "--groups", "G1", "--until", until, "--preview", "--json")
    assert (preview["preview"], preview["counts"]["visit"]) == (True, {"published": 1})
    assert "V-FAR" not in states(db, "visit")
    text = run(carehub, "publishing", "schedule", "--groups", "G1", "--until", until)
    assert f"Publish G1 until {until}" in " ".join(text.split())
    assert states(db, "visit")["V-FAR"] == "active"


def test_reconcile_previews_and_applies(carehub: CliRunner, api: TestClient, db: Database, world: World) -> None:
    roster(api)
    monitor(db, world.env.id, "K1")
    preview = run(carehub, "publishing", "reconcile", "--preview", "--json")
    assert (preview["preview"], preview["changes"]) == (True, 0)
    assert "Reconcile: nothing changed." in run(carehub, "publishing", "reconcile")
    assert run(carehub, "status", "--json")["last_reconcile_at"] is not None
