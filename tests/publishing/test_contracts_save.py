"""Saving the monitored contracts page: every tick and untick in one transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carehub import bootstrap
from carehub.app import create_app
from carehub.platform import audit
from carehub.platform.auth.actor import SYSTEM
from carehub.platform.db import Database
from carehub.platform.errors import InvalidInput
from carehub.platform.outbox import OutboxEvent
from carehub.publishing.service import config, runs
from carehub.publishing.tables import PublishRun
from tests.conftest import World
from tests.publishing.support import monitor, put, roster, states, visit
from tests.publishing.test_api import HTML, csrf_of, sign_in


class Broken(RuntimeError):
    """The failure a test injects."""


def snapshot(db: Database, env: int) -> dict[str, Any]:
    """Everything a save touches: ticks, audit rows, events, runs, the published copy."""
    with db.read() as session:
        counted = {
            "audit": session.scalar(select(func.count()).select_from(audit.AuditEntry)),
            "events": session.scalar(select(func.count()).select_from(OutboxEvent)),
            "runs": session.scalar(select(func.count()).select_from(PublishRun)),
        }
    return {
        "monitored": {c.id: c.monitored for c in config.list_contracts(db, env)},
        "visits": states(db, "visit"),
        "clients": states(db, "client"),
        **counted,
    }


@pytest.fixture
def browser(container: bootstrap.Container, world: World) -> Iterator[TestClient]:
    """A signed-in administrator's browser: session cookie, HTML wanted, redirects not followed."""
    with TestClient(create_app(container), headers=HTML, follow_redirects=False) as client:
        yield sign_in(client, container.db, world)


@pytest.fixture
def two_contracts(api: TestClient, db: Database, world: World) -> None:
    """K2 monitored with a published visit V2; K1 not monitored, with visit V1."""
    roster(api)
    put(api, "visits", visit("V1"), visit("V2", client="C2", contract="K2"))
    monitor(db, world.env.id, "K2")
    assert states(db, "visit") == {"V2": "active"}


def save_form(client: TestClient, **fields: Any) -> dict[str, Any]:
    return {"csrf": csrf_of(client.get("/publishing/contracts").text), "shown": ["K1", "K2"], **fields}


def test_rule_one_save_ticks_and_unticks_in_one_transaction_with_an_audit_row_per_contract(
    browser: TestClient,
    db: Database,
    world: World,
    two_contracts: None,
) -> None:
    before = snapshot(db, world.env.id)
    r = browser.post("/publishing/contracts", data=save_form(browser, monitored=["K1"], action="save"))
    assert r.status_code == 303
    after = snapshot(db, world.env.id)
    assert after["monitored"] == {"K1": True, "K2": False}
    assert after["visits"] == {"V2": "deactivated", "V1": "active"}
    assert after["runs"] == before["runs"] + 1  # one run publishes both consequences
    with db.read() as session:
        rows = session.execute(
            select(audit.AuditEntry.external_id, audit.AuditEntry.action)
            .where(audit.AuditEntry.entity == "contract")
            .order_by(audit.AuditEntry.id)
        ).all()
    assert [tuple(r) for r in rows][-2:] == [("K1", "monitor"), ("K2", "unmonitor")]
    notice = browser.get("/publishing/contracts").text
    assert "Ticked K1; unticked K2:" in notice


def _failing_unmonitor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Audit rows are written, then the write fails whenever an untick is among them."""
    real = audit.record_many

    def record_many(session: Any, actor: Any, changes: Iterable[audit.Change]) -> int:
        listed = list(changes)
        count = real(session, actor, listed)
        if any(c.action == "unmonitor" for c in listed):
            raise Broken("the audit trail is unavailable")
        return count

    monkeypatch.setattr(audit, "record_many", record_many)


def _failing_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run publishes (published rows and outbox events written), then fails."""
    real = runs.run

    def run(*args: Any, **kwargs: Any) -> runs.RunResult:
        real(*args, **kwargs)
        raise Broken("publishing failed after writing")

    monkeypatch.setattr(runs, "run", run)


@pytest.mark.parametrize("failure", [_failing_unmonitor, _failing_run], ids=["audit", "run"])
def test_rule_a_failing_save_changes_nothing(
    browser: TestClient,
    db: Database,
    world: World,
    two_contracts: None,
    monkeypatch: pytest.MonkeyPatch,
    failure: Any,
) -> None:
    form = save_form(browser, monitored=["K1"], action="save")
    before = snapshot(db, world.env.id)
    failure(monkeypatch)
    with pytest.raises(Broken):
        browser.post("/publishing/contracts", data=form)
    assert snapshot(db, world.env.id) == before


def test_a_failing_save_through_the_service_changes_nothing(
    db: Database, world: World, two_contracts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(db, world.env.id)
    _failing_unmonitor(monkeypatch)
    with pytest.raises(Broken):
        config.do_save_monitored(db, SYSTEM, world.env.id, ["K1", "K2"], ["K1"])
    assert snapshot(db, world.env.id) == before


def test_a_preview_of_the_whole_page_changes_nothing_and_says_what_would(
    db: Database, world: World, two_contracts: None
) -> None:
    before = snapshot(db, world.env.id)
    saved = config.do_save_monitored(db, SYSTEM, world.env.id, ["K1", "K2"], ["K1"], preview=True)
    assert (saved.ticked, saved.unticked) == (["K1"], ["K2"])
    assert saved.result.counts["visit"] == {"published": 1, "deactivated": 1}
    assert snapshot(db, world.env.id) == before


def test_a_save_with_no_tick_changed_does_nothing(db: Database, world: World, two_contracts: None) -> None:
    before = snapshot(db, world.env.id)
    saved = config.do_save_monitored(db, SYSTEM, world.env.id, ["K1", "K2"], ["K2"])
    assert not saved.changed
    assert snapshot(db, world.env.id) == before


def test_a_save_naming_an_unknown_or_unshown_contract_is_refused_and_changes_nothing(
    db: Database, world: World, two_contracts: None
) -> None:
    before = snapshot(db, world.env.id)
    with pytest.raises(InvalidInput) as unknown:
        config.do_save_monitored(db, SYSTEM, world.env.id, ["K1", "K2", "GONE"], ["K1"])
    assert [(e.field, e.value, e.reason) for e in unknown.value.errors] == [
        ("contract_ids", "GONE", "no contract with this id")
    ]
    with pytest.raises(InvalidInput) as unshown:
        config.do_save_monitored(db, SYSTEM, world.env.id, ["K2"], ["K1"])
    assert [(e.field, e.value, e.reason) for e in unshown.value.errors] == [
        ("monitored", "K1", "expected a contract shown on the page")
    ]
    assert snapshot(db, world.env.id) == before
