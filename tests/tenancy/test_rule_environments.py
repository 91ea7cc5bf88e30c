"""Seed 001, environments: one test per statement (FAQ included). SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from carehub import bootstrap
from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import SYSTEM, Actor, Role
from carehub.platform.db import Database
from carehub.platform.errors import AuthenticationRequired, Conflict, InvalidInput, PermissionDenied
from carehub.publishing.mobile import service as mobile
from carehub.publishing.service import schedule_jobs
from carehub.publishing.tables import PublishedBranch, PublishedVisit, PublishedWorker
from carehub.tenancy import connect
from carehub.tenancy import service as tenancy
from tests.conftest import PASSWORD, World
from tests.publishing.support import put, visit
from tests.tenancy.support import Standalone, client_for, primary_rows, snapshot


def _connect(db: Database, actor: Actor, southwest: Standalone | None, **over: object) -> connect.ConnectPlan:
    args: dict[str, object] = {"name": "SouthWest", "prefix": "SouthWest", "dry_run": False}
    if southwest is not None:
        args["source_tenant"] = southwest.tenant.name
    return connect.do_connect_environment(db, actor, **(args | over))  # type: ignore[arg-type]


def _workers(db: Database, env_id: int) -> dict[str, str]:
    with db.read() as session:
        rows = session.execute(
            select(PublishedWorker.external_id, PublishedWorker.username).where(
                PublishedWorker.environment_id == env_id
            )
        )
        return dict(rows.all())


def test_rule_one_tenant_connects_all_environments_no_separate_account_needed(
    db: Database, admin: Actor, primary: TestClient, southwest: Standalone
) -> None:
    """FAQ: Do I need a separate ACP account for each environment? No."""
    plan = _connect(db, admin, southwest)
    other = _connect(db, admin, None, name="North", prefix="North")
    envs = connect.list_for(db, admin)
    assert [e.name for e in envs] == ["Primary", "North", "SouthWest"]
    assert {e.tenant_id for e in envs} == {admin.tenant_id}
    assert plan.environment is not None
    assert other.environment is not None


def test_rule_each_environment_has_a_unique_prefix_regardless_of_case(
    db: Database, admin: Actor, primary: TestClient
) -> None:
    _connect(db, admin, None)
    again = connect.do_connect_environment(db, admin, name="South 2", prefix="SOUTHWEST")
    assert [(c.field, c.value, c.code) for c in again.collisions] == [("prefix", "SOUTHWEST", "prefix_taken")]
    with pytest.raises(Conflict) as refused:
        _connect(db, admin, None, name="South 2", prefix="southwest")
    assert refused.value.errors[0].field == "prefix"
    with pytest.raises(InvalidInput) as bad:
        connect.do_connect_environment(db, admin, name="X", prefix="South West!")
    err = bad.value.errors[0]
    assert (err.field, err.value) == ("prefix", "South West!")
    assert "letters" in err.reason
    assert "digits" in err.reason
    with pytest.raises(InvalidInput) as fmt:
        connect.do_connect_environment(db, admin, name="X", prefix="X", branch_format="{branch}")
    assert (fmt.value.errors[0].field, fmt.value.errors[0].value) == ("branch_format", "{branch}")
    with pytest.raises(InvalidInput) as sep:
        connect.do_connect_environment(db, admin, name="X", prefix="X", username_format="{prefix}{username}")
    assert sep.value.errors[0].field == "username_format"


def test_rule_the_prefix_applies_to_usernames_visit_ids_and_branch_names(
    db: Database, admin: Actor, primary: TestClient, southwest: Standalone, world: World
) -> None:
    plan = _connect(db, admin, southwest)
    assert plan.environment is not None
    env = plan.environment.id
    assert _workers(db, env) == {"W1": "SouthWest.wmobile"}
    with db.read() as session:
        visits = session.scalars(select(PublishedVisit.external_id).where(PublishedVisit.environment_id == env)).all()
        branch = session.scalar(
            select(PublishedBranch.name)
            .join(PublishedWorker, PublishedWorker.branch_id == PublishedBranch.id)
            .where(PublishedWorker.environment_id == env)
        )
    assert visits == ["SouthWest-V1"]
    assert branch == "SouthWest - Bristol"
    # The primary's records, with the very same ids in their roster, keep their names.
    assert _workers(db, world.env.id) == {"W1": "wmobile"}


def test_rule_branch_names_are_prefixed_with_the_environment_name(
    db: Database, admin: Actor, primary: TestClient, southwest: Standalone
) -> None:
    """FAQ: Will branch names change? Yes, "Bristol" appears as "SouthWest - Bristol"."""
    dry = connect.do_connect_environment(
        db, admin, name="SouthWest", prefix="SouthWest", source_tenant="SouthWest Care"
    )
    assert [(b.old, b.new) for b in dry.branches] == [("Bristol", "SouthWest - Bristol")]
    custom = connect.do_connect_environment(
        db, admin, name="SouthWest", prefix="SW", branch_format="{branch} ({prefix})", source_tenant="SouthWest Care"
    )
    assert [b.new for b in custom.branches] == ["Bristol (SW)"]


def test_rule_records_from_different_environments_never_collide(
    db: Database, admin: Actor, primary: TestClient, southwest: Standalone, world: World
) -> None:
    plan = _connect(db, admin, southwest)
    assert plan.ok
    assert plan.environment is not None
    with db.read() as session:
        names = session.scalars(
            select(PublishedWorker.username).where(PublishedWorker.tenant_id == world.tenant.id)
        ).all()
        branches = session.scalars(
            select(PublishedBranch.name).where(PublishedBranch.tenant_id == world.tenant.id)
        ).all()
    assert sorted(names) == ["SouthWest.wmobile", "wmobile"]
    assert sorted(branches) == ["Bristol", "SouthWest - Bristol"]


def test_rule_a_dry_run_lists_every_rename_collision_and_device_and_changes_nothing(
    db: Database, admin: Actor, primary: TestClient, southwest: Standalone
) -> None:
    before = snapshot(db)
    plan = connect.do_connect_environment(
        db, admin, name="SouthWest", prefix="SouthWest", source_tenant="SouthWest Care"
    )
    assert snapshot(db) == before
    assert plan.dry_run
    assert plan.ok
    assert [(u.name, u.old_username, u.new_username, u.branch) for u in plan.usernames] == [
        ("Wren Mobile", "wmobile", "SouthWest.wmobile", "SouthWest - Bristol")
    ]
    assert [(v.old, v.new) for v in plan.visit_ids] == [("V1", "SouthWest-V1")]
    assert [(d.name, d.old_username, d.new_username) for d in plan.devices] == [
        ("Wren's phone", "wmobile", "SouthWest.wmobile")
    ]
    assert plan.records["worker"] == 2
    assert plan.records["visit"] == 1
    # A collision: a prefixed branch name that already exists in the tenant blocks the connection.
    put(primary, "branches", {"id": "B9", "version": 1, "name": "SouthWest - Bristol"})
    put(
        primary,
        "workers",
        {
            "id": "W9",
            "version": 1,
            "branch_id": "B9",
            "first_name": "Al",
            "last_name": "Bee",
            "status": "active",
            "mobile_enabled": True,
        },
    )
    put(primary, "visits", visit("V9", workers=("W9",)))
    blocked = connect.do_connect_environment(
        db, admin, name="SouthWest", prefix="SouthWest", source_tenant="SouthWest Care"
    )
    assert [(c.field, c.value) for c in blocked.collisions] == [("branch", "SouthWest - Bristol")]
    before = snapshot(db)
    with pytest.raises(Conflict):
        _connect(db, admin, southwest)
    assert snapshot(db) == before


def test_rule_the_primary_environments_records_usernames_devices_and_data_are_unchanged(
    container: bootstrap.Container, db: Database, admin: Actor, primary: TestClient, southwest: Standalone, world: World
) -> None:
    """FAQ: Will my existing ACP data be affected? No: data and devices in the main tenant remain unchanged."""
    code = mobile.do_issue_link_code(db, admin, world.env.id, "W1")
    mobile.do_link_device(db, code.username, code.code, "Primary phone")
    before_all = snapshot(db)
    before = primary_rows(db, world)
    _connect(db, admin, southwest)
    # Every row of the primary environment and tenant is byte-for-byte what it was; only new rows were added
    # (the added environment's branches and workers share the tenant).
    for name, rows in before.items():
        now = primary_rows(db, world)[name]
        assert rows <= now, name
        added = now - rows
        assert all(r not in before_all[name] for r in added), name
        if name not in ("published_branches", "published_workers", "environment_logins", "environments"):
            assert not added, (name, added)
    # The primary's device still syncs.
    assert [d.name for d in mobile.list_devices(db, world.env.id)] == ["Primary phone"]


def test_rule_records_of_an_added_environment_arrive_as_new_records(
    db: Database, admin: Actor, primary: TestClient, southwest: Standalone, container: bootstrap.Container
) -> None:
    """FAQ: Can we move existing care records into the main tenant? No: they come through as new records."""
    plan = _connect(db, admin, southwest)
    assert plan.environment is not None
    env = plan.environment.id
    with db.read() as session:
        old = session.scalars(
            select(PublishedWorker.worker_id).where(PublishedWorker.environment_id == southwest.env.id)
        ).all()
        new = session.scalars(select(PublishedWorker.worker_id).where(PublishedWorker.environment_id == env)).all()
    assert set(old).isdisjoint(new)
    # The rostering system goes on sending with its own ids, now with the new environment's token.
    token = (
        plan.token or auth.do_create_token(db, SYSTEM, tenant_id=admin.tenant_id or 0, environment_id=env, name="pp")[1]
    )
    for client in client_for(container, token):
        assert client.get("/api/v1/workers/W1").json()["last_name"] == "Mobile"
        put(
            client,
            "workers",
            {
                "id": "W1",
                "version": 2,
                "branch_id": "B1",
                "first_name": "Wren",
                "last_name": "Moved",
                "status": "active",
                "mobile_enabled": True,
            },
        )
    assert _workers(db, env) == {"W1": "SouthWest.wmobile"}  # generated once, never changed


def test_rule_the_standalone_tenants_data_stays_readable_and_is_never_deleted(
    db: Database, admin: Actor, primary: TestClient, southwest: Standalone, container: bootstrap.Container
) -> None:
    """FAQ: You keep read access to the old environment for archiving."""
    before = primary_rows(db, World(southwest.tenant, southwest.env, southwest.token, "x"))
    _connect(db, admin, southwest)
    after = primary_rows(db, World(southwest.tenant, southwest.env, southwest.token, "x"))
    for name, rows in before.items():
        if name == "mobile_devices":
            assert len(after[name]) == len(rows)  # revoked, not deleted
        else:
            assert rows <= after[name], name
    for client in client_for(container, southwest.token):
        assert client.get("/api/v1/visits/V1").status_code == 200
    assert tenancy.find_tenant(db, southwest.tenant.name) is not None


def test_rule_usernames_change_for_staff_of_added_environments_and_logins_export_as_csv(
    db: Database, admin: Actor, primary: TestClient, southwest: Standalone, world: World
) -> None:
    """FAQ: Will usernames change? Yes, for staff in the environments being added: communicate new logins."""
    plan = _connect(db, admin, southwest)
    assert plan.environment is not None
    text = connect.login_changes_csv(connect.login_changes(db, admin, plan.environment.id))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["name", "old username", "new username", "branch"],
        ["Wren Mobile", "wmobile", "SouthWest.wmobile", "SouthWest - Bristol"],
    ]
    assert _workers(db, world.env.id) == {"W1": "wmobile"}


def test_rule_devices_of_affected_workers_are_revoked_to_re_link(
    db: Database, admin: Actor, primary: TestClient, southwest: Standalone
) -> None:
    token = mobile.list_devices(db, southwest.env.id)
    assert [d.name for d in token] == ["Wren's phone"]
    _connect(db, admin, southwest)
    assert mobile.list_devices(db, southwest.env.id) == []
    revoked = mobile.list_devices(db, southwest.env.id, include_revoked=True)
    assert revoked[0].revoked_at is not None


def test_rule_new_environments_can_connect_from_the_start_with_their_own_tokens(
    db: Database, admin: Actor, primary: TestClient, container: bootstrap.Container
) -> None:
    """Adding new environments: connected from the start, no migration; each with its own API tokens."""
    plan = connect.do_connect_environment(db, admin, name="North", prefix="North", dry_run=False, create_token=True)
    assert plan.token is not None
    assert plan.environment is not None
    assert (plan.usernames, plan.branches, plan.visit_ids, plan.devices) == ([], [], [], [])
    for client in client_for(container, plan.token):
        put(client, "branches", {"id": "B1", "version": 1, "name": "Leeds"})
        assert client.get("/api/v1/branches").status_code == 200


def test_rule_environments_can_be_added_individually_at_any_time(
    db: Database, admin: Actor, primary: TestClient, southwest: Standalone
) -> None:
    """FAQ: Can we add just some environments and not others? Yes, one at a time."""
    _connect(db, admin, None, name="North", prefix="North")
    _connect(db, admin, southwest)
    assert [e.name for e in connect.list_for(db, admin) if not e.is_primary] == ["North", "SouthWest"]


def test_rule_an_environment_pauses_and_resumes_without_losing_anything(
    db: Database, admin: Actor, primary: TestClient, southwest: Standalone, container: bootstrap.Container
) -> None:
    plan = _connect(db, admin, southwest, create_token=True)
    assert plan.environment is not None
    assert plan.token is not None
    env = plan.environment.id
    paused = connect.do_pause_environment(db, admin, env)
    assert paused.paused
    for client in client_for(container, plan.token):
        put(client, "visits", visit("V2"))
        assert client.get("/api/v1/visits/V2").status_code == 200  # stored
    with db.read() as session:
        assert session.scalars(
            select(PublishedVisit.external_id).where(PublishedVisit.environment_id == env)
        ).all() == ["SouthWest-V1"]
    assert str(env) not in schedule_jobs.refresh(db) or "environment " + str(env) + ":" not in schedule_jobs.refresh(db)
    resumed = connect.do_resume_environment(db, admin, env)
    assert resumed.published["counts"]["visit"] == {"published": 1}
    with db.read() as session:
        assert sorted(
            session.scalars(select(PublishedVisit.external_id).where(PublishedVisit.environment_id == env)).all()
        ) == ["SouthWest-V1", "SouthWest-V2"]


def test_rule_connecting_pausing_and_resuming_are_for_tenant_administrators(
    db: Database, world: World, primary: TestClient
) -> None:
    auth.do_create_user(
        db, SYSTEM, tenant_id=world.tenant.id, username="coord", password=PASSWORD, role=Role.COORDINATOR
    )
    coordinator = auth.authenticate(db, "coord", PASSWORD)
    with pytest.raises(PermissionDenied):
        connect.do_connect_environment(db, coordinator, name="X", prefix="X")
    with pytest.raises(PermissionDenied):
        connect.do_pause_environment(db, coordinator, world.env.id)
    with pytest.raises(AuthenticationRequired):
        auth.authenticate(db, "coord", "wrong")
