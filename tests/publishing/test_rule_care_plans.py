"""The plan-visit (care plan) rules of seed 000, end to end through the roster API, on SQLite and PostgreSQL.

A plan visit publishes (as a care plan) when: on a monitored contract; at least
one of its allocated visits has published; its visit type has a description.
Deleting a plan visit deactivates its care plan; a new service requirement ends
the care plan and starts a new one.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from carehub.platform.auth.actor import SYSTEM
from carehub.platform.db import Database
from carehub.publishing.service import config
from tests.conftest import World
from tests.publishing.support import (
    allocate,
    deallocate,
    monitor,
    published,
    put,
    remove,
    revisions,
    roster,
    states,
    update,
    visit,
)


def test_rule_plan_visit_monitored_contract(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    update(api, "plan-visits", "P1", contract_id="K2")
    monitor(db, world.env.id, "K1")
    # Its visit is on K1 and publishes; the plan visit itself is on K2, not monitored.
    put(api, "visits", visit("V1", plan_visit_id="P1"))
    assert states(db, "visit") == {"V1": "active"}
    assert states(db, "care_plan") == {}

    monitor(db, world.env.id, "K2")
    assert states(db, "care_plan") == {"P1": "active"}


def test_rule_plan_visit_needs_a_published_visit(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    monitor(db, world.env.id, "K1")
    assert states(db, "care_plan") == {}  # no visit at all

    put(api, "visits", visit("V1", plan_visit_id="P1", workers=()))
    assert states(db, "care_plan") == {}  # a visit, but not allocated: not published
    put(api, "visits", visit("V2", plan_visit_id="P1", workers=("W2",)))
    assert states(db, "care_plan") == {}  # allocated, but not to a mobile worker: not published

    allocate(api, "V1", "W1")
    assert states(db, "visit") == {"V1": "active"}
    assert states(db, "care_plan") == {"P1": "active"}
    assert revisions(db, "P1") == [(1, "active")]

    # Its only published visit is cancelled (de-allocated): the care plan is deactivated.
    deallocate(api, "V1", "W1")
    assert states(db, "care_plan") == {"P1": "deactivated"}


def test_rule_plan_visit_needs_visit_type_description(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    update(api, "plan-visits", "P1", visit_type_description=None)
    monitor(db, world.env.id, "K1")
    put(api, "visits", visit("V1", plan_visit_id="P1"))
    assert states(db, "visit") == {"V1": "active"}
    assert states(db, "care_plan") == {}

    update(api, "plan-visits", "P1", visit_type_description="   ")  # blank is no description
    assert states(db, "care_plan") == {}

    update(api, "plan-visits", "P1", visit_type_description="Personal care")
    assert states(db, "care_plan") == {"P1": "active"}
    assert published(db, "care_plan", "P1").description == "Personal care"


def test_rule_deleting_a_plan_visit_deactivates_its_care_plan(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    monitor(db, world.env.id, "K1")
    put(api, "visits", visit("V1", plan_visit_id="P1"))
    assert states(db, "care_plan") == {"P1": "active"}
    remove(api, "plan-visits", "P1")
    assert revisions(db, "P1") == [(1, "deactivated")]
    # The visit itself still publishes: only the care plan goes.
    assert states(db, "visit") == {"V1": "active"}


def test_rule_new_service_requirement_ends_care_plan_and_starts_new_one(
    api: TestClient, db: Database, world: World
) -> None:
    roster(api)
    monitor(db, world.env.id, "K1")
    put(api, "visits", visit("V1", plan_visit_id="P1"))
    assert revisions(db, "P1") == [(1, "active")]

    # A description change is no new requirement: the same care plan is updated.
    update(api, "plan-visits", "P1", visit_type_description="Personal care and meds")
    assert revisions(db, "P1") == [(1, "active")]
    assert published(db, "care_plan", "P1").description == "Personal care and meds"

    # New days and time: the care plan ends and the next one starts.
    update(api, "plan-visits", "P1", days="MON,THU", start_time="10:30")
    assert revisions(db, "P1") == [(1, "ended"), (2, "active")]
    current = published(db, "care_plan", "P1")
    assert (current.days, current.start_time, current.revision) == ("MON,THU", "10:30", 2)

    # Each further change of requirement starts one more.
    update(api, "plan-visits", "P1", duration_minutes=45)
    update(api, "plan-visits", "P1", carers_needed=2)
    assert revisions(db, "P1") == [(1, "ended"), (2, "ended"), (3, "ended"), (4, "active")]


def test_rule_care_plan_loses_its_published_visit_at_once_when_the_visit_moves_to_another_plan_visit(
    api: TestClient, db: Database, world: World
) -> None:
    roster(api)
    monitor(db, world.env.id, "K1")
    put(api, "visits", visit("V1", plan_visit_id="P1"))
    assert states(db, "care_plan") == {"P1": "active"}
    update(api, "visits", "V1", plan_visit_id=None)
    assert states(db, "care_plan") == {"P1": "deactivated"}
    update(api, "visits", "V1", plan_visit_id="P1")
    assert states(db, "care_plan") == {"P1": "active"}
    assert config.do_reconcile(db, SYSTEM, world.env.id).changes == 0
