"""The worker rules of seed 000, end to end through the roster API, on SQLite and PostgreSQL.

A worker publishes when: status active; enabled as a mobile care worker;
allocated to a visit on a monitored contract that starts inside the publish
window. Usernames are generated once, unique, and never change.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from carehub.platform.auth.actor import SYSTEM
from carehub.platform.db import Database
from carehub.publishing.service import config
from tests.conftest import World
from tests.publishing.support import (
    allocate,
    confirm,
    deallocate,
    monitor,
    published,
    put,
    roster,
    states,
    update,
    visit,
)


def worker(n: str, first: str = "Wren", last: str = "Mobile", **over: Any) -> dict[str, Any]:
    return {
        "id": n,
        "version": 1,
        "branch_id": "B1",
        "first_name": first,
        "last_name": last,
        "status": "active",
        "mobile_enabled": True,
        **over,
    }


def test_rule_worker_active(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    put(api, "workers", worker("W3", status="inactive"))
    monitor(db, world.env.id, "K1")
    put(api, "visits", visit("V1", workers=("W1",)), visit("V3", workers=("W3",)))
    assert states(db, "worker") == {"W1": "active"}

    update(api, "workers", "W1", status="left")
    assert states(db, "worker") == {"W1": "deactivated"}
    update(api, "workers", "W3", status="active")
    assert states(db, "worker") == {"W1": "deactivated", "W3": "active"}
    update(api, "workers", "W1", status="active")
    assert states(db, "worker") == {"W1": "active", "W3": "active"}


def test_rule_worker_mobile_enabled(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    monitor(db, world.env.id, "K1")
    put(api, "visits", visit("V1", workers=("W2",)))
    assert states(db, "worker") == {}
    assert states(db, "visit") == {}

    update(api, "workers", "W2", mobile_enabled=True)
    assert states(db, "worker") == {"W2": "active"}
    assert states(db, "visit") == {"V1": "active"}

    update(api, "workers", "W2", mobile_enabled=False)
    assert states(db, "worker") == {"W2": "deactivated"}
    assert states(db, "visit") == {"V1": "deactivated"}


def test_rule_worker_allocated_to_visit_on_monitored_contract_in_window(
    api: TestClient, db: Database, world: World
) -> None:
    roster(api)
    monitor(db, world.env.id, "K1")
    assert states(db, "worker") == {}  # not allocated at all

    put(
        api,
        "visits",
        visit("V-unmonitored", contract="K2", days=2),
        visit("V-later", days=10),  # the default window is 7 days
        visit("V-past", days=-3),
    )
    assert states(db, "worker") == {}

    put(api, "visits", visit("V-due", days=2, workers=()))
    assert states(db, "worker") == {}
    allocate(api, "V-due", "W1")
    assert states(db, "worker") == {"W1": "active"}
    deallocate(api, "V-due", "W1")
    assert states(db, "worker") == {"W1": "deactivated"}


def test_rule_worker_username_generated_once_unique_never_changes(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    monitor(db, world.env.id, "K1")
    put(api, "workers", worker("W3", "Ann", "O'Neil"), worker("W4", "Anne", "ONeil"))
    put(api, "visits", visit("V3", workers=("W3",)), visit("V4", workers=("W4",)))
    first, second = published(db, "worker", "W3"), published(db, "worker", "W4")
    assert {first.username, second.username} == {"aoneil", "aoneil2"}

    update(api, "workers", "W3", first_name="Bea", last_name="Smith")
    renamed = published(db, "worker", "W3")
    assert (renamed.first_name, renamed.last_name, renamed.username) == ("Bea", "Smith", first.username)

    update(api, "workers", "W3", status="inactive")
    assert published(db, "worker", "W3").state == "deactivated"
    update(api, "workers", "W3", status="active")
    again = published(db, "worker", "W3")
    assert (again.state, again.username, again.id) == ("active", first.username, first.id)

    # A new worker with the freed name pattern still gets a fresh, unused username.
    put(api, "workers", worker("W5", "Ann", "O'Neil"))
    put(api, "visits", visit("V5", workers=("W5",)))
    assert published(db, "worker", "W5").username == "aoneil3"
    assert published(db, "worker", "W4").username == second.username


def test_rule_worker_taken_off_a_visit_that_never_published_stops_publishing_at_once(
    api: TestClient, db: Database, world: World
) -> None:
    roster(api)
    monitor(db, world.env.id, "K1")
    # V1 is confirmed before it publishes, so it never syncs; W1 still qualifies through it.
    put(api, "visits", visit("V1", workers=()))
    confirm(api, "V1")
    allocate(api, "V1", "W1")
    assert (states(db, "visit"), states(db, "worker")) == ({}, {"W1": "active"})

    deallocate(api, "V1", "W1")
    assert states(db, "worker") == {"W1": "deactivated"}
    allocate(api, "V1", "W1")
    assert states(db, "worker") == {"W1": "active"}
    put(api, "visits", visit("V1", workers=(), version=2))  # re-sent without its worker
    assert states(db, "worker") == {"W1": "deactivated"}
    assert config.do_reconcile(db, SYSTEM, world.env.id).changes == 0
