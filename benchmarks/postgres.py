"""Make sure the PostgreSQL the benchmarks use is there, or say how to get it."""

from __future__ import annotations

import sys

import psycopg
from sqlalchemy.engine import make_url

from benchmarks.databases import PG_ADMIN_URL


def ensure_postgres() -> None:
    """Exit with a clear message when PostgreSQL does not answer."""
    url = make_url(PG_ADMIN_URL)
    try:
        with psycopg.connect(
            host=url.host, port=url.port or 5432, user=url.username, dbname=url.database, connect_timeout=5
        ):
            return
    except psycopg.Error as exc:
        print(
            f"PostgreSQL at {url.host}:{url.port or 5432} does not answer ({exc}).\n"
            "Start it, set CAREHUB_BENCH_POSTGRES_URL, or run with --db sqlite.",
            file=sys.stderr,
        )
        sys.exit(2)
