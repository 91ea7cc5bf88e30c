"""Fixtures of forms tests: a tenant with branches Bristol (B1) and Bath (B2), and callers of each role."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from carehub import bootstrap
from carehub.app import create_app
from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import SYSTEM, Actor, Role
from carehub.platform.db import Database
from carehub.roster.domain.kinds import RecordKind
from carehub.roster.service import queries
from carehub.tenancy import service as tenancy
from carehub.tenancy.forms import service as forms
from tests.conftest import PASSWORD, World
from tests.publishing.support import put

NOTES = [
    {"key": "mood", "label": "Mood today", "type": "choice", "required": True, "choices": ["Good", "Low"]},
    {"key": "notes", "label": "Notes", "type": "text"},
]


def fields(*keys: str) -> list[dict[str, Any]]:
    """A definition with a text field per key."""
    return [{"key": k, "label": k.capitalize(), "type": "text", "required": False} for k in keys]


@dataclass(frozen=True)
class Branches:
    """Roster branch ids of the world's primary environment."""

    bristol: int
    bath: int


@pytest.fixture
def branches(api: TestClient, db: Database, world: World) -> Branches:
    """Branches B1 Bristol and B2 Bath, with a client each (C1 in Bristol, C2 in Bath)."""
    put(api, "branches", {"id": "B1", "version": 1, "name": "Bristol"}, {"id": "B2", "version": 1, "name": "Bath"})
    put(
        api,
        "clients",
        *[
            {"id": c, "version": 1, "branch_id": b, "first_name": "Ada", "last_name": c, "status": "active"}
            for c, b in (("C1", "B1"), ("C2", "B2"))
        ],
    )
    pk = {b: queries.get_record(db, world.env.id, RecordKind.BRANCH, b)["_pk"] for b in ("B1", "B2")}
    return Branches(pk["B1"], pk["B2"])


@pytest.fixture
def admin(db: Database, world: World) -> Actor:
    """The world's tenant administrator, as signed in."""
    return auth.authenticate(db, "admin", PASSWORD)


@pytest.fixture
def staff(world: World) -> Callable[..., Actor]:
    """A signed-in user of ``role`` granted ``branch_ids`` (as sign-in builds them)."""

    def make(role: Role, *branch_ids: int) -> Actor:
        return Actor(
            kind="user",
            id=900,
            label=f"{role.value}",
            tenant_id=world.tenant.id,
            role=role,
            branch_ids=frozenset(branch_ids),
        )

    return make


@pytest.fixture
def other_tenant(db: Database) -> Actor:
    """The administrator of another tenant (Carehub acting for it)."""
    tenant, _ = tenancy.do_create_tenant(db, SYSTEM, name="Other Care", timezone="Europe/London")
    return replace(SYSTEM, tenant_id=tenant.id)


@pytest.fixture
def signed_in_as(container: bootstrap.Container, world: World, admin: Actor) -> Iterator[Callable[..., TestClient]]:
    """A browser-session client of a new user of ``role`` granted branches (by external id) through access."""
    from carehub.tenancy.access import service as access  # noqa: PLC0415 - part of the access capability

    clients: list[TestClient] = []

    def make(username: str, role: Role, *branch_external_ids: str) -> TestClient:
        access.do_create_user(container.db, admin, username=username, password=PASSWORD, role=role)
        for b in branch_external_ids:
            access.do_grant_branch(container.db, admin, username, b)
        client = TestClient(create_app(container))
        client.__enter__()
        clients.append(client)
        page = client.get("/sign-in")
        assert page.status_code == 200
        token = client.cookies.get("carehub_session")
        assert token
        csrf = _csrf(page.text)
        r = client.post(
            "/sign-in",
            data={"username": username, "password": PASSWORD, "csrf": csrf, "next": "/forms"},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def _csrf(html: str) -> str:
    marker = 'name="csrf" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def form_sets(db: Database, actor: Actor, *branch_ids: int) -> dict[int, list[str]]:
    """Each branch's forms as key@version."""
    return forms.branch_form_sets(db, actor, branch_ids)
