"""Seed 001's forms statements across connected environments, on SQLite and PostgreSQL.

"Update a form once and have it apply across all connected branches." "Forms are defined once at the
tenant level": a branch of an added environment shares the tenant's forms and services with the primary's
branches, sees a form edited once at its new version (on the staff side and in its workers' mobile feed),
and its staff see nothing of the primary's branches' forms.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from carehub import bootstrap
from carehub.app import create_app
from carehub.platform.auth.actor import Actor, Role
from carehub.platform.db import Database
from carehub.platform.errors import NotFound
from carehub.publishing.mobile import service as mobile
from carehub.roster.domain.kinds import RecordKind
from carehub.roster.service import queries
from carehub.tenancy import connect
from carehub.tenancy.forms import service as forms
from tests.conftest import World
from tests.forms.conftest import Branches, fields, form_sets
from tests.publishing.support import monitor, put, roster, visit

Staff = Callable[..., Actor]


def _added_environment(container: bootstrap.Container, admin: Actor) -> tuple[int, int]:
    """Environment SouthWest (prefix SW) with branch B1 Bristol, mobile worker W1 and visit V1; (env, branch pk)."""
    db = container.db
    plan = connect.do_connect_environment(db, admin, name="SouthWest", prefix="SW", dry_run=False, create_token=True)
    assert plan.environment is not None
    assert plan.token is not None
    env = plan.environment.id
    with TestClient(create_app(container), headers={"Authorization": f"Bearer {plan.token}"}) as client:
        roster(client)
        put(client, "visits", visit("V1"))
    monitor(db, env, "K1")
    return env, queries.get_record(db, env, RecordKind.BRANCH, "B1")["_pk"]


def test_rule_updating_a_form_once_applies_to_the_branches_of_every_connected_environment(
    container: bootstrap.Container, db: Database, admin: Actor, branches: Branches, staff: Staff, world: World
) -> None:
    env, southwest = _added_environment(container, admin)
    assert southwest not in (branches.bristol, branches.bath)  # the same id "B1", another branch
    forms.do_create_form(db, admin, key="notes", title="Visit notes", fields=fields("notes"))
    forms.do_create_service(db, admin, name="Home care", form_keys=["notes"], branch_ids=[branches.bristol, southwest])
    code = mobile.do_issue_link_code(db, admin, env, "W1")
    _, token = mobile.do_link_device(db, code.username, code.code, "Wren's phone")
    first = mobile.pull(db, mobile.authenticate_device(db, token), None)
    assert {v["external_id"]: v["form_ids"] for v in first.visits} == {"SW-V1": ["notes@1"]}

    forms.do_update_form(db, admin, "notes", title="Visit notes", fields=fields("notes", "pain"))

    assert form_sets(db, admin, branches.bristol, branches.bath, southwest) == {
        branches.bristol: ["notes@2"],
        branches.bath: [],
        southwest: ["notes@2"],
    }
    for branch in (branches.bristol, southwest):
        seen = forms.list_forms(db, staff(Role.COORDINATOR, branch))
        assert [(f.key, f.current_version) for f in seen] == [("notes", 2)]
    after = mobile.pull(db, mobile.authenticate_device(db, token), first.cursor)
    assert {v["external_id"]: v["form_ids"] for v in after.visits} == {"SW-V1": ["notes@2"]}
    assert [(f["id"], [x["key"] for x in f["fields"]]) for f in after.forms] == [("notes@2", ["notes", "pain"])]


def test_rule_branches_of_different_environments_remain_separate_for_forms(
    container: bootstrap.Container, db: Database, admin: Actor, branches: Branches, staff: Staff
) -> None:
    _, southwest = _added_environment(container, admin)
    forms.do_create_form(db, admin, key="primary-only", title="Primary only", fields=fields("x"))
    forms.do_create_form(db, admin, key="sw-only", title="SouthWest only", fields=fields("x"))
    primary = forms.do_create_service(
        db, admin, name="Primary care", form_keys=["primary-only"], branch_ids=[branches.bristol]
    )
    forms.do_create_service(db, admin, name="SouthWest care", form_keys=["sw-only"], branch_ids=[southwest])
    sw_coordinator = staff(Role.COORDINATOR, southwest)
    assert [f.key for f in forms.list_forms(db, sw_coordinator)] == ["sw-only"]
    assert [s.name for s in forms.list_services(db, sw_coordinator)] == ["SouthWest care"]
    assert [b.id for b in forms.list_branches(db, sw_coordinator)] == [southwest]
    with pytest.raises(NotFound):
        forms.get_form(db, sw_coordinator, "primary-only")
    with pytest.raises(NotFound):
        forms.get_service(db, sw_coordinator, primary.id)
    bristol_manager = staff(Role.BRANCH_MANAGER, branches.bristol)
    assert [f.key for f in forms.list_forms(db, bristol_manager)] == ["primary-only"]
    with pytest.raises(NotFound):
        forms.get_form(db, bristol_manager, "sw-only")
