"""``carehub deliveries ...`` and ``carehub worker --once`` against the test database."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from carehub import cli
from carehub.platform.db import Database
from tests.cli.support import run
from tests.conftest import World
from tests.delivery.conftest import emit
from tests.delivery.receiver import Receiver

FAST_WORKER = ["worker", "--once", "--timeout", "2", "--lease", "5", "--retry-base", "0", "--retry-max", "0"]


def test_subscriptions_are_added_listed_disabled_and_enabled(carehub: CliRunner, world: World) -> None:
    made = run(
        carehub,
        "deliveries",
        "subscriptions",
        "add",
        "hooks",
        "https://example.org/hook",
        "--topic",
        "roster.",
        "--json",
    )
    assert made["secret"].startswith("whsec_")
    assert made["topics"] == ["roster."]
    listed = run(carehub, "deliveries", "subscriptions", "list", "--json")
    assert [s["name"] for s in listed] == ["hooks"]
    assert made["secret"] not in json.dumps(listed)
    text = run(carehub, "deliveries", "subscriptions", "add", "other", "https://example.org/other")
    assert "Signing secret:" in text
    assert run(carehub, "deliveries", "subscriptions", "disable", "hooks", "--json")["active"] is False
    assert run(carehub, "deliveries", "subscriptions", "enable", str(made["id"]), "--json")["active"] is True
    bad = run(carehub, "deliveries", "subscriptions", "add", "x", "ftp://example.org/", "--json", code=1)
    assert bad["error"]["errors"][0]["field"] == "url"
    gone = run(carehub, "deliveries", "subscriptions", "disable", "nobody", "--json", code=1)
    assert "no subscription named 'nobody'" in gone["error"]["message"]


def test_the_worker_delivers_and_failures_are_listed_retried_and_replayed(
    carehub: CliRunner, db: Database, world: World, receiver: Receiver
) -> None:
    run(carehub, "deliveries", "subscriptions", "add", "hooks", receiver.url + "/h", "--max-attempts", "2")
    receiver.fail_always(500)
    [event] = emit(db, world.env.id, [1])
    out = run(carehub, *FAST_WORKER)
    assert "dead 1" in out
    dead = run(carehub, "deliveries", "list", "--status", "dead", "--json")
    assert dead["total"] == 1
    [d] = dead["items"]
    assert d["last_error"] == "HTTP 500: refused by test receiver (500)"
    attempts = run(carehub, "deliveries", "attempts", str(d["id"]), "--json")
    assert [(a["number"], a["outcome"]) for a in attempts["attempt_log"]] == [(1, "failed"), (2, "dead")]
    by_event = run(carehub, "deliveries", "attempts", "--event", str(event), "--json")
    assert [x["id"] for x in by_event] == [d["id"]]
    assert "Why" not in run(carehub, "deliveries", "attempts", str(d["id"]))  # a table, not JSON
    receiver.succeed()
    assert run(carehub, "deliveries", "retry", str(d["id"]), "--json")[0]["status"] == "pending"
    run(carehub, *FAST_WORKER)
    assert run(carehub, "deliveries", "list", "--status", "delivered", "--json")["total"] == 1
    replayed = run(carehub, "deliveries", "replay", "--subscription", "hooks", "--from-event", str(event), "--json")
    assert (replayed["events"], replayed["requeued"]) == (1, 1)
    run(carehub, *FAST_WORKER)
    assert receiver.event_ids() == [event] * 4
    assert "Pending again" not in run(carehub, "deliveries", "list")
    again = run(carehub, "deliveries", "retry", "--all-dead", "--subscription", "hooks", "--json")
    assert again["retried"] == 0
    refused = run(carehub, "deliveries", "retry", str(d["id"]), "--json", code=1)
    assert "not dead" in refused["error"]["message"]
    assert "give delivery ids" in run(carehub, "deliveries", "retry", "--json", code=1)["error"]["message"]
    since = run(carehub, "deliveries", "replay", "--subscription", "hooks", "--since", "2000-01-01T00:00:00", "--json")
    assert since["events"] == 1
    one = run(carehub, "deliveries", "replay", "--delivery", str(d["id"]), "--json", code=1)
    assert "pending" in one["error"]["message"]


def test_the_worker_refuses_a_lease_shorter_than_two_timeouts(carehub: CliRunner, world: World) -> None:
    result = carehub.invoke(cli.app, ["worker", "--once", "--timeout", "30", "--lease", "10"])
    assert result.exit_code == 1
    assert "lease" in result.stderr
