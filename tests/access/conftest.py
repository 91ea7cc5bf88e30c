"""Two branches of one tenant, a user of every role, and signed-in HTTP clients for each."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from carehub import bootstrap
from carehub.app import create_app
from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import SYSTEM, Actor, Role, TokenScope
from carehub.platform.db import Database
from carehub.publishing.mobile import service as mobile
from carehub.tenancy.access import service as access
from tests.access.support import HTML, csrf_of, two_branches
from tests.conftest import PASSWORD, World

USERS = {"manager": Role.BRANCH_MANAGER, "coord": Role.COORDINATOR, "carer": Role.CARE_WORKER}


@dataclass
class Site:
    """The two-branch tenant: roster, users, a linked device for each branch's worker."""

    world: World
    devices: dict[str, int]  # "own" / "other" -> device id
    device_tokens: dict[str, str]

    def actor(self, db: Database, username: str) -> Actor:
        """The actor a sign-in gives ``username``."""
        return auth.authenticate(db, username, PASSWORD)


@pytest.fixture
def site(db: Database, world: World, api: TestClient) -> Site:
    two_branches(api, db, world)
    for username, role in USERS.items():
        auth.do_create_user(db, SYSTEM, tenant_id=world.tenant.id, username=username, password=PASSWORD, role=role)
    for username in ("manager", "coord"):
        access.do_grant_branch(db, SYSTEM, username, "B-OWN", tenant_id=world.tenant.id)
    staff = site_admin(db)
    devices, tokens = {}, {}
    for side, worker in (("own", "W-OWN"), ("other", "W-OTHER")):
        issued = mobile.do_issue_link_code(db, staff, world.env.id, worker)
        info, token = mobile.do_link_device(db, issued.username, issued.code, f"phone {side}")
        devices[side], tokens[side] = info.id, token
    return Site(world, devices, tokens)


def site_admin(db: Database) -> Actor:
    """The world's tenant administrator, as signed in (API tokens may not manage devices)."""
    return auth.authenticate(db, "admin", PASSWORD)


def signed_in(container: bootstrap.Container, username: str | None) -> TestClient:
    """A browser-like client signed in as ``username`` (None: nobody)."""
    client = TestClient(create_app(container), headers=HTML, follow_redirects=False)
    client.__enter__()
    if username is not None:
        r = client.post(
            "/sign-in", data={"username": username, "password": PASSWORD, "csrf": csrf_of(client.get("/sign-in").text)}
        )
        assert r.status_code == 303, r.text
    return client


@pytest.fixture
def clients(container: bootstrap.Container, site: Site) -> Iterator[dict[str, TestClient]]:
    """One HTTP client per caller: anonymous, admin, manager, coord, carer and two API tokens.

    "token" is the world's roster token; "admin_token" an admin token (a tenant administrator's automation).
    """
    made = {
        name: signed_in(container, None if name == "anonymous" else name)
        for name in ("anonymous", "admin", "manager", "coord", "carer")
    }
    _, admin_secret = auth.do_create_token(
        container.db,
        SYSTEM,
        tenant_id=site.world.tenant.id,
        environment_id=site.world.env.id,
        name="automation",
        scope=TokenScope.ADMIN,
    )
    for name, secret in (("token", site.world.token), ("admin_token", admin_secret)):
        token = TestClient(create_app(container), headers={"Authorization": f"Bearer {secret}"})
        token.__enter__()
        made[name] = token
    yield made
    for c in made.values():
        c.__exit__(None, None, None)
