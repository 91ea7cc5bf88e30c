"""Page tests over plain HTTP need no browser, so they run on both databases again.

tests/web/conftest.py pins ``db_url`` to SQLite for the browser; this restores the
root fixture's choice of backend (the root conftest then parametrises these tests
over SQLite and PostgreSQL).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests import backends


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        return backends.sqlite_copy(request.getfixturevalue("_sqlite_template"), tmp_path)
    engine: Engine = request.getfixturevalue("_postgres_engine")
    backends.truncate_postgres(engine)
    return engine.url.render_as_string(hide_password=False)
