"""Importing a roster file on PostgreSQL: stream to a staging table, then set-based SQL.

The outcome is the one the record-by-record path (:func:`upsert.apply_records`)
gives for the same file, line for line: the same created / updated / unchanged
/ rejected counts, the same rejection reasons, the same stored rows, audit rows
and outbox events. Only the way there differs:

1. **Stage.** The file is read in chunks. Each record's own fields are checked
   exactly as the API checks them (the pydantic schema; for CSV visits a
   vectorised pyarrow check first accepts the values already in canonical form,
   and only the others go through pydantic). Valid records are streamed with
   ``COPY`` into a temporary staging table; invalid ones are reported with their
   line number.
2. **Resolve and decide, set-wise.** One statement joins the staged records to
   the records they reference and to the stored records, and decides each
   line's outcome: rejected (unknown reference, end before start, workers that
   do not fit, older or conflicting version), created, updated or unchanged.
3. **Write, set-wise.** ``INSERT ... SELECT`` for new records, ``UPDATE ...
   FROM`` for changed ones, then allocations, audit rows (before/after of each
   changed field, built in SQL) and outbox events. A large load checks the
   foreign keys between roster tables once, set-wise, instead of row by row
   (see :func:`suspend_foreign_keys`, and the exclusive locks that costs).

An id that appears on several lines is applied line after line, as the
record-by-record path does: steps 2 and 3 run once per occurrence ("round").
Everything runs in the caller's transaction, so a file that cannot be read
changes nothing.
"""

# ruff: noqa: S608 - SQL is built from the schema's own table and column names; values are bound parameters

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import BigInteger, Boolean, Date, Integer, Table
from sqlalchemy.orm import Session

from carehub.platform import outbox
from carehub.platform.audit import AUDIT_COLUMNS, AuditEntry
from carehub.platform.auth.actor import Actor
from carehub.platform.clock import utc_now
from carehub.platform.db import UTCDateTime, core_table
from carehub.platform.outbox import OUTBOX_COLUMNS, OutboxEvent
from carehub.roster.domain.kinds import REFERENCES, RecordKind
from carehub.roster.domain.rules import Outcome, Violation, version_outcome
from carehub.roster.files import CHUNK_ROWS, csv_records
from carehub.roster.schemas import COLUMN_NAMES, SCHEMAS
from carehub.roster.service import rowio
from carehub.roster.service.results import RecordResult
from carehub.roster.service.upsert import _NOT_RECORD_FIELDS, _validate, rule_violations, table_of
from carehub.roster.tables import TABLES

STAGE = "_carehub_import_stage"
RESULT = "_carehub_import_result"


@dataclass(frozen=True, slots=True)
class Column:
    """A data column of a record kind: its record field, table column and PostgreSQL type."""

    field: str
    column: str
    pg_type: str
    ref: RecordKind | None = None


@cache
def columns_of(kind: RecordKind) -> tuple[Column, ...]:
    """The data columns of ``kind`` in schema order (references staged as external ids)."""
    table = table_of(kind)
    refs = {r.field: r.kind for r in REFERENCES[kind]}
    out = []
    for name in SCHEMAS[kind].model_fields:
        if name in _NOT_RECORD_FIELDS:
            continue
        col = COLUMN_NAMES.get(name, name)
        out.append(Column(name, col, "text" if name in refs else _pg_type(table, col), refs.get(name)))
    return tuple(out)


def _pg_type(table: Table, column: str) -> str:
    kind = table.c[column].type
    if isinstance(kind, UTCDateTime):
        return "timestamptz"
    if isinstance(kind, Date):
        return "date"
    if isinstance(kind, Boolean):
        return "bool"
    if isinstance(kind, BigInteger):
        return "int8"
    if isinstance(kind, Integer):
        return "int4"
    return "text"


def _new(c: Column) -> str:
    """The column of the result table holding the value to store: our id for a reference, else as sent."""
    return f"new_{c.column}" if c.ref is not None else f"in_{c.column}"


def _quote_ident(name: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        msg = f"unexpected identifier {name!r}"
        raise ValueError(msg)
    return name


# ---------------------------------------------------------------- rejections


@dataclass(slots=True)
class Rejected:
    """A rejected line with its reasons."""

    line: int
    id: str | None
    version: int | None
    errors: list[Violation]


@dataclass(slots=True)
class Outcomes:
    """Counts by outcome and the first rejected lines (enough for the report's error list)."""

    keep: int
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    first_rejected: list[Rejected] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # where the time went, by step

    def timed(self, step: str, started: float) -> None:
        """Add the time since ``started`` to ``step``."""
        self.seconds[step] = self.seconds.get(step, 0.0) + time.perf_counter() - started

    def reject(self, item: Rejected, *, count: bool = True) -> None:
        """Count a rejected line (unless counted already), keeping its details if it is among the first."""
        self.rejected += count
        self.first_rejected.append(item)
        if len(self.first_rejected) > 2 * self.keep:
            self._trim()

    def _trim(self) -> None:
        self.first_rejected.sort(key=lambda r: r.line)
        del self.first_rejected[self.keep :]

    def in_line_order(self) -> list[Rejected]:
        """The first rejected lines, by line number."""
        self._trim()
        return self.first_rejected


# ---------------------------------------------------------------- staging


class Stager:
    """Streams validated records into the staging table; reports invalid ones."""

    def __init__(self, session: Session, kind: RecordKind, outcomes: Outcomes) -> None:
        self.session = session
        self.kind = kind
        self.outcomes = outcomes
        self.columns = columns_of(kind)
        self.visit = kind is RecordKind.VISIT
        self.names = ["line", "id", "version", *(c.column for c in self.columns)] + (
            ["worker_ids"] if self.visit else []
        )
        self.types = ["int8", "text", "int8", *(c.pg_type for c in self.columns)] + (["text[]"] if self.visit else [])
        self.conn: Any = rowio.driver_connection(session)
        self.seen: set[str] = set()  # staged ids, to know whether any repeats
        self.staged = 0
        self.repeated = False
        cols = ", ".join(f"{n} {t}" for n, t in zip(self.names, self.types, strict=True))
        with self.conn.cursor() as cur:
            cur.execute(f"CREATE TEMP TABLE {STAGE} ({cols}, occ int4 NOT NULL DEFAULT 1) ON COMMIT DROP")

    def add_records(self, items: Sequence[tuple[int, Any]]) -> None:
        """Validate (line, raw record) pairs as the API does and stage the valid ones."""
        if not items:
            return
        with rowio.gc_paused():
            self._add_records(items)

    def _add_records(self, items: Sequence[tuple[int, Any]]) -> None:
        self.outcomes.read += len(items)
        started = time.perf_counter()
        validated = _validate(SCHEMAS[self.kind], items)
        self.outcomes.timed("stage: validate", started)
        rows = []
        fields = [c.field for c in self.columns]
        for (line, raw), item in zip(items, validated, strict=True):
            if isinstance(item, list):
                raw_id = raw.get("id") if isinstance(raw, dict) else None
                self.outcomes.reject(Rejected(line, None if raw_id is None else str(raw_id), None, item))
                continue
            values = item.__dict__
            self._saw([item.id])
            row = [line, item.id, item.version, *(values[f] for f in fields)]
            if self.visit:
                row.append(values["worker_ids"])
            rows.append(row)
        if not rows:
            return
        started = time.perf_counter()
        with (
            self.conn.cursor() as cur,
            cur.copy(f"COPY {STAGE} ({', '.join(self.names)}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(self.types)
            for row in rows:
                copy.write_row(row)
        self.outcomes.timed("stage: copy", started)

    def add_csv_block(self, first_line: int, batch: pa.RecordBatch) -> None:
        """Stage a block of a CSV file: canonical visit rows straight from pyarrow, the others through pydantic."""
        started = time.perf_counter()
        if self.visit:
            canonical = canonical_visits(batch)
            count = pc.sum(canonical).as_py() or 0
            if count:
                data, staged = visits_as_stage_csv(batch, first_line, canonical)
                self._saw(batch.column(batch.schema.names.index("id")).filter(canonical).to_pylist())
                self.outcomes.timed("stage: check", started)
                started = time.perf_counter()
                self.add_csv(data, staged)
                self.outcomes.timed("stage: copy", started)
            rest = batch.filter(pc.invert(canonical)) if count else batch
            lines = [first_line + i for i, ok in enumerate(canonical.to_pylist()) if not ok]
        else:
            rest = batch
            lines = list(range(first_line, first_line + batch.num_rows))
        if rest.num_rows:
            started = time.perf_counter()
            records = csv_records(rest)
            self.outcomes.timed("stage: to records", started)
            for start in range(0, len(records), CHUNK_ROWS):
                self.add_records(
                    list(zip(lines[start : start + CHUNK_ROWS], records[start : start + CHUNK_ROWS], strict=True))
                )

    def _saw(self, ids: list[str]) -> None:
        before = len(self.seen)
        self.seen.update(ids)
        self.staged += len(ids)
        if len(self.seen) - before != len(ids):
            self.repeated = True

    def add_invalid(self, line: int, violation: Violation) -> None:
        """A line that is not a record at all (e.g. not JSON)."""
        self.outcomes.read += 1
        self.outcomes.reject(Rejected(line, None, None, [violation]))

    def add_csv(self, data: bytes, count: int) -> None:
        """Stage rows already in canonical form, as CSV in ``names`` order (no header)."""
        self.outcomes.read += count
        with (
            self.conn.cursor() as cur,
            cur.copy(f"COPY {STAGE} ({', '.join(self.names)}) FROM STDIN (FORMAT CSV)") as copy,
        ):
            copy.write(data)


# ---------------------------------------------------------------- SQL


def _iso(expr: str) -> str:
    """SQL for Python's ``datetime.isoformat()`` of a UTC timestamptz (microseconds only when not zero)."""
    return f"replace(to_char({expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', '') || '+00:00'"


def _json(expr: str, pg_type: str) -> str:
    """SQL for the JSON text of a value as the audit trail shows it (None as null)."""
    if pg_type == "timestamptz":
        # The ISO text has nothing to escape.
        return f"coalesce('\"' || {_iso(expr)} || '\"', 'null')"
    if pg_type in ("int4", "int8", "bool"):
        return f"coalesce({expr}::text, 'null')"
    return f"coalesce(to_json({expr})::text, 'null')"


def _outcome_sql() -> str:
    """The version rules (domain.rules.version_outcome) as a SQL CASE, read off the function itself.

    The rules depend only on how the incoming version compares with the stored
    one and whether the content is the same, so six calls cover every case.
    """

    def name(stored: int | None, incoming: int, *, same: bool) -> str:
        decided = version_outcome(stored, incoming, same_content=same)
        return "rejected" if isinstance(decided, Violation) else decided.value

    def by_content(stored: int, incoming: int) -> str:
        when_same, when_not = name(stored, incoming, same=True), name(stored, incoming, same=False)
        return f"'{when_same}'" if when_same == when_not else f"CASE WHEN same THEN '{when_same}' ELSE '{when_not}' END"

    return (
        f"CASE WHEN rule_bad THEN 'rejected' WHEN t_id IS NULL THEN '{name(None, 1, same=False)}' "
        f"WHEN version < t_version THEN {by_content(2, 1)} "
        f"WHEN version = t_version THEN {by_content(1, 1)} "
        f"ELSE {by_content(1, 2)} END"
    )


@dataclass(frozen=True, slots=True)
class Fragment:
    """One field of the audit changes: when it is there and its JSON text, for created and updated records.

    A condition of None means always; "false" means never.
    """

    key: str
    when_created: str | None
    created: str
    when_updated: str | None
    updated: str


def repr_key(key: str) -> str:
    """SQL for the JSON text of a field name."""
    return f"'\"{key}\"'"


def _joined(parts: Sequence[tuple[str | None, str]]) -> str:
    """SQL joining with commas the texts whose condition holds (None: always), in order."""
    kept = [(cond, text) for cond, text in parts if cond != "false"]
    if all(cond is None for cond, _ in kept):
        return " || ',' || ".join(text for _, text in kept) or "''"
    return (
        "concat_ws(',', "
        + ", ".join(text if cond is None else f"CASE WHEN {cond} THEN {text} END" for cond, text in kept)
        + ")"
    )


@dataclass(frozen=True, slots=True)
class Plan:
    """The SQL of one import round for one kind."""

    resolve: str
    insert: str
    update: str
    delete_allocations: str | None
    insert_allocations: str | None
    audit: str
    outbox: str


@cache
def plan(kind: RecordKind) -> Plan:  # noqa: C901, PLR0915 - one statement per step, built together
    """Build the statements for ``kind``; parameters are named (``%(env)s`` ...)."""
    table = table_of(kind)
    tname = _quote_ident(table.name)
    cols = columns_of(kind)
    visit = kind is RecordKind.VISIT

    joins = []
    select = [
        "s.line",
        "s.id",
        "s.version",
        "t.id AS t_id",
        "t.version AS t_version",
        "t.deleted_at IS NOT NULL AS t_deleted",
    ]
    for c in cols:
        select.append(f"s.{c.column} AS in_{c.column}")
        select.append(f"t.{c.column} AS t_{c.column}")
        if c.ref is not None:
            alias = f"r_{c.column}"
            rtable = _quote_ident(table_of(c.ref).name)
            joins.append(
                f"LEFT JOIN {rtable} {alias} ON {alias}.environment_id = %(env)s "
                f"AND {alias}.external_id = s.{c.column} AND {alias}.deleted_at IS NULL"
            )
            select.append(f"{alias}.id AS new_{c.column}")
    if visit:
        # A visit lists at most 4 workers (the schema's limit), so a repeat is one of 6 pairs.
        pairs = " OR ".join(f"w[{i}] = w[{j}]" for i in range(1, 5) for j in range(i + 1, 5)).replace(
            "w[", "s.worker_ids["
        )
        select += [
            "s.worker_ids AS in_worker_ids",
            "coalesce(wk.pks, '{}') AS worker_pks",
            "coalesce(wk.exts, '{}') AS worker_exts",
            "coalesce(wk.unknown, 0) AS unknown_workers",
            (
                "CASE WHEN t.id IS NULL THEN '{}'::int8[] ELSE coalesce((SELECT array_agg(a.worker_id ORDER BY "
                "a.worker_id) FROM visit_allocations a WHERE a.visit_id = t.id), '{}') END AS t_worker_pks"
            ),
            # Most visits have one worker or none: skip the six comparisons for them.
            f"(cardinality(s.worker_ids) > 1 AND coalesce({pairs}, false)) AS dup_workers",
        ]
        joins.append(
            "LEFT JOIN (SELECT s2.line AS wline, "
            "array_agg(w.id ORDER BY w.id) FILTER (WHERE w.id IS NOT NULL) AS pks, "
            "array_agg(w.external_id ORDER BY w.id) FILTER (WHERE w.id IS NOT NULL) AS exts, "
            "count(*) FILTER (WHERE w.id IS NULL) AS unknown "
            f"FROM {STAGE} s2 CROSS JOIN LATERAL unnest(s2.worker_ids) AS u(ext) "
            "LEFT JOIN workers w ON w.environment_id = %(env)s AND w.external_id = u.ext AND w.deleted_at IS NULL "
            "WHERE s2.occ = %(round)s GROUP BY s2.line) wk ON wk.wline = s.line"
        )
    base = (
        f"SELECT {', '.join(select)} FROM {STAGE} s "
        f"LEFT JOIN {tname} t ON t.environment_id = %(env)s AND t.external_id = s.id "
        f"{' '.join(joins)} WHERE s.occ = %(round)s"
    )

    bad = [f"(in_{c.column} IS NOT NULL AND {_new(c)} IS NULL)" for c in cols if c.ref is not None]
    if visit:
        bad += [
            "in_end_at <= in_start_at",
            "dup_workers",
            "cardinality(in_worker_ids) > in_carers_needed",
            "unknown_workers > 0",
        ]
    if kind is RecordKind.PLAN_VISIT:
        bad.append("(in_ends_on IS NOT NULL AND in_ends_on < in_starts_on)")
    same = ["t_id IS NOT NULL", "NOT t_deleted", *(f"{_new(c)} IS NOT DISTINCT FROM t_{c.column}" for c in cols)]
    if visit:
        same.append("worker_pks = t_worker_pks")
    decided = f"SELECT b.*, ({' OR '.join(bad) or 'false'}) AS rule_bad, ({' AND '.join(same)}) AS same FROM ({base}) b"
    outcome = _outcome_sql()
    # In line order, so that new ids follow the lines (as on the record-by-record path) and
    # every later INSERT ... ORDER BY line meets sorted input: ids, audit and outbox rows then
    # go to the right-hand end of their indexes. The sequence is a parameter (its oid): a
    # pg_get_serial_sequence() call here would be evaluated, with catalog look-ups, per row.
    resolve = (
        f"CREATE TEMP TABLE {RESULT} ON COMMIT DROP AS "
        "SELECT o.*, CASE WHEN o.outcome = 'created' THEN nextval(%(seq)s::oid::regclass) ELSE o.t_id END AS pk "
        f"FROM (SELECT d.*, {outcome} AS outcome FROM ({decided}) d ORDER BY d.line) o"
    )

    defaults = {k: v for k, v in rowio.scalar_defaults(table).items() if k not in {c.column for c in cols}}
    names = ["id", "environment_id", "external_id", "version", "created_at", "updated_at", "deleted_at"]
    values = ["pk", "%(env)s", "id", "version", "%(now)s", "%(now)s", "NULL"]
    names += [c.column for c in cols] + list(defaults)
    values += [_new(c) for c in cols] + [f"%(default_{k})s" for k in defaults]
    insert = (
        f"INSERT INTO {tname} ({', '.join(names)}) SELECT {', '.join(values)} FROM {RESULT} WHERE outcome = 'created'"
    )
    sets = [f"{c.column} = r.{_new(c)}" for c in cols] + [
        "version = r.version",
        "updated_at = %(now)s",
        "deleted_at = NULL",
    ]
    update = f"UPDATE {tname} t SET {', '.join(sets)} FROM {RESULT} r WHERE r.outcome = 'updated' AND t.id = r.pk"

    delete_alloc = insert_alloc = None
    if visit:
        delete_alloc = (
            f"DELETE FROM visit_allocations a USING {RESULT} r WHERE r.outcome = 'updated' "
            "AND r.worker_pks <> r.t_worker_pks AND a.visit_id = r.pk"
        )
        insert_alloc = (
            "INSERT INTO visit_allocations (visit_id, worker_id) SELECT r.pk, unnest(r.worker_pks) "
            f"FROM {RESULT} r WHERE r.outcome = 'created' OR (r.outcome = 'updated' AND r.worker_pks <> r.t_worker_pks)"
        )

    # Audit changes: {field: [before, after]} for each changed field, in schema order,
    # then version, deleted and worker_ids, as upsert.apply_records builds them. Created
    # and updated records get separate expressions: a created record's changes are its
    # non-null fields (columns that cannot be null always are), with no "before" to look up.
    created = "r.outcome = 'created'"
    frags: list[Fragment] = []
    ref_joins = []
    for c in cols:
        if c.ref is not None:
            alias = f"o_{c.column}"
            ref_joins.append(f"LEFT JOIN {_quote_ident(table_of(c.ref).name)} {alias} ON {alias}.id = r.t_{c.column}")
            before = f"coalesce(to_json({alias}.external_id)::text, 'null')"
            after = f"coalesce(to_json(r.in_{c.column})::text, 'null')"
        else:
            before = _json(f"r.t_{c.column}", c.pg_type)
            after = _json(f"r.{_new(c)}", c.pg_type)
        key = f'\'"{c.column}":['
        frags.append(
            Fragment(
                c.column,
                None if not table.c[c.column].nullable else f"r.{_new(c)} IS NOT NULL",
                f"{key}null,' || {after} || ']'",
                f"r.{_new(c)} IS DISTINCT FROM r.t_{c.column}",
                f"{key}' || {before} || ',' || {after} || ']'",
            )
        )
    frags.append(
        Fragment(
            "version",
            None,
            "'\"version\":[null,' || r.version::text || ']'",
            None,
            "'\"version\":[' || r.t_version::text || ',' || r.version::text || ']'",
        )
    )
    frags.append(Fragment("deleted", "false", "", "r.t_deleted", "'\"deleted\":[true,false]'"))
    if visit:
        old_workers = (
            "(SELECT to_json(array_agg(w.external_id ORDER BY w.id))::text "
            "FROM workers w WHERE w.id = ANY(r.t_worker_pks))"
        )
        frags.append(
            Fragment(
                "worker_ids",
                None,
                "'\"worker_ids\":[null,' || to_json(r.worker_exts)::text || ']'",
                "r.worker_pks <> r.t_worker_pks",
                f"'\"worker_ids\":[' || coalesce({old_workers}, '[]') || ',' || to_json(r.worker_exts)::text || ']'",
            )
        )
    changes = (
        f"('{{' || CASE WHEN {created} THEN {_joined([(f.when_created, f.created) for f in frags])} "
        f"ELSE {_joined([(f.when_updated, f.updated) for f in frags])} END || '}}')::json"
    )
    keys = sorted(frags, key=lambda f: f.key)
    changed = (
        f"'[' || CASE WHEN {created} THEN {_joined([(f.when_created, repr_key(f.key)) for f in keys])} "
        f"ELSE {_joined([(f.when_updated, repr_key(f.key)) for f in keys])} END || ']'"
    )
    audit_values = [
        "%(now)s",
        "%(actor_kind)s",
        "%(actor_id)s",
        "%(actor_label)s",
        "%(env)s",
        "%(entity)s",
        "r.pk",
        "r.id",
        f"CASE WHEN {created} THEN 'create' ELSE 'update' END",
        changes,
    ]
    audit = (
        f"INSERT INTO {core_table(AuditEntry).name} ({', '.join(AUDIT_COLUMNS)}) "
        f"SELECT {', '.join(audit_values)} FROM {RESULT} r {' '.join(ref_joins)} "
        "WHERE r.outcome IN ('created', 'updated') ORDER BY r.line"
    )
    payload = (
        "('{\"id\":' || to_json(r.id)::text || ',\"version\":' || r.version::text || ',\"changed\":' || "
        + changed
        + " || '}')::json"
    )
    outbox = (
        f"INSERT INTO {core_table(OutboxEvent).name} ({', '.join(OUTBOX_COLUMNS)}) "
        f"SELECT %(now)s, %(topic_prefix)s || r.outcome, %(env)s, %(entity)s, r.pk, {payload} "
        f"FROM {RESULT} r WHERE r.outcome IN ('created', 'updated') ORDER BY r.line"
    )
    return Plan(resolve, insert, update, delete_alloc, insert_alloc, audit, outbox)


def _details_sql(kind: RecordKind, keep: int) -> str:
    cols = columns_of(kind)
    fields = ", ".join(f"in_{c.column}" for c in cols)
    found = ", ".join(f"{_new(c)} IS NOT NULL" for c in cols if c.ref is not None) or "true"
    extra = ""
    if kind is RecordKind.VISIT:
        extra = (
            ", in_worker_ids, ARRAY(SELECT u.ext FROM unnest(in_worker_ids) u(ext) WHERE NOT EXISTS ("
            "SELECT 1 FROM workers w WHERE w.environment_id = %(env)s AND w.external_id = u.ext "
            "AND w.deleted_at IS NULL))"
        )
    return (
        f"SELECT line, id, version, t_version, rule_bad, same, ARRAY[{found}], {fields}{extra} "
        f"FROM {RESULT} WHERE outcome = 'rejected' ORDER BY line LIMIT {int(keep)}"
    )


def _rejection(kind: RecordKind, row: Sequence[Any]) -> Rejected:
    cols = columns_of(kind)
    line, ext, version, t_version, rule_bad, same, found_flags = row[:7]
    data = row[7 : 7 + len(cols)]
    # Times come back in the session's time zone; the record-by-record path holds them in UTC.
    values: dict[str, Any] = {
        c.field: v.astimezone(UTC) if isinstance(v, datetime) else v for c, v in zip(cols, data, strict=True)
    }
    if rule_bad:
        refs = [c for c in cols if c.ref is not None]
        found = {c.field: bool(f) for c, f in zip(refs, found_flags, strict=True)}
        unknown: set[str] = set()
        if kind is RecordKind.VISIT:
            values["worker_ids"] = list(row[7 + len(cols)])
            unknown = set(row[8 + len(cols)])
        errors = rule_violations(kind, values, lambda f, _e: found[f], lambda w: w not in unknown)
    else:
        decided = version_outcome(t_version, version, same_content=bool(same))
        errors = [decided] if isinstance(decided, Violation) else []
    return Rejected(line, ext, version, errors)


# ---------------------------------------------------------------- foreign keys of large loads

# Rows written from which an import refreshes the planner's statistics of the tables it wrote.
ANALYZE_FROM = 500
# Off unless the operator opts in (CAREHUB_IMPORT_SET_WISE_KEYS=true): dropping a key locks the
# tables it joins for every tenant until the import commits, which suits an initial load into
# a database nobody else is using, not a shared production database. See docs/operations.md.
SET_WISE_KEYS = os.environ.get("CAREHUB_IMPORT_SET_WISE_KEYS", "").lower() in {"1", "true", "yes"}
# Rows written (created + updated) from which a load checks the foreign keys between roster
# tables once, set-wise, instead of row by row; see suspend_foreign_keys.
SET_WISE_CHECKS_FROM = 50_000
# ... provided they are at least this share of the rows already in the table: re-checking
# scans the whole table (every environment's rows), at about a quarter of the cost a row of
# a row-by-row check.
SET_WISE_CHECKS_SHARE = 0.25
# How long a load waits for the locks before it keeps the row-by-row checks instead.
SET_WISE_LOCK_TIMEOUT = "2s"


@dataclass(frozen=True, slots=True)
class ForeignKey:
    """A foreign-key constraint as PostgreSQL describes it (names already quoted), to drop and add back."""

    table: str
    name: str
    definition: str


def suspend_foreign_keys(cur: Any, kind: RecordKind, writes: int) -> list[ForeignKey]:
    """For a large load, drop the foreign keys between the written roster tables; returns them.

    Every reference was resolved by the import's own join (an unknown one rejects the
    line), so PostgreSQL's row-level check of each written row -- a query and a row lock
    per key and row, half of the time of writing a visit -- only repeats that work.
    Dropped here and added back by :func:`restore_foreign_keys` in the same transaction,
    each key is checked once for the whole table by one join, and nothing else can see
    the table without it.

    The price is the lock: ``DROP CONSTRAINT`` takes an ACCESS EXCLUSIVE lock on the
    table *and on the referenced table* until the import commits, so every other
    session's reads of those roster tables (all environments) wait for the import.
    That is why it is done only for loads of at least SET_WISE_CHECKS_FROM rows that are
    large next to the table, never for the key to ``environments``, and only when the
    locks come within SET_WISE_LOCK_TIMEOUT; otherwise the keys stay row by row.
    """
    if not SET_WISE_KEYS or writes < SET_WISE_CHECKS_FROM:
        return []
    tables = [table_of(kind).name] + (["visit_allocations"] if kind is RecordKind.VISIT else [])
    roster = [core_table(t).name for t in TABLES.values()]
    rows = cur.execute(
        # Rows by the statistics, or by the size when those are missing or older (200 bytes a row).
        "SELECT coalesce(sum(greatest(reltuples, pg_relation_size(oid) / 200.0)), 0) FROM pg_class "
        "WHERE oid = ANY(%s::regclass[])",
        (tables,),
    ).fetchone()[0]
    if writes < SET_WISE_CHECKS_SHARE * float(rows):
        return []
    keys = [
        ForeignKey(*row)
        for row in cur.execute(
            # Names as SQL: the table as regclass prints it, the constraint through quote_ident.
            "SELECT conrelid::regclass::text, quote_ident(conname), pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE contype = 'f' AND conrelid = ANY(%s::regclass[]) AND confrelid = ANY(%s::regclass[]) "
            "ORDER BY conrelid::regclass::text, conname",
            (tables, roster),
        ).fetchall()
    ]
    if not keys:
        return []
    timeout = cur.execute("SELECT current_setting('lock_timeout')").fetchone()[0]
    cur.execute("SAVEPOINT carehub_suspend_keys")
    try:
        cur.execute(f"SET LOCAL lock_timeout = '{SET_WISE_LOCK_TIMEOUT}'")
        for table in dict.fromkeys(k.table for k in keys):
            drops = ", ".join(f"DROP CONSTRAINT {k.name}" for k in keys if k.table == table)
            cur.execute(f"ALTER TABLE {table} {drops}")
        cur.execute("SELECT set_config('lock_timeout', %s, true)", (timeout,))
        cur.execute("RELEASE SAVEPOINT carehub_suspend_keys")
    except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected, psycopg.errors.InsufficientPrivilege):
        # Busy tables or not their owner: the setting and the keys are back as they were.
        cur.execute("ROLLBACK TO SAVEPOINT carehub_suspend_keys")
        cur.execute("RELEASE SAVEPOINT carehub_suspend_keys")
        return []
    return keys


def restore_foreign_keys(cur: Any, keys: Sequence[ForeignKey]) -> None:
    """Add back the keys :func:`suspend_foreign_keys` dropped, each checked with one join.

    A row that broke one (it cannot: the import resolved every reference) fails the
    import, and the transaction puts everything back.
    """
    for table in dict.fromkeys(k.table for k in keys):
        adds = ", ".join(f"ADD CONSTRAINT {k.name} {k.definition}" for k in keys if k.table == table)
        cur.execute(f"ALTER TABLE {table} {adds}")


def _analyze(cur: Any, kind: RecordKind) -> None:
    """Fresh planner statistics for the tables a large round wrote.

    Anything that plans joins over the rows just written -- publishing, in this same
    transaction -- would otherwise plan with the statistics of the empty table.
    """
    for name in [table_of(kind).name] + (["visit_allocations"] if kind is RecordKind.VISIT else []):
        cur.execute(f"ANALYZE {name}")


def finish(session: Session, actor: Actor, environment_id: int, stager: Stager) -> None:  # noqa: PLR0915 - the rounds, step by step
    """Resolve, decide and write every staged record, round by round."""
    kind = stager.kind
    outcomes = stager.outcomes
    conn: Any = rowio.driver_connection(session)
    steps = plan(kind)
    table = table_of(kind)
    params: dict[str, Any] = {
        "env": environment_id,
        "now": utc_now(),
        "actor_kind": actor.kind,
        "actor_id": actor.id,
        "actor_label": actor.label,
        "entity": kind.value,
        "topic_prefix": f"roster.{kind.value}.",
        **{f"default_{k}": v for k, v in rowio.scalar_defaults(table).items()},
    }
    with conn.cursor() as cur:
        # Joins and sorts of a whole file: let them stay in memory (this transaction only).
        cur.execute("SET LOCAL work_mem = '256MB'")
        # The estimates of a half-loaded schema are far off (one statement was costed at 10^9),
        # which switched JIT compilation on: a second of compiling for statements that run in one.
        cur.execute("SET LOCAL jit = off")
        params["seq"] = cur.execute("SELECT pg_get_serial_sequence(%s, 'id')::regclass::oid", (table.name,)).fetchone()[
            0
        ]
        started = time.perf_counter()
        rounds = 1 if stager.staged else 0
        if stager.repeated:
            # Lines that repeat an id are applied one after the other, as the record-by-record path does.
            cur.execute(
                f"WITH d AS (SELECT ctid, row_number() OVER (PARTITION BY id ORDER BY line) AS n FROM {STAGE} "
                f"WHERE id IN (SELECT id FROM {STAGE} GROUP BY id HAVING count(*) > 1)) "
                f"UPDATE {STAGE} s SET occ = d.n FROM d WHERE s.ctid = d.ctid"
            )
            rounds = cur.execute(f"SELECT coalesce(max(occ), 0) FROM {STAGE}").fetchone()[0]
        cur.execute(f"ANALYZE {STAGE}")
        outcomes.timed("repeated ids", started)
        suspended: list[ForeignKey] = []
        for number in range(1, rounds + 1):
            params["round"] = number
            cur.execute(f"DROP TABLE IF EXISTS {RESULT}")
            started = time.perf_counter()
            cur.execute(steps.resolve, params)
            outcomes.timed("resolve", started)
            started = time.perf_counter()
            counts = dict(cur.execute(f"SELECT outcome, count(*) FROM {RESULT} GROUP BY outcome").fetchall())
            outcomes.created += counts.get("created", 0)
            outcomes.updated += counts.get("updated", 0)
            outcomes.unchanged += counts.get("unchanged", 0)
            outcomes.rejected += counts.get("rejected", 0)
            outcomes.timed("report", started)
            if number == 1:
                started = time.perf_counter()
                suspended = suspend_foreign_keys(cur, kind, counts.get("created", 0) + counts.get("updated", 0))
                outcomes.timed("foreign keys", started)
            for step, sql in (
                ("insert", steps.insert),
                ("update", steps.update),
                ("allocations", steps.delete_allocations),
                ("allocations", steps.insert_allocations),
                ("audit", steps.audit),
                ("outbox", steps.outbox),
            ):
                if sql:
                    started = time.perf_counter()
                    cur.execute(sql, params)
                    outcomes.timed(step, started)
            started = time.perf_counter()
            for row in cur.execute(_details_sql(kind, outcomes.keep), params).fetchall():
                outcomes.reject(_rejection(kind, row), count=False)
            changed = cur.execute(f"SELECT pk FROM {RESULT} WHERE outcome IN ('created', 'updated')").fetchall()
            if len(changed) >= ANALYZE_FROM:
                _analyze(cur, kind)
            outbox.touched(
                session,
                f"roster.{kind.value}.",
                outbox.Touched(environment_id, kind.value, frozenset(pk for (pk,) in changed)),
            )
            outcomes.timed("report", started)
        cur.execute(f"DROP TABLE IF EXISTS {RESULT}")
        cur.execute(f"DROP TABLE IF EXISTS {STAGE}")
        if suspended:
            started = time.perf_counter()
            restore_foreign_keys(cur, suspended)
            outcomes.timed("foreign keys", started)


def results_in_line_order(outcomes: Outcomes) -> Iterator[tuple[int, RecordResult]]:
    """The first rejected lines as (line, result), for the import report."""
    for r in outcomes.in_line_order():
        yield r.line, RecordResult(r.line, r.id, Outcome.REJECTED, r.version, r.errors)


# ---------------------------------------------------------------- vectorised CSV visits

_ID = r"[A-Za-z0-9_:#@+-][A-Za-z0-9_.:#@+-]{0,99}"  # no '/', and never '.' or '..' (see schemas._addressable)
_TIME = (  # years 1900-2999, as schemas.FIRST_YEAR and LAST_YEAR
    r"^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(\.[0-9]{1,6})?(Z|[+-](0[0-9]|1[0-4]):[0-5][0-9])$"
)
# Values in these forms mean the same to pydantic (the API's schema) and to PostgreSQL's
# input functions, so rows made only of them are staged without a Python object per value.
CANONICAL: dict[str, str] = {
    "id": f"^{_ID}$",
    "version": r"^[1-9][0-9]{0,17}$",
    "client_id": f"^{_ID}$",
    "contract_id": f"^{_ID}$",
    "plan_visit_id": f"^({_ID})?$",
    "kind": r"^(planned|unplanned|adhoc)?$",
    "start": _TIME,
    "end": _TIME,
    "carers_needed": r"^[1-4]?$",
    "worker_ids": f"^({_ID}(;{_ID}){{0,3}})?$",
}
REQUIRED = ("id", "version", "client_id", "contract_id", "start", "end")


def canonical_visits(batch: pa.RecordBatch) -> pa.Array:
    """Per row of a block of a visits CSV: True when every value is in canonical form."""
    names = batch.schema.names
    if any(n not in names for n in REQUIRED):
        return pa.array([False] * batch.num_rows)
    ok = None
    for name, pattern in CANONICAL.items():
        if name not in names:
            continue
        column = batch.column(names.index(name))
        good = pc.match_substring_regex(column, pattern)
        if name in ("start", "end"):
            # The pattern allows 31 February: the calendar says no. Parsing alone does not
            # (it rolls 2026-02-29 over to 1 March), so the day must also print back the same.
            text = pc.utf8_slice_codeunits(column, 0, 10)
            day = pc.strptime(text, format="%Y-%m-%d", unit="s", error_is_null=True)
            good = pc.and_(good, pc.fill_null(pc.equal(pc.strftime(day, format="%Y-%m-%d"), text), False))  # noqa: FBT003 - pyarrow's signature
        ok = good if ok is None else pc.and_(ok, good)
    return pc.fill_null(ok, False)  # noqa: FBT003 - pyarrow's signature


def visits_as_stage_csv(batch: pa.RecordBatch, first_line: int, rows: pa.Array) -> tuple[bytes, int]:
    """The canonical rows of a block as CSV in the staging table's column order (see Stager.names)."""
    names = batch.schema.names
    picked = batch.filter(rows)
    n = picked.num_rows

    def col(name: str, default: str | None) -> pa.Array:
        if name not in names:
            return pa.array([default] * n, pa.string())
        values = picked.column(names.index(name))
        empty = pc.equal(values, "")
        return pc.if_else(empty, pa.scalar(default, pa.string()), values)

    lines = pc.add(pc.filter(pa.array(range(first_line, first_line + batch.num_rows), pa.int64()), rows), 0)
    workers = col("worker_ids", "")
    arrays = pc.if_else(
        pc.equal(workers, ""),
        "{}",
        pc.binary_join_element_wise('{"', pc.replace_substring(workers, ";", '","'), '"}', ""),
    )
    table = pa.table(
        [
            lines,
            col("id", None),
            col("version", None),
            col("client_id", None),
            col("contract_id", None),
            col("plan_visit_id", None),
            col("kind", "planned"),
            col("start", None),
            col("end", None),
            col("carers_needed", "1"),
            arrays,
        ],
        names=[
            "line",
            "id",
            "version",
            "client_id",
            "contract_id",
            "plan_visit_id",
            "kind",
            "start_at",
            "end_at",
            "carers_needed",
            "worker_ids",
        ],
    )
    out = io.BytesIO()
    pacsv.write_csv(table, out, write_options=pacsv.WriteOptions(include_header=False))
    return out.getvalue(), n
