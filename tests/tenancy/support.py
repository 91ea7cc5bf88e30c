"""A tenant with a primary environment publishing, and a standalone tenant to connect into it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from carehub import bootstrap
from carehub.app import create_app
from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import SYSTEM
from carehub.platform.db import Database
from carehub.publishing.mobile import service as mobile
from carehub.tables import metadata
from carehub.tenancy import service as tenancy
from tests.conftest import World
from tests.publishing.support import monitor, put, roster, visit


@dataclass(frozen=True)
class Standalone:
    """The standalone tenant that served the environment being connected, with a linked device."""

    tenant: tenancy.TenantInfo
    env: tenancy.EnvironmentInfo
    token: str
    device_id: int


def seed(api: TestClient, db: Database, env_id: int) -> None:
    """Branch Bristol, workers W1 (mobile) and W2, clients C1 and C2, visit V1 of W1 on monitored K1."""
    roster(api)
    put(api, "visits", visit("V1"))
    monitor(db, env_id, "K1")


def client_for(container: bootstrap.Container, token: str) -> Iterator[TestClient]:
    """An API client with this token."""
    with TestClient(create_app(container), headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def standalone(container: bootstrap.Container, name: str = "SouthWest Care") -> Standalone:
    """A standalone tenant with the same record ids as the primary (they overlap on purpose) and a linked device."""
    db = container.db
    tenant, env = tenancy.do_create_tenant(db, SYSTEM, name=name, timezone="Europe/London")
    _, token = auth.do_create_token(db, SYSTEM, tenant_id=tenant.id, environment_id=env.id, name="pp")
    for client in client_for(container, token):
        seed(client, db, env.id)
    code = mobile.do_issue_link_code(db, SYSTEM, env.id, "W1")  # an API token may not issue link codes
    device, _ = mobile.do_link_device(db, code.username, code.code, "Wren's phone")
    return Standalone(tenant, env, token, device.id)


def _frozen(row: Any) -> tuple[Any, ...]:
    return tuple(json.dumps(v, sort_keys=True, default=str) if isinstance(v, dict | list) else v for v in row)


def snapshot(db: Database) -> dict[str, set[tuple[Any, ...]]]:
    """Every row of every table, as tuples of every column."""
    with db.read() as session:
        return {
            name: {_frozen(row) for row in session.execute(select(table)).all()}
            for name, table in sorted(metadata.tables.items())
        }


def primary_rows(db: Database, world: World) -> dict[str, set[tuple[Any, ...]]]:
    """Every row of every table that belongs to the world's primary environment or its tenant (and no environment)."""
    out: dict[str, set[tuple[Any, ...]]] = {}
    with db.read() as session:
        for name, table in sorted(metadata.tables.items()):
            if "environment_id" in table.c:
                stmt = select(table).where(table.c.environment_id == world.env.id)
            elif "tenant_id" in table.c:
                stmt = select(table).where(table.c.tenant_id == world.tenant.id)
            else:
                continue
            out[name] = {_frozen(r) for r in session.execute(stmt).all()}
    return out
