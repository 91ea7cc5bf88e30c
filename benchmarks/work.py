"""The measured work, each run in its own process so its peak memory is its own.

``python -m benchmarks.work import URL ENV FMT DIR``
    import every kind's file through ``do_import_file``, in load order.
``python -m benchmarks.work reference URL FMT DIR``
    the practical limit: read the same files with pyarrow and ``COPY`` the rows
    into bare tables (no keys, no indexes) on PostgreSQL, or insert them with
    one prepared ``executemany`` on SQLite.

Each prints one JSON line: seconds (total and per kind), records and the peak
resident memory of the process (``ru_maxrss``).
"""

from __future__ import annotations

import io
import json
import resource
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
from sqlalchemy import Boolean, Date, Integer
from sqlalchemy.engine import make_url

from benchmarks.cpu import backends_cpu
from carehub.platform.auth.actor import SYSTEM
from carehub.platform.db import Database, UTCDateTime, make_engine
from carehub.roster.domain.kinds import LOAD_ORDER, REFERENCES, RecordKind
from carehub.roster.schemas import COLUMN_NAMES, SCHEMAS
from carehub.roster.service.imports import do_import_file
from carehub.roster.tables import TABLES


def _peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _db_cpu(url: str) -> float:
    return backends_cpu(make_url(url).database or "") if url.startswith("postgresql") else 0.0


def run_import(url: str, environment_id: int, fmt: str, directory: Path) -> dict[str, Any]:
    """Import each kind's file in load order; the whole load is timed, each kind too."""
    db = Database(make_engine(url))
    per_kind: dict[str, float] = {}
    steps: dict[str, float] = {}
    records = rejected = 0
    cpu0, db0 = _own_cpu(), _db_cpu(url)
    started = time.perf_counter()
    for kind in LOAD_ORDER:
        path = directory / f"{kind.plural}.{fmt}"
        t0 = time.perf_counter()
        with path.open("rb") as stream:
            report = do_import_file(db, SYSTEM, environment_id, kind, stream, path.name)
        per_kind[kind.value] = time.perf_counter() - t0
        for step, seconds in getattr(report, "steps", {}).items():
            steps[step] = steps.get(step, 0.0) + seconds
        records += report.read
        rejected += report.rejected
        if report.rejected:
            print(f"{kind.plural}: {report.rejected} rejected, first: {report.errors[:3]}", file=sys.stderr)
    seconds = time.perf_counter() - started
    cpu, db_cpu = _own_cpu() - cpu0, _db_cpu(url) - db0
    db.engine.dispose()
    return {
        "cpu": cpu,
        "db_cpu": db_cpu,
        "seconds": seconds,
        "per_kind": per_kind,
        "steps": steps,
        "records": records,
        "rejected": rejected,
        "peak_kib": _peak_kib(),
    }


def _bare_types(kind: RecordKind) -> dict[str, str]:
    """A bare column per record field, typed like the real column (references and lists as text)."""
    table = TABLES[kind.value].__table__  # type: ignore[attr-defined]
    refs = {r.field for r in REFERENCES[kind]}
    types = {}
    for name in SCHEMAS[kind].model_fields:
        column = COLUMN_NAMES.get(name, name)
        kind_of = table.c[column].type if column in table.c and name not in refs and name != "id" else None
        if isinstance(kind_of, UTCDateTime):
            types[name] = "timestamptz"
        elif isinstance(kind_of, Date):
            types[name] = "date"
        elif isinstance(kind_of, Boolean):
            types[name] = "bool"
        elif isinstance(kind_of, Integer):
            types[name] = "int8"
        else:
            types[name] = "text"
    return types


def _batches(path: Path, fmt: str, kind: RecordKind) -> Any:
    names = list(SCHEMAS[kind].model_fields)
    if fmt == "csv":
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=4 << 20),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True
            ),
        )
        yield from reader
        return
    table = pajson.read_json(path)
    cols = {}
    for name in names:
        if name in table.column_names:
            col = table.column(name)
            if pa.types.is_list(col.type):
                col = pa.compute.binary_join(col, ";")
            cols[name] = col.cast(pa.string()) if not pa.types.is_string(col.type) else col
        else:
            cols[name] = pa.nulls(table.num_rows, pa.string())
    yield from pa.table(cols).to_batches(max_chunksize=100_000)


def run_reference(url: str, fmt: str, directory: Path) -> dict[str, Any]:
    """Read every file with pyarrow and load the rows into bare tables, as fast as the database takes them."""
    per_kind: dict[str, float] = {}
    records = 0
    dialect = "postgresql" if url.startswith("postgresql") else "sqlite"
    if dialect == "postgresql":
        u = make_url(url)
        conn: Any = psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, dbname=u.database)
    else:
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    cpu0, db0 = _own_cpu(), _db_cpu(url)
    started = time.perf_counter()
    for kind in LOAD_ORDER:
        t0 = time.perf_counter()
        types = _bare_types(kind)
        table = f"bare_{kind.value}"
        names = list(types)
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        listed = ", ".join(f'"{n}" {t}' for n, t in types.items())
        conn.execute(f"CREATE TABLE {table} ({listed})")
        for batch in _batches(directory / f"{kind.plural}.{fmt}", fmt, kind):
            records += batch.num_rows
            if dialect == "postgresql":
                buf = io.BytesIO()
                pacsv.write_csv(batch, buf, write_options=pacsv.WriteOptions(include_header=False))
                with conn.cursor() as cur, cur.copy(f"COPY {table} FROM STDIN (FORMAT CSV)") as cp:
                    cp.write(buf.getbuffer())
            else:
                rows = zip(*(batch.column(n).to_pylist() for n in names), strict=True)
                conn.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(names))})", rows)
        conn.commit()
        per_kind[kind.value] = time.perf_counter() - t0
    seconds = time.perf_counter() - started
    cpu, db_cpu = _own_cpu() - cpu0, _db_cpu(url) - db0
    for kind in LOAD_ORDER:
        conn.execute(f"DROP TABLE IF EXISTS bare_{kind.value}")
    conn.commit()
    conn.close()
    return {
        "seconds": seconds,
        "cpu": cpu,
        "db_cpu": db_cpu,
        "per_kind": per_kind,
        "records": records,
        "rejected": 0,
        "peak_kib": _peak_kib(),
    }


def main() -> None:
    """Entry point: see the module docstring."""
    what, *args = sys.argv[1:]
    if what == "import":
        url, env, fmt, directory = args
        result = run_import(url, int(env), fmt, Path(directory))
    else:
        url, fmt, directory = args
        result = run_reference(url, fmt, Path(directory))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
