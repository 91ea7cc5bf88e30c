"""API token scopes: who may create each, what the audit row says, and the CLI.

``roster`` (the default) is a rostering system's credential; ``admin`` a tenant administrator's automation token.

What each scope may call is the access matrix's (tests/access/test_matrix.py).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from carehub.platform.audit import AuditEntry
from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import SYSTEM, Actor, Role, TokenScope
from carehub.platform.db import Database
from carehub.platform.errors import NotFound, PermissionDenied
from carehub.tenancy import service as tenancy
from tests.cli.support import run
from tests.conftest import PASSWORD, World


def _create(db: Database, actor: Actor, world: World, scope: TokenScope) -> tuple[auth.TokenInfo, str]:
    return auth.do_create_token(
        db, actor, tenant_id=world.tenant.id, environment_id=world.env.id, name="automation", scope=scope
    )


def test_rule_only_a_tenant_administrator_creates_an_admin_token(db: Database, world: World) -> None:
    for username, role in (("manager", Role.BRANCH_MANAGER), ("coord", Role.COORDINATOR), ("carer", Role.CARE_WORKER)):
        auth.do_create_user(db, SYSTEM, tenant_id=world.tenant.id, username=username, password=PASSWORD, role=role)
        with pytest.raises(PermissionDenied, match="only a tenant administrator"):
            _create(db, auth.authenticate(db, username, PASSWORD), world, TokenScope.ADMIN)
    _, admin_secret = _create(db, SYSTEM, world, TokenScope.ADMIN)
    for token in (world.token, admin_secret):  # no token mints an admin token, not even an admin one
        with pytest.raises(PermissionDenied, match="only a tenant administrator"):
            _create(db, auth.actor_for_token(db, token), world, TokenScope.ADMIN)
    info, secret = _create(db, auth.authenticate(db, world.admin_username, PASSWORD), world, TokenScope.ADMIN)
    assert info.scope is TokenScope.ADMIN
    assert auth.actor_for_token(db, secret).is_admin
    # An administrator of another tenant finds no such tenant.
    other, _ = tenancy.do_create_tenant(db, SYSTEM, name="Other Care", timezone="Europe/London")
    auth.do_create_user(db, SYSTEM, tenant_id=other.id, username="theirs", password=PASSWORD, role=Role.ADMIN)
    with pytest.raises(NotFound):
        _create(db, auth.authenticate(db, "theirs", PASSWORD), world, TokenScope.ADMIN)


def test_a_token_is_a_roster_token_unless_created_as_an_admin_one(db: Database, world: World) -> None:
    roster = auth.actor_for_token(db, world.token)
    assert (roster.token_scope, roster.is_roster_token, roster.is_admin) == (TokenScope.ROSTER, True, False)
    assert [t.scope for t in auth.list_tokens(db, world.tenant.id)] == [TokenScope.ROSTER]
    _, secret = _create(db, SYSTEM, world, TokenScope.ADMIN)
    admin = auth.actor_for_token(db, secret)
    assert (admin.kind, admin.role, admin.branch_ids, admin.environment_id) == ("token", Role.ADMIN, None, world.env.id)
    assert (admin.token_scope, admin.is_roster_token, admin.is_admin) == (TokenScope.ADMIN, False, True)
    assert [t.scope for t in auth.list_tokens(db, world.tenant.id)] == [TokenScope.ADMIN, TokenScope.ROSTER]


def test_creating_a_token_is_audited_with_its_scope(db: Database, world: World) -> None:
    info, _ = _create(db, auth.authenticate(db, world.admin_username, PASSWORD), world, TokenScope.ADMIN)
    with db.read() as session:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.entity == "api_token", AuditEntry.action == "create")
        ).all()
    changes = {r.entity_id: (r.actor_label, r.changes["scope"]) for r in rows}
    assert changes[info.id] == (world.admin_username, [None, "admin"])
    assert sorted(scope for _, scope in changes.values()) == [[None, "admin"], [None, "roster"]]


def test_an_admin_token_reaches_every_environment_of_its_tenant_only(
    db: Database, world: World, admin_token: str, admin_api: TestClient, api: TestClient
) -> None:
    north = tenancy.do_create_environment(db, SYSTEM, tenant_id=world.tenant.id, name="North", prefix="North")
    other, elsewhere = tenancy.do_create_tenant(db, SYSTEM, name="Other Care", timezone="Europe/London")
    assert other.id != world.tenant.id
    assert admin_api.get("/api/v1/clients", params={"environment": north.id}).status_code == 200
    assert admin_api.get("/api/v1/clients", params={"environment": elsewhere.id}).status_code == 404
    # The roster token stays in its own environment.
    assert api.get("/api/v1/clients", params={"environment": north.id}).status_code == 404
    # Without an environment, an admin token works in its own (the one it was created for).
    assert tenancy.environment_for(db, auth.actor_for_token(db, admin_token)).id == world.env.id
    assert tenancy.environment_for(db, auth.actor_for_token(db, admin_token), north.id).id == north.id


def test_cli_creates_admin_tokens_and_lists_every_tokens_scope(carehub: CliRunner, db: Database) -> None:
    run(carehub, "tenant", "create", "Sunrise Care")
    roster = run(carehub, "token", "create", "rostering", "--json")
    admin = run(carehub, "token", "create", "automation", "--admin", "--json")
    assert (roster["scope"], admin["scope"]) == ("roster", "admin")
    assert auth.actor_for_token(db, admin["token"]).is_admin
    assert not auth.actor_for_token(db, roster["token"]).is_admin
    listed = run(carehub, "token", "list", "--json")
    assert [(t["name"], t["scope"]) for t in listed] == [("automation", "admin"), ("rostering", "roster")]
    table = run(carehub, "token", "list")
    assert "scope" in table
    assert "admin" in table
    assert "Admin token" in run(carehub, "token", "create", "again", "--admin")
    assert "--admin" in run(carehub, "token", "create", "--help")
