"""Fresh, migrated databases for each benchmark run, with a tenant and an API token."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import SYSTEM
from carehub.platform.db import Database, make_engine
from carehub.platform.schema import upgrade
from carehub.tenancy import service as tenancy

PG_ADMIN_URL = os.environ.get("CAREHUB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PG_DATABASE = "carehub_bench"


@dataclass(frozen=True, slots=True)
class Target:
    """A migrated, empty database with one tenant."""

    url: str
    environment_id: int
    token: str


def _pg_admin() -> psycopg.Connection[tuple[object, ...]]:
    url = make_url(PG_ADMIN_URL)
    return psycopg.connect(
        host=url.host, port=url.port or 5432, user=url.username, dbname=url.database, autocommit=True
    )


def fresh(
    db: str, workdir: Path, *, name: str = PG_DATABASE, file: str = "bench.db", tenant_name: str = "Benchmark Care"
) -> Target:
    """Drop and recreate a benchmark database (``name`` on PostgreSQL, ``file`` on SQLite), migrate it, add a tenant."""
    if db == "postgresql":
        with _pg_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    else:
        path = workdir / file
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    database = Database(engine)
    tenant, env = tenancy.do_create_tenant(database, SYSTEM, name=tenant_name, timezone="Europe/London")
    _, token = auth.do_create_token(database, SYSTEM, tenant_id=tenant.id, environment_id=env.id, name="bench")
    engine.dispose()
    return Target(url, env.id, token)


def drop(db: str, name: str = PG_DATABASE) -> None:
    """Remove a benchmark database (PostgreSQL) once the suite is done."""
    if db == "postgresql":
        with _pg_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
