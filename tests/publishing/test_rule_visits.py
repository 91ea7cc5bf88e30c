"""The visit rules of seed 000, end to end through the roster API, on SQLite and PostgreSQL.

A visit publishes when: on a monitored contract; starts inside the publish
window; allocated to a mobile-enabled worker. A visit confirmed manually before
it was first published never syncs. De-allocating a published visit cancels it;
cancelling it in the roster cancels it; a published visit whose start has
passed ends when the window moves past it.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from carehub.platform.auth.actor import SYSTEM
from carehub.platform.clock import utc_now
from carehub.platform.db import Database
from carehub.publishing.service import config
from tests.conftest import World
from tests.publishing.support import (
    allocate,
    cancel,
    confirm,
    deallocate,
    events,
    explain,
    monitor,
    published,
    put,
    remove,
    roster,
    roster_pk,
    states,
    update,
    visit,
    visit_workers,
)


def test_rule_visit_monitored_contract(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    monitor(db, world.env.id, "K1")
    put(api, "visits", visit("V1", contract="K1"), visit("V2", contract="K2"))
    assert states(db, "visit") == {"V1": "active"}

    monitor(db, world.env.id, "K2")
    assert states(db, "visit") == {"V1": "active", "V2": "active"}

    config.do_set_monitored(db, SYSTEM, world.env.id, ["K1"], monitored=False)
    assert states(db, "visit") == {"V1": "deactivated", "V2": "active"}


def test_rule_visit_in_window(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    monitor(db, world.env.id, "K1")
    put(api, "visits", visit("V-past", days=-2), visit("V-soon", days=2), visit("V-later", days=10))
    assert states(db, "visit") == {"V-soon": "active"}

    # Moving a visit out of the window takes it off the phones; moving it back republishes it.
    update(api, "visits", "V-soon", start=visit("x", days=11)["start"], end=visit("x", days=11)["end"])
    assert states(db, "visit") == {"V-soon": "deactivated"}
    update(api, "visits", "V-later", start=visit("x", days=3)["start"], end=visit("x", days=3)["end"])
    assert states(db, "visit") == {"V-soon": "deactivated", "V-later": "active"}


def test_rule_visit_allocated_to_mobile_worker(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    monitor(db, world.env.id, "K1")
    put(api, "visits", visit("V1", workers=(), carers_needed=2))
    assert states(db, "visit") == {}
    allocate(api, "V1", "W2")  # not mobile-enabled
    assert states(db, "visit") == {}
    allocate(api, "V1", "W1")  # the double-up now has a mobile worker
    assert states(db, "visit") == {"V1": "active"}
    # Only the mobile worker is on the published visit (and gets it on their phone).
    assert published(db, "visit", "V1").workers == str(roster_pk(db, "worker", "W1"))


def test_rule_visit_confirmed_manually_before_publish_never_syncs(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    monitor(db, world.env.id, "K1")
    put(api, "visits", visit("V1", workers=()))
    confirm(api, "V1")
    allocate(api, "V1", "W1")  # every other rule passes now
    assert "V1" not in states(db, "visit")

    # Neither later roster changes, a schedule nor a reconcile make it sync.
    update(api, "visits", "V1", start=visit("x", days=2)["start"], end=visit("x", days=2)["end"])
    config.do_reconcile(db, SYSTEM, world.env.id)
    assert "V1" not in states(db, "visit")
    answer = explain(db, world.env.id, "visit", "V1")
    assert not answer.publishes
    assert [c.rule for c in answer.checks if not c.passed] == ["visit.not_confirmed_before_publish"]


def test_rule_visit_confirmed_after_publish_keeps_syncing(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    monitor(db, world.env.id, "K1")
    put(api, "visits", visit("V1"))
    assert states(db, "visit") == {"V1": "active"}
    confirm(api, "V1")
    assert states(db, "visit") == {"V1": "active"}

    moved = visit("x", days=3)
    update(api, "visits", "V1", start=moved["start"], end=moved["end"])
    pub = published(db, "visit", "V1")
    assert pub.state == "active"
    assert pub.start_at.isoformat() == moved["start"]
    assert explain(db, world.env.id, "visit", "V1").publishes


def test_rule_deallocating_a_published_visit_cancels_it(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    monitor(db, world.env.id, "K1")
    put(api, "visits", visit("V1"), visit("V2"))
    deallocate(api, "V1", "W1")
    pub = published(db, "visit", "V1")
    assert (pub.state, pub.cancelled_at is not None) == ("cancelled", True)
    assert ("publishing.visit.cancelled", "V1") in [(t, p["id"]) for t, p in events(db)]

    # Re-sending the visit without its worker cancels it the same way.
    put(api, "visits", visit("V2", workers=(), version=2))
    assert states(db, "visit") == {"V1": "cancelled", "V2": "cancelled"}
    assert states(db, "worker") == {"W1": "deactivated"}

    # Allocating again publishes it again, on the phone of the new worker.
    allocate(api, "V1", "W1")
    assert states(db, "visit")["V1"] == "active"
    assert published(db, "visit", "V1").cancelled_at is None
    assert any(active for _, _, active in visit_workers(db))


def test_rule_cancelling_a_visit_in_the_roster_cancels_it(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    monitor(db, world.env.id, "K1")
    put(api, "visits", visit("V1"))
    cancel(api, "V1")
    assert states(db, "visit") == {"V1": "cancelled"}
    assert states(db, "worker") == {"W1": "deactivated"}
    notes = explain(db, world.env.id, "visit", "V1").notes
    assert notes == ["cancelled in the roster (client in hospital)"]


def test_rule_deleting_a_visit_deactivates_it(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    monitor(db, world.env.id, "K1")
    put(api, "visits", visit("V1"))
    remove(api, "visits", "V1")
    assert states(db, "visit") == {"V1": "deactivated"}
    assert states(db, "worker") == {"W1": "deactivated"}


def test_rule_past_visit_ends_when_the_window_moves_past_it(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    monitor(db, world.env.id, "K1")
    put(api, "visits", visit("V1", days=1, plan_visit_id="P1"), visit("V5", days=5))
    assert states(db, "visit") == {"V1": "active", "V5": "active"}

    result = config.do_reconcile(db, SYSTEM, world.env.id, now=utc_now() + timedelta(days=3))
    assert states(db, "visit") == {"V1": "ended", "V5": "active"}
    assert result.counts["visit"] == {"ended": 1}
    # An ended visit still counts as published for its care plan.
    assert states(db, "care_plan") == {"P1": "active"}
    # Ended stays ended: a later run changes nothing more.
    assert config.do_reconcile(db, SYSTEM, world.env.id, now=utc_now() + timedelta(days=3)).changes == 0
