"""Records of different environments and tenants never collide or leak. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from carehub import bootstrap
from carehub.app import create_app
from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import SYSTEM
from carehub.platform.db import Database
from carehub.platform.errors import Conflict, InvalidInput, NotFound
from carehub.tenancy import service as tenancy
from tests.conftest import World
from tests.roster.test_api_basics import batch, client_rec, seed, seed_people, visit_rec


@pytest.fixture
def added(container: bootstrap.Container, world: World) -> Iterator[TestClient]:
    """A client for a second environment of the same tenant."""
    env = tenancy.do_create_environment(
        container.db, SYSTEM, tenant_id=world.tenant.id, name="SouthWest", prefix="SouthWest"
    )
    _, token = auth.do_create_token(container.db, SYSTEM, tenant_id=world.tenant.id, environment_id=env.id, name="sw")
    with TestClient(create_app(container), headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


@pytest.fixture
def other_tenant(container: bootstrap.Container, world: World) -> Iterator[TestClient]:
    """A client for another tenant's primary environment."""
    tenant, env = tenancy.do_create_tenant(container.db, SYSTEM, name="Moonlight Care", timezone="Australia/Sydney")
    _, token = auth.do_create_token(container.db, SYSTEM, tenant_id=tenant.id, environment_id=env.id, name="x")
    with TestClient(create_app(container), headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def test_rule_the_same_ids_in_two_environments_are_two_records(api: TestClient, added: TestClient) -> None:
    seed(api)
    seed(added)
    assert batch(api, "clients", [client_rec(1, last_name="Primary")])["created"] == 1
    assert batch(added, "clients", [client_rec(1, last_name="Added")])["created"] == 1
    assert api.get("/api/v1/clients/C1").json()["last_name"] == "Primary"
    assert added.get("/api/v1/clients/C1").json()["last_name"] == "Added"
    # Versions are per environment too: version 1 is not "older" than the other's version 5.
    assert batch(added, "clients", [client_rec(1, version=5, last_name="Added v5")])["updated"] == 1
    assert api.get("/api/v1/clients/C1").json()["version"] == 1


def test_rule_a_reference_resolves_only_inside_its_own_environment(api: TestClient, added: TestClient) -> None:
    seed_people(api)
    seed(added)
    err = batch(added, "visits", [visit_rec(1)])["results"][0]["errors"][0]
    assert (err["field"], err["code"]) == ("client_id", "unknown_client")
    r = batch(added, "clients", [client_rec(1, branch_id="B404")])["results"][0]["errors"][0]
    assert r["code"] == "unknown_branch"


def test_rule_changes_in_one_environment_leave_the_other_alone(api: TestClient, added: TestClient) -> None:
    for client in (api, added):
        seed_people(client)
        batch(client, "visits", [visit_rec(1)])
    assert added.delete("/api/v1/clients/C1").json()["outcome"] == "deleted"
    assert added.post("/api/v1/visits/V1/cancel").json()["outcome"] == "updated"
    assert added.post("/api/v1/visits/V1/allocations", json={"worker_id": "W1"}).status_code == 409
    assert api.get("/api/v1/clients/C1").json()["deleted"] is False
    assert api.get("/api/v1/visits/V1").json()["status"] == "scheduled"
    assert api.post("/api/v1/visits/V1/allocations", json={"worker_id": "W1"}).status_code == 200
    assert [e["action"] for e in api.get("/api/v1/clients/C1/history").json()["entries"]] == ["create"]
    assert [e["action"] for e in added.get("/api/v1/clients/C1/history").json()["entries"]] == ["delete", "create"]
    assert api.get("/api/v1/clients").json()["total"] == 1
    assert added.get("/api/v1/clients").json()["total"] == 0


def test_rule_another_tenants_records_are_not_found(api: TestClient, other_tenant: TestClient) -> None:
    seed_people(api)
    batch(api, "visits", [visit_rec(1)])
    for path in ("/api/v1/clients/C1", "/api/v1/visits/V1", "/api/v1/clients/C1/history", "/api/v1/branches/B1"):
        r = other_tenant.get(path)
        assert r.status_code == 404, path
        assert r.json()["error"]["code"] == "not_found"
    assert other_tenant.get("/api/v1/clients").json()["total"] == 0
    for r in (
        other_tenant.delete("/api/v1/clients/C1"),
        other_tenant.post("/api/v1/visits/V1/confirm"),
        other_tenant.post("/api/v1/visits/V1/cancel"),
        other_tenant.post("/api/v1/visits/V1/allocations", json={"worker_id": "W1"}),
        other_tenant.delete("/api/v1/visits/V1/allocations/W1"),
    ):
        assert r.status_code == 404
    got = api.get("/api/v1/visits/V1").json()
    assert (got["status"], got["confirmed_at"], got["worker_ids"]) == ("scheduled", None, [])
    assert api.get("/api/v1/clients/C1").json()["deleted"] is False


def test_create_environment_needs_a_unique_name_and_prefix(db: Database, world: World) -> None:
    env = tenancy.do_create_environment(db, SYSTEM, tenant_id=world.tenant.id, name="North", prefix="North")
    assert (env.is_primary, env.prefix, env.tenant_id, env.timezone) == (
        False,
        "North",
        world.tenant.id,
        "Europe/London",
    )
    assert [e.name for e in tenancy.list_environments(db, world.tenant.id)] == ["Primary", "North"]
    with pytest.raises(Conflict, match="already has an environment named"):
        tenancy.do_create_environment(db, SYSTEM, tenant_id=world.tenant.id, name="North", prefix="N2")
    with pytest.raises(Conflict, match="prefix 'NORTH' is taken"):
        tenancy.do_create_environment(db, SYSTEM, tenant_id=world.tenant.id, name="North 2", prefix="NORTH")
    with pytest.raises(InvalidInput) as refused:
        tenancy.do_create_environment(db, SYSTEM, tenant_id=world.tenant.id, name=" ", prefix="")
    assert [e.field for e in refused.value.errors] == ["name", "prefix"]
    with pytest.raises(NotFound):
        tenancy.do_create_environment(db, SYSTEM, tenant_id=world.tenant.id + 99, name="X", prefix="X")


def test_a_token_reaches_only_its_own_environment(db: Database, world: World) -> None:
    env = tenancy.do_create_environment(db, SYSTEM, tenant_id=world.tenant.id, name="North", prefix="North")
    actor = auth.actor_for_token(db, world.token)
    assert tenancy.environment_for(db, actor).id == world.env.id
    with pytest.raises(NotFound):
        tenancy.environment_for(db, actor, env.id)
