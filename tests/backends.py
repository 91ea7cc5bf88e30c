"""The databases tests run against: SQLite always, PostgreSQL when reachable.

With ``CI=true`` PostgreSQL is required: an unreachable server fails the run
instead of silently skipping its tests.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from carehub.platform.db import make_engine
from carehub.platform.schema import upgrade
from carehub.tables import metadata

PG_ADMIN_URL = os.environ.get("CAREHUB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


def postgres_reachable() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    url = make_url(PG_ADMIN_URL)
    try:
        with psycopg.connect(
            host=url.host, port=url.port or 5432, user=url.username, dbname=url.database, connect_timeout=3
        ):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL at {url.host}:{url.port} not reachable: {exc}"


def worker_suffix() -> str:
    """The pytest-xdist worker id (gw0 ...) or 'main', after an optional prefix for parallel runs."""
    prefix = os.environ.get("CAREHUB_TEST_DB_PREFIX", "")
    return prefix + os.environ.get("PYTEST_XDIST_WORKER", "main")


def create_postgres_database() -> str:
    """A fresh, migrated PostgreSQL database for this test worker; returns its URL."""
    admin = make_url(PG_ADMIN_URL)
    name = f"carehub_test_{worker_suffix()}"
    with psycopg.connect(
        host=admin.host, port=admin.port or 5432, user=admin.username, dbname=admin.database, autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


TABLES_IN_ORDER = [t.name for t in reversed(metadata.sorted_tables)]


def truncate_postgres(engine: Engine) -> None:
    """Empty every table and restart ids: a clean database for the next test."""
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES_IN_ORDER)} RESTART IDENTITY CASCADE"))


def sqlite_template(directory: Path) -> Path:
    """A migrated SQLite file to copy for each test."""
    path = directory / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def sqlite_copy(template: Path, directory: Path) -> str:
    """A copy of the template for one test; returns its URL."""
    target = directory / "carehub.db"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"
