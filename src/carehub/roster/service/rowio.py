"""Bulk reads and writes of roster rows straight through the database driver.

SQLAlchemy's generic executemany paths spend more time building and converting
parameters than the database spends writing (insertmanyvalues statements of
thousands of parameters on PostgreSQL, one statement per row with RETURNING on
SQLite). The batch upsert only needs a few shapes of statement, written here
once per dialect:

- PostgreSQL: ``= ANY(array)`` look-ups (one parameter whatever the count), ids
  drawn from the table's sequence and new rows sent with a binary ``COPY``,
  changed rows applied by one ``UPDATE ... FROM unnest(arrays)``;
- SQLite: prepared statements run by the driver.

Values are converted as the column types would convert them (see
:func:`carehub.platform.audit.driver_values`), so rows written here read back
through SQLAlchemy unchanged. Everything runs on the session's connection, in
its transaction.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, any_, bindparam, func, select, true
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from carehub.platform.audit import append_rows, driver_values

IN_CHUNK = 900  # identifiers per IN (...) list on SQLite; well inside its parameter limit

_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a batch is worked on.

    A batch of 5,000 records allocates hundreds of thousands of short-lived
    containers (models, dicts, rows); each allocation burst triggers collections
    that walk every tracked object of the process, which measured as half the
    CPU of a batch. Reference counting still frees almost everything at once;
    the few cycles wait for the collector, which resumes when the last batch in
    flight (of any thread) is done. A process that disabled the collector
    itself is left as it was.
    """
    global _gc_pausers, _gc_was_enabled  # noqa: PLW0603 - one collector per process
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


def dialect_of(session: Session) -> str:
    """``postgresql`` or ``sqlite``: the dialect of the session's connection."""
    return session.get_bind().dialect.name


def driver_connection(session: Session) -> Any:
    """The DBAPI connection under the session, inside the session's transaction."""
    return session.connection().connection.driver_connection


def matching(session: Session, column: Any, values: Sequence[Any]) -> Iterable[ColumnElement[bool]]:
    """WHERE clauses that together select the rows whose ``column`` is in ``values``.

    One ``= ANY(:array)`` on PostgreSQL; IN lists of at most IN_CHUNK on SQLite.
    """
    if not values:
        return
    if dialect_of(session) == "postgresql":
        yield column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
        return
    for start in range(0, len(values), IN_CHUNK):
        yield column.in_(values[start : start + IN_CHUNK])


def by_external_id(
    session: Session, stmt: Select[Any], table: Table, environment_id: int, values: Sequence[str]
) -> Iterable[Select[Any]]:
    """``stmt`` narrowed to the rows of ``table`` in the environment whose external id is in ``values``.

    On PostgreSQL one statement: for each id of ``unnest(:ids)`` a LATERAL
    subquery (``LIMIT 1``: the pair is unique) probes the unique
    (environment_id, external_id) index. The shape leaves the planner no other
    choice, which matters in the middle of a bulk load: with a table grown far
    beyond its last statistics, a plain join or ``external_id = ANY(...)`` was
    planned as a scan of every row of the environment, once per batch.
    On SQLite, IN lists of at most IN_CHUNK.
    """
    if not values:
        return
    if dialect_of(session) == "postgresql":
        ids = func.unnest(bindparam(None, list(values), type_=postgresql.ARRAY(table.c.external_id.type)))
        wanted = ids.table_valued("x").render_derived()
        probe = (
            stmt.where(table.c.environment_id == environment_id, table.c.external_id == wanted.c.x).limit(1).lateral()
        )
        yield select(*probe.c).select_from(wanted.join(probe, true()))
        return
    for start in range(0, len(values), IN_CHUNK):
        yield stmt.where(
            table.c.environment_id == environment_id, table.c.external_id.in_(values[start : start + IN_CHUNK])
        )


@cache
def scalar_defaults(table: Table) -> dict[str, Any]:
    """Column -> the Python-side scalar default an ORM insert would fill in (e.g. a visit's status)."""
    return {
        c.name: c.default.arg  # type: ignore[attr-defined]
        for c in table.columns
        if c.default is not None and c.default.is_scalar and c.name != "id"
    }


def insert_rows(session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[int]:
    """Insert ``rows`` (values in ``columns`` order); returns the new ids, in row order.

    Columns left out get their scalar defaults, as an ORM insert would.
    """
    if not rows:
        return []
    defaults = {k: v for k, v in scalar_defaults(table).items() if k not in columns}
    cols = (*columns, *defaults)
    extra = tuple(defaults.values())
    full = [(*r, *extra) for r in rows] if extra else rows
    conn = driver_connection(session)
    if dialect_of(session) == "postgresql":
        with conn.cursor() as cur:
            cur.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", (table.name, len(rows))
            )
            ids = sorted(r[0] for r in cur.fetchall())
        append_rows(session, table, ("id", *cols), [(i, *r) for i, r in zip(ids, full, strict=True)], bulk=True)
        return ids
    sql = f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) RETURNING id"  # noqa: S608 - names from the table
    cur = conn.cursor()
    try:
        ids = []
        for row in driver_values("sqlite", table, cols, full):
            cur.execute(sql, row)
            ids.append(cur.fetchone()[0])
    finally:
        cur.close()
    return ids


def update_rows(session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Set ``columns`` of existing rows; each row is ``(id, *values in columns order)``."""
    if not rows:
        return
    cols = ("id", *columns)
    dialect = dialect_of(session)
    values = driver_values(dialect, table, cols, rows)
    conn = driver_connection(session)
    if dialect == "postgresql":
        pg = session.get_bind().dialect
        arrays = ", ".join(f"%s::{table.c[c].type.compile(dialect=pg)}[]" for c in cols)
        sets = ", ".join(f"{c} = u.{c}" for c in columns)
        sql = (
            f"UPDATE {table.name} AS t SET {sets} "  # noqa: S608 - names from the table
            f"FROM unnest({arrays}) AS u({', '.join(cols)}) WHERE t.id = u.id"
        )
        with conn.cursor() as cur:
            cur.execute(sql, [list(col) for col in zip(*values, strict=True)])
        return
    sets = ", ".join(f"{c} = ?" for c in columns)
    cur = conn.cursor()
    try:
        cur.executemany(
            f"UPDATE {table.name} SET {sets} WHERE id = ?",  # noqa: S608 - names from the table
            [(*v[1:], v[0]) for v in values],
        )
    finally:
        cur.close()


def delete_where_in(session: Session, table: Table, column: str, values: Sequence[Any]) -> None:
    """Delete the rows whose ``column`` is one of ``values``."""
    if not values:
        return
    conn = driver_connection(session)
    if dialect_of(session) == "postgresql":
        with conn.cursor() as cur:
            cur.execute(f"DELETE FROM {table.name} WHERE {column} = ANY(%s)", (list(values),))  # noqa: S608 - names from the table
        return
    cur = conn.cursor()
    try:
        for start in range(0, len(values), IN_CHUNK):
            chunk = values[start : start + IN_CHUNK]
            cur.execute(f"DELETE FROM {table.name} WHERE {column} IN ({', '.join('?' * len(chunk))})", chunk)  # noqa: S608 - names from the table
    finally:
        cur.close()
