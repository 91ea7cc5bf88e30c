"""The client rules of seed 000, end to end through the roster API, on SQLite and PostgreSQL.

A client publishes when: status active; linked to a monitored contract; linked
through a plan visit or an allocated visit.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from carehub.platform.auth.actor import SYSTEM
from carehub.platform.db import Database
from carehub.publishing.service import config
from tests.conftest import World
from tests.publishing.support import allocate, monitor, put, remove, roster, states, update, visit


def test_rule_client_publishes_only_when_active(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    update(api, "clients", "C2", status="inactive")
    monitor(db, world.env.id, "K1")
    put(api, "visits", visit("V1", client="C1"), visit("V2", client="C2"))
    assert states(db, "client") == {"C1": "active"}

    update(api, "clients", "C1", status="inactive")
    update(api, "clients", "C2", status="active")
    assert states(db, "client") == {"C1": "deactivated", "C2": "active"}

    update(api, "clients", "C1", status="active")
    assert states(db, "client") == {"C1": "active", "C2": "active"}


def test_rule_client_needs_a_monitored_contract(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    # C1 is linked through plan visit P1 on K1, C2 through an allocated visit on K2.
    put(api, "visits", visit("V2", client="C2", contract="K2"))
    monitor(db, world.env.id, "K2")
    assert states(db, "client") == {"C2": "active"}

    config.do_set_monitored(db, SYSTEM, world.env.id, ["K2"], monitored=False)
    assert states(db, "client") == {"C2": "deactivated"}

    monitor(db, world.env.id, "K1")
    assert states(db, "client") == {"C2": "deactivated", "C1": "active"}


def test_rule_client_linked_through_plan_visit_or_allocated_visit(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    monitor(db, world.env.id, "K1")
    # C1 is linked through its plan visit alone: no visit at all.
    assert states(db, "client") == {"C1": "active"}

    # An unallocated visit is no link; allocating anyone (even a worker who is not mobile) is.
    put(api, "visits", visit("V2", client="C2", workers=()))
    assert "C2" not in states(db, "client")
    allocate(api, "V2", "W2")
    assert states(db, "client")["C2"] == "active"
    assert "V2" not in states(db, "visit")  # the visit itself does not publish: W2 is not mobile

    # Deleting the plan visit removes C1's only link.
    remove(api, "plan-visits", "P1")
    assert states(db, "client")["C1"] == "deactivated"


def test_rule_client_loses_its_link_at_once_when_its_visit_or_plan_visit_moves_to_another_client(
    api: TestClient, db: Database, world: World
) -> None:
    roster(api)
    monitor(db, world.env.id, "K1")
    # C2's only link: an allocated visit beyond the window, which never publishes itself.
    put(api, "visits", visit("V2", client="C2", days=20, workers=("W2",)))
    assert states(db, "client") == {"C1": "active", "C2": "active"}
    update(api, "visits", "V2", client_id="C1")
    assert states(db, "client") == {"C1": "active", "C2": "deactivated"}

    # C1's plan visit (whose care plan never published) moves to C2, and C1's visit back to C2.
    update(api, "plan-visits", "P1", client_id="C2")
    update(api, "visits", "V2", client_id="C2")
    assert states(db, "client") == {"C1": "deactivated", "C2": "active"}

    # A published visit moving to another client takes its client's link with it.
    put(api, "visits", visit("V1", client="C1"))
    assert states(db, "client") == {"C1": "active", "C2": "active"}
    update(api, "visits", "V1", client_id="C2")
    assert states(db, "client") == {"C1": "deactivated", "C2": "active"}
    assert config.do_reconcile(db, SYSTEM, world.env.id).changes == 0
