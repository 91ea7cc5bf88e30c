"""Seed 001, names across environments: published branches never shared, names that fit, tokens kept apart.

Records of different environments never collide (seed 001), while care planning matches branches by exact
name (seed 000). Each published branch belongs to one environment; a record of another environment whose
branch publishes under that name is refused, explained and warned about. Names too long for care planning
are refused the same way (at connection: a blocker of the dry run). SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from carehub import bootstrap
from carehub.platform.auth.actor import SYSTEM, Actor
from carehub.platform.clock import utc_now
from carehub.platform.db import Database
from carehub.publishing.service import config, explain, names, status
from carehub.publishing.tables import PublishedBranch, PublishedClient, PublishedVisit, PublishedWorker
from carehub.roster.tables import Branch
from carehub.tenancy import connect
from carehub.tenancy import service as tenancy
from carehub.tenancy.domain.naming import Convention
from carehub.tenancy.tables import Environment
from tests.conftest import World
from tests.publishing.support import put, states, visit
from tests.tenancy.support import Standalone, client_for, seed


@contextmanager
def added(container: bootstrap.Container, admin: Actor, name: str, prefix: str) -> Iterator[tuple[int, TestClient]]:
    """A new environment connected with its own API token, and an API client with that token."""
    plan = connect.do_connect_environment(
        container.db, admin, name=name, prefix=prefix, dry_run=False, create_token=True
    )
    assert plan.environment is not None
    assert plan.token is not None
    for client in client_for(container, plan.token):
        yield plan.environment.id, client


def person(ext: str, branch: str, **over: Any) -> dict[str, Any]:
    """A client or worker record (workers: mobile-enabled)."""
    return {
        "id": ext,
        "version": 1,
        "branch_id": branch,
        "first_name": "Ida",
        "last_name": ext,
        "status": "active",
    } | over


def branch_and_people(api: TestClient, branch: str, name: str, n: str) -> None:
    """Branch ``branch`` named ``name`` with client C``n`` and mobile worker W``n`` on visit V``n`` (contract K1)."""
    put(api, "branches", {"id": branch, "version": 1, "name": name})
    put(api, "clients", person(f"C{n}", branch))
    put(api, "workers", person(f"W{n}", branch, mobile_enabled=True))
    put(api, "visits", visit(f"V{n}", client=f"C{n}", workers=(f"W{n}",)))


def owners(db: Database) -> dict[str, int | None]:
    """Published branch name -> its owning environment."""
    with db.read() as session:
        rows = session.execute(select(PublishedBranch.name, PublishedBranch.environment_id)).all()
        return {str(n): e for n, e in rows}


def environments_in(db: Database, branch_name: str, *, active: bool = False) -> set[int]:
    """The environments whose published clients and workers (only the active ones, if asked) are in a branch."""
    with db.read() as session:
        pk = session.scalar(select(PublishedBranch.id).where(PublishedBranch.name == branch_name))
        found: set[int] = set()
        for table in (PublishedClient, PublishedWorker):
            query = select(table.environment_id).where(table.branch_id == pk)
            if active:
                query = query.where(table.state == "active")
            found |= set(session.scalars(query))
        return found


def refused(db: Database, env: int) -> list[names.RefusedBranch]:
    with db.read() as session:
        return names.refused_branches(session, env, utc_now())


def test_rule_a_branch_named_like_another_environments_published_branch_never_shares_it(
    container: bootstrap.Container, db: Database, admin: Actor, primary: TestClient, world: World
) -> None:
    """Seed 001: records of different environments never collide, even when a branch is LATER named so."""
    with added(container, admin, "SouthWest", "SouthWest") as (sw_env, southwest):
        seed(southwest, db, sw_env)  # branch Bristol: published as "SouthWest - Bristol"
        assert owners(db) == {"Bristol": world.env.id, "SouthWest - Bristol": sw_env}
        # Later, the primary environment gets a branch literally named like the added environment's.
        branch_and_people(primary, "B9", "SouthWest - Bristol", "9")
        assert "W9" not in states(db, "worker", world.env.id)
        assert "C9" not in states(db, "client", world.env.id)
        assert environments_in(db, "SouthWest - Bristol") == {sw_env}
        assert owners(db)["SouthWest - Bristol"] == sw_env
        # Explained, on the API and to the service, naming the environment that owns the name.
        answer = primary.get("/api/v1/explain/worker/W9").json()
        assert answer["publishes"] is False
        assert any("environment 'SouthWest'" in n and "B9" in n for n in answer["notes"]), answer["notes"]
        client = explain.do_explain(db, admin, world.env.id, "client", "C9")
        assert client.publishes is False
        assert any("records of two environments never share a branch" in n for n in client.notes)
        # Health warns: which branch, how many records, why.
        [one] = refused(db, world.env.id)
        assert (one.external_id, one.published_name, one.clients, one.workers) == ("B9", "SouthWest - Bristol", 1, 1)
        reason = names.health_reason([one])
        assert reason is not None
        assert reason[0] == "branch_name_refused"
        assert "SouthWest" in reason[1]
        assert refused(db, sw_env) == []
        health = status.status_of(db, world.env.id)
        assert [(r.code, r.level) for r in health.reasons if r.code == "branch_name_refused"] == [
            ("branch_name_refused", status.Health.WARNING)
        ]
        assert "branch_name_refused" not in {r.code for r in status.status_of(db, sw_env).reasons}
        # Renamed in the rostering system: its records publish at once, into a branch of their own.
        put(primary, "branches", {"id": "B9", "version": 2, "name": "Bristol North"})
        assert states(db, "worker", world.env.id)["W9"] == "active"
        assert environments_in(db, "Bristol North") == {world.env.id}
        assert refused(db, world.env.id) == []
        assert explain.do_explain(db, admin, world.env.id, "worker", "W9").notes == []


def test_rule_the_first_environment_to_publish_a_branch_name_owns_it_and_a_rename_into_it_deactivates(
    container: bootstrap.Container, db: Database, admin: Actor, primary: TestClient, world: World
) -> None:
    """The primary environment published "North - Leeds" first; an added environment North is refused it."""
    branch_and_people(primary, "B9", "North - Leeds", "9")
    assert owners(db)["North - Leeds"] == world.env.id
    with added(container, admin, "North", "North") as (north_env, north):
        seed(north, db, north_env)
        assert states(db, "worker", north_env) == {"W1": "active"}
        # North renames its Bristol to Leeds: "North - Leeds" is the primary's: W1 and C1 leave care planning.
        put(north, "branches", {"id": "B1", "version": 2, "name": "Leeds"})
        assert states(db, "worker", north_env) == {"W1": "deactivated"}
        assert states(db, "client", north_env)["C1"] == "deactivated"
        assert environments_in(db, "North - Leeds") == {world.env.id}
        assert states(db, "worker", world.env.id)["W9"] == "active"
        notes = north.get("/api/v1/explain/client/C1").json()["notes"]
        assert any("environment 'Primary'" in n for n in notes), notes
        assert [r.external_id for r in refused(db, north_env)] == ["B1"]


def test_rule_a_reconcile_takes_records_out_of_a_branch_they_shared_before_branches_had_owners(
    container: bootstrap.Container, db: Database, admin: Actor, primary: TestClient, world: World
) -> None:
    """Data published before branches had owners: an added environment's records in the primary's branch.

    Nothing changes about those records, yet the next reconcile (a full run) sees they are in another
    environment's branch and deactivates them; the primary's records stay.
    """
    branch_and_people(primary, "B9", "North - Leeds", "9")
    with added(container, admin, "North", "North") as (north_env, north):
        seed(north, db, north_env)
        with db.transaction() as session:  # the state an older Carehub could leave: one branch, two environments
            shared = session.scalar(select(PublishedBranch.id).where(PublishedBranch.name == "North - Leeds"))
            session.execute(update(Branch).where(Branch.environment_id == north_env).values(name="Leeds"))
            for table in (PublishedClient, PublishedWorker):
                session.execute(update(table).where(table.environment_id == north_env).values(branch_id=shared))
        assert environments_in(db, "North - Leeds") == {world.env.id, north_env}
        result = config.do_reconcile(db, admin, north_env)
        assert states(db, "worker", north_env) == {"W1": "deactivated"}
        assert states(db, "client", north_env)["C1"] == "deactivated"
        assert environments_in(db, "North - Leeds", active=True) == {world.env.id}
        assert states(db, "worker", world.env.id)["W9"] == "active"
        assert result.counts["worker"]["deactivated"] == 1
        assert result.counts["client"]["deactivated"] == 1
        # A second reconcile has nothing left to do for them.
        again = config.do_reconcile(db, admin, north_env)
        assert [c for c in again.sample if c.kind in {"client", "worker"}] == []


def test_rule_environments_created_without_a_convention_still_prefix_their_names(
    container: bootstrap.Container, db: Database, primary: TestClient, world: World
) -> None:
    """The older do_create_environment gives the default convention; a stored environment without one gets it."""
    env = tenancy.do_create_environment(db, SYSTEM, tenant_id=world.tenant.id, name="Test", prefix="T")
    assert env.convention == Convention("T")
    assert (env.branch_format, env.username_format, env.visit_id_format) == (
        "{prefix} - {branch}",
        "{prefix}.{username}",
        "{prefix}-{id}",
    )
    with db.transaction() as session:  # as environments created before migration 0008 were stored
        session.execute(
            update(Environment)
            .where(Environment.id == env.id)
            .values(branch_format=None, username_format=None, visit_id_format=None)
        )
    assert tenancy.get_environment(db, env.id).convention == Convention("T")
    assert tenancy.get_environment(db, world.env.id).convention is None  # the primary's names are unchanged


# --------------------------------------------------------------------------------------- column lengths

ROOM_BRANCH = 200 - len("SouthWest - ")  # the longest roster branch name whose published name fits
ROOM_VISIT = 100 - len("SouthWest-")


def test_rule_the_dry_run_blocks_names_too_long_for_care_planning_at_the_limit_and_one_over(
    container: bootstrap.Container, db: Database, admin: Actor, southwest: Standalone
) -> None:
    def dry() -> list[dict[str, str]]:
        plan = connect.do_connect_environment(
            db, admin, name="SouthWest", prefix="SouthWest", source_tenant=southwest.tenant.name
        )
        return [c.as_dict() for c in plan.collisions if c.code == "too_long"]

    for api in client_for(container, southwest.token):
        put(api, "branches", {"id": "B1", "version": 2, "name": "b" * ROOM_BRANCH})
        put(api, "visits", visit("v" * ROOM_VISIT))
        assert dry() == []  # exactly at the limit: 200 and 100 characters
        put(api, "branches", {"id": "B1", "version": 3, "name": "b" * (ROOM_BRANCH + 1)})
        put(api, "visits", visit("w" * (ROOM_VISIT + 1)))
    found = dry()
    assert sorted((c["field"], len(c["value"])) for c in found) == [("branch_format", 201), ("visit_id_format", 101)]
    assert all(c["reason"].startswith("at most ") for c in found)


def test_rule_names_too_long_after_connection_are_refused_and_explained_never_a_database_error(
    container: bootstrap.Container, db: Database, admin: Actor, primary: TestClient
) -> None:
    with added(container, admin, "SouthWest", "SouthWest") as (env, api):
        seed(api, db, env)
        branch_and_people(api, "B7", "b" * ROOM_BRANCH, "7")  # published name: exactly 200 characters
        assert states(db, "worker", env)["W7"] == "active"
        assert ("SouthWest - " + "b" * ROOM_BRANCH) in owners(db)
        branch_and_people(api, "B8", "c" * (ROOM_BRANCH + 1), "8")  # 201: accepted in the roster, not published
        assert "W8" not in states(db, "worker", env)
        notes = api.get("/api/v1/explain/worker/W8").json()["notes"]
        assert any("201 characters long; care planning holds at most 200" in n for n in notes), notes
        assert [r.external_id for r in refused(db, env)] == ["B8"]
        # Visit IDs: 100 characters with the prefix publish, 101 do not (and say why).
        put(api, "visits", visit("v" * ROOM_VISIT), visit("w" * (ROOM_VISIT + 1)))
        with db.read() as session:
            ids = set(session.scalars(select(PublishedVisit.external_id).where(PublishedVisit.environment_id == env)))
        assert "SouthWest-" + "v" * ROOM_VISIT in ids
        assert not any("w" * ROOM_VISIT in i for i in ids)
        answer = api.get(f"/api/v1/explain/visit/{'w' * (ROOM_VISIT + 1)}").json()
        assert answer["publishes"] is False
        assert any("101 characters long; care planning holds at most 100" in n for n in answer["notes"])
        assert api.get(f"/api/v1/explain/visit/{'v' * ROOM_VISIT}").json()["notes"] == []
        with db.read() as session:
            assert names.refused_visit_ids(session, env, utc_now()) == ["w" * (ROOM_VISIT + 1)]
        assert names.visit_health_reason(["w" * (ROOM_VISIT + 1)]) is not None
        codes = {r.code: r.level for r in status.status_of(db, env).reasons}
        assert codes["visit_id_too_long"] == status.Health.WARNING
        assert codes["branch_name_refused"] == status.Health.WARNING  # B8


# ------------------------------------------------------------------------------------ API tokens


def test_rule_an_api_token_never_reads_or_writes_another_environments_records(
    container: bootstrap.Container, db: Database, admin: Actor, primary: TestClient, world: World
) -> None:
    """Both environments hold C1, W1 and V1 (the same ids): each token reaches only its own environment's."""
    with added(container, admin, "SouthWest", "SouthWest") as (env, southwest):
        seed(southwest, db, env)
        other = f"?environment={world.env.id}"
        assert southwest.get(f"/api/v1/clients{other}").status_code == 404
        assert southwest.get(f"/api/v1/clients/C1{other}").status_code == 404
        assert primary.get(f"/api/v1/clients/C1?environment={env}").status_code == 404
        changed = person("C1", "B1", version=5, last_name="Changed")
        assert southwest.put("/api/v1/clients/C1", json=changed).status_code == 200
        assert southwest.get("/api/v1/clients/C1").json()["last_name"] == "Changed"
        assert primary.get("/api/v1/clients/C1").json()["last_name"] == "Client1"  # the primary's is untouched
        assert southwest.delete("/api/v1/visits/V1").status_code in (200, 204)
        assert primary.get("/api/v1/visits/V1").status_code == 200
        assert southwest.get(f"/api/v1/explain/visit/V1{other}").json()["id"] == "V1"  # its own V1, not the primary's
        listed = {c["id"]: c["last_name"] for c in southwest.get("/api/v1/clients").json()["items"]}
        assert listed["C1"] == "Changed"
