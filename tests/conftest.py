"""Fixtures: a clean database per test on SQLite and PostgreSQL, a tenant, an API client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy.engine import Engine, make_url
from typer.testing import CliRunner

from carehub import bootstrap
from carehub.app import create_app
from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import SYSTEM, Role, TokenScope
from carehub.platform.db import Database, make_engine
from carehub.platform.settings import Settings
from carehub.tenancy import service as tenancy
from tests import backends

PASSWORD = "correct horse battery"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", ["sqlite", "postgresql"], scope="session")


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return backends.sqlite_template(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def _postgres_engine() -> Iterator[Engine]:
    reason = backends.postgres_reachable()
    if reason:
        if backends.IN_CI:
            pytest.fail(f"CI=true needs PostgreSQL: {reason}")
        pytest.skip(reason)
    engine = make_engine(backends.create_postgres_database())
    yield engine
    engine.dispose()


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, migrated database for this test."""
    if backend == "sqlite":
        return backends.sqlite_copy(request.getfixturevalue("_sqlite_template"), tmp_path)
    engine: Engine = request.getfixturevalue("_postgres_engine")
    backends.truncate_postgres(engine)
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def container(db_url: str, tmp_path: Path) -> Iterator[bootstrap.Container]:
    settings = Settings(database_url=db_url, data_dir=tmp_path / "data", secret_key="test-secret-key-for-sessions")
    built = bootstrap.build(settings)
    yield built
    built.db.engine.dispose()


@pytest.fixture
def db(container: bootstrap.Container) -> Database:
    return container.db


@dataclass(frozen=True)
class World:
    """A tenant with its primary environment, an admin user and a roster API token (``admin_token``: an admin one)."""

    tenant: tenancy.TenantInfo
    env: tenancy.EnvironmentInfo
    token: str
    admin_username: str


@pytest.fixture
def world(db: Database) -> World:
    tenant, env = tenancy.do_create_tenant(db, SYSTEM, name="Sunrise Care", timezone="Europe/London")
    auth.do_create_user(db, SYSTEM, tenant_id=tenant.id, username="admin", password=PASSWORD, role=Role.ADMIN)
    _, token = auth.do_create_token(db, SYSTEM, tenant_id=tenant.id, environment_id=env.id, name="roster")
    return World(tenant, env, token, "admin")


@pytest.fixture
def admin_token(db: Database, world: World) -> str:
    """The secret of an admin-scoped API token of the world's tenant (a tenant administrator's automation)."""
    _, secret = auth.do_create_token(
        db, SYSTEM, tenant_id=world.tenant.id, environment_id=world.env.id, name="automation", scope=TokenScope.ADMIN
    )
    return secret


@pytest.fixture
def api(container: bootstrap.Container, world: World) -> Iterator[TestClient]:
    """An HTTP client authenticated with the world's roster API token (the rostering system)."""
    with TestClient(create_app(container), headers={"Authorization": f"Bearer {world.token}"}) as client:
        yield client


@pytest.fixture
def admin_api(container: bootstrap.Container, admin_token: str) -> Iterator[TestClient]:
    """An HTTP client authenticated with an admin API token of the world's tenant (acts as its administrator)."""
    with TestClient(create_app(container), headers={"Authorization": f"Bearer {admin_token}"}) as client:
        yield client


@pytest.fixture
def anonymous(container: bootstrap.Container) -> Iterator[TestClient]:
    with TestClient(create_app(container)) as client:
        yield client


@pytest.fixture
def carehub(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner whose ``carehub`` uses this test's database."""
    monkeypatch.setenv("CAREHUB_DATABASE_URL", db_url)
    monkeypatch.setenv("CAREHUB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CAREHUB_SECRET_KEY", "cli-test-secret")
    monkeypatch.delenv("CAREHUB_MODE", raising=False)
    return CliRunner()


@pytest.fixture
def empty_engine(backend: str, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a database with no tables at all (PostgreSQL: a database of its own, dropped after)."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    reason = backends.postgres_reachable()
    if reason:
        if backends.IN_CI:
            pytest.fail(f"CI=true needs PostgreSQL: {reason}")
        pytest.skip(reason)
    admin = make_url(backends.PG_ADMIN_URL)
    name = f"carehub_test_{backends.worker_suffix()}_empty"

    def drop_and_maybe_create(*, create: bool) -> None:
        with psycopg.connect(
            host=admin.host, port=admin.port or 5432, user=admin.username, dbname=admin.database, autocommit=True
        ) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            if create:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    drop_and_maybe_create(create=True)
    engine = make_engine(admin.set(database=name).render_as_string(hide_password=False))
    yield engine
    engine.dispose()
    drop_and_maybe_create(create=False)
