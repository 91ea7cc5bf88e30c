"""Applying roster records.

Validate, resolve references, check versions, write, audit and emit events,
all in the caller's transaction.

Work is set-wise: one query per referenced kind and one for the stored records,
then bulk writes. Each record gets its own outcome; a rejected record never
stops the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from carehub.platform import audit, outbox
from carehub.platform.auth.actor import Actor
from carehub.platform.clock import utc_now
from carehub.platform.db import Database, core_table
from carehub.platform.errors import BatchTooLarge, RecordError
from carehub.roster.domain.kinds import REFERENCES, RecordKind
from carehub.roster.domain.rules import (
    Outcome,
    Violation,
    allocation_fits,
    changed_fields,
    end_after_start,
    ends_not_before_starts,
    version_outcome,
)
from carehub.roster.schemas import COLUMN_NAMES, SCHEMAS, RecordIn
from carehub.roster.service import rowio
from carehub.roster.service.results import BatchResult, RecordResult
from carehub.roster.tables import TABLES, VisitAllocation

IN_CHUNK = rowio.IN_CHUNK  # identifiers per IN (...) list; well inside SQLite's parameter limit
_NOT_RECORD_FIELDS = ("id", "version", "worker_ids")


def data_columns(kind: RecordKind) -> tuple[str, ...]:
    """The table columns a record of ``kind`` sets, in schema order."""
    return tuple(COLUMN_NAMES.get(f, f) for f in SCHEMAS[kind].model_fields if f not in _NOT_RECORD_FIELDS)


def table_of(kind: RecordKind) -> Table:
    """The Core table of a record kind."""
    return core_table(TABLES[kind.value])


@dataclass(slots=True)
class _State:
    id: int | None
    version: int
    deleted: bool
    row: dict[str, Any]
    workers: frozenset[int] | None


def do_upsert_batch(
    db: Database,
    actor: Actor,
    environment_id: int,
    kind: RecordKind,
    records: Sequence[Any],
    *,
    max_records: int,
) -> BatchResult:
    """Apply a batch of records of one kind; every record gets an outcome.

    A batch over ``max_records`` is refused whole before anything is read.
    """
    if len(records) > max_records:
        raise BatchTooLarge(
            f"batch of {len(records)} {kind.plural} is over the limit of {max_records} records a call; "
            "split it into smaller batches or upload a file",
            errors=[RecordError(None, None, "records", len(records), f"at most {max_records} records")],
        )
    with db.transaction() as session:
        results = apply_records(session, actor, environment_id, kind, list(enumerate(records)))
    return BatchResult(kind.value, results)


@cache
def _list_adapter(schema: type[RecordIn]) -> TypeAdapter[list[RecordIn]]:
    return TypeAdapter(list[schema])  # type: ignore[valid-type]


def _validate(schema: type[RecordIn], items: Sequence[tuple[int, Any]]) -> list[RecordIn | list[Violation]]:
    raws = [raw for _, raw in items]
    try:
        return list(_list_adapter(schema).validate_python(raws))
    except ValidationError:
        pass
    out: list[RecordIn | list[Violation]] = []
    for raw in raws:
        try:
            out.append(schema.model_validate(raw))
        except ValidationError as exc:
            out.append(
                [
                    Violation(
                        ".".join(str(p) for p in e["loc"]) or None,
                        e.get("input") if e["type"] != "missing" else None,
                        e["msg"],
                        e["type"],
                    )
                    for e in exc.errors(include_url=False)
                ]
            )
    return out


def _lookup(session: Session, environment_id: int, kind: RecordKind, external_ids: Iterable[str]) -> dict[str, int]:
    table = table_of(kind)
    wanted = sorted(set(external_ids))
    found: dict[str, int] = {}
    stmt = select(table.c.external_id, table.c.id).where(table.c.deleted_at.is_(None))
    for narrowed in rowio.by_external_id(session, stmt, table, environment_id, wanted):
        found.update((row[0], row[1]) for row in session.execute(narrowed))
    return found


def external_ids(session: Session, kind: RecordKind, ids: Iterable[int]) -> dict[int, str]:
    """Internal id -> external id for records of ``kind``."""
    table = table_of(kind)
    wanted = sorted(set(ids))
    found: dict[int, str] = {}
    for where in rowio.matching(session, table.c.id, wanted):
        rows = session.execute(select(table.c.id, table.c.external_id).where(where))
        found.update((row[0], row[1]) for row in rows)
    return found


def _stored(session: Session, environment_id: int, kind: RecordKind, external: Iterable[str]) -> dict[str, _State]:
    table = table_of(kind)
    cols = data_columns(kind)
    wanted = sorted(set(external))
    state: dict[str, _State] = {}
    stmt = select(table.c.id, table.c.external_id, table.c.version, table.c.deleted_at, *(table.c[c] for c in cols))
    for narrowed in rowio.by_external_id(session, stmt, table, environment_id, wanted):
        for row in session.execute(narrowed):
            state[row[1]] = _State(row[0], row[2], row[3] is not None, dict(zip(cols, row[4:], strict=True)), None)
    if kind is RecordKind.VISIT and state:
        alloc: dict[int, set[int]] = {s.id: set() for s in state.values() if s.id is not None}
        for where in rowio.matching(session, VisitAllocation.visit_id, sorted(alloc)):
            for visit_id, worker_id in session.execute(
                select(VisitAllocation.visit_id, VisitAllocation.worker_id).where(where)
            ):
                alloc[visit_id].add(worker_id)
        for s in state.values():
            s.workers = frozenset(alloc.get(s.id or 0, ()))
    return state


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@cache
def _fields(kind: RecordKind) -> tuple[tuple[str, str], ...]:
    """(record field, table column) of every data field of ``kind``, in schema order."""
    return tuple((f, COLUMN_NAMES.get(f, f)) for f in SCHEMAS[kind].model_fields if f not in _NOT_RECORD_FIELDS)


def rule_violations(
    kind: RecordKind,
    values: Mapping[str, Any],
    ref_found: Callable[[str, str], bool],
    worker_found: Callable[[str], bool],
) -> list[Violation]:
    """The rules a validated record breaks beyond its own fields, in the order they are reported.

    ``ref_found(field, external_id)`` and ``worker_found(external_id)`` say whether a
    referenced record exists (and is not deleted) in the environment. The batch
    upsert and the PostgreSQL file import both report through this function.
    """
    errors: list[Violation] = []
    for ref in REFERENCES[kind]:
        ext = values.get(ref.field)
        if ext is not None and not ref_found(ref.field, ext):
            name = ref.kind.value.replace("_", " ")
            errors.append(
                Violation(
                    ref.field,
                    ext,
                    f"{name} not found: no {name} with id {ext!r} in this environment",
                    f"unknown_{ref.kind.value}",
                )
            )
    if kind is RecordKind.VISIT:
        v = end_after_start(values["start"], values["end"])
        if v:
            errors.append(v)
        worker_ids: list[str] = values["worker_ids"]
        v = allocation_fits(worker_ids, values["carers_needed"])
        if v:
            errors.append(v)
        errors.extend(
            Violation(
                "worker_ids", w, f"worker not found: no worker with id {w!r} in this environment", "unknown_worker"
            )
            for w in worker_ids
            if not worker_found(w)
        )
    elif kind is RecordKind.PLAN_VISIT:
        v = ends_not_before_starts(values["starts_on"], values["ends_on"])
        if v:
            errors.append(v)
    return errors


@dataclass(slots=True)
class _Applied:
    result: RecordResult
    external_id: str
    changes: dict[str, list[Any]]


@dataclass(slots=True)
class _Internal:
    """A ``before`` side of an audit change that still holds our ids, to show as the rostering system's."""

    changes: dict[str, list[Any]]
    field: str
    kind: RecordKind


def apply_records(
    session: Session,
    actor: Actor,
    environment_id: int,
    kind: RecordKind,
    items: Sequence[tuple[int, Any]],
) -> list[RecordResult]:
    """Apply records of one kind in the caller's transaction; one result per item, in order."""
    with rowio.gc_paused():
        return _apply_records(session, actor, environment_id, kind, items)


def _apply_records(  # noqa: C901, PLR0912, PLR0915 - one pass over the batch, kept together for speed
    session: Session,
    actor: Actor,
    environment_id: int,
    kind: RecordKind,
    items: Sequence[tuple[int, Any]],
) -> list[RecordResult]:
    schema = SCHEMAS[kind]
    refs = REFERENCES[kind]
    table = table_of(kind)
    now = utc_now()
    validated = _validate(schema, items)

    results: list[RecordResult] = []
    good: list[tuple[RecordResult, RecordIn]] = []
    for (index, raw), item in zip(items, validated, strict=True):
        if isinstance(item, list):
            raw_id = raw.get("id") if isinstance(raw, Mapping) else None
            results.append(RecordResult(index, None if raw_id is None else str(raw_id), Outcome.REJECTED, None, item))
        else:
            result = RecordResult(index, item.id, Outcome.REJECTED, item.version)
            results.append(result)
            good.append((result, item))

    ref_maps = {
        ref.field: _lookup(
            session, environment_id, ref.kind, (getattr(m, ref.field) for _, m in good if getattr(m, ref.field))
        )
        for ref in refs
    }
    worker_map: dict[str, int] = {}
    if kind is RecordKind.VISIT:
        worker_map = _lookup(
            session, environment_id, RecordKind.WORKER, (w for _, m in good for w in getattr(m, "worker_ids", ()))
        )
    state = _stored(session, environment_id, kind, (m.id for _, m in good))
    old_state = {ext: _State(s.id, s.version, s.deleted, dict(s.row), s.workers) for ext, s in state.items()}
    fields = _fields(kind)
    ref_kinds = {ref.field: ref.kind for ref in refs}
    worker_ext = {v: k for k, v in worker_map.items()}

    def ref_found(field: str, ext: str) -> bool:
        return ext in ref_maps[field]

    applied: list[_Applied] = []
    internal: list[_Internal] = []
    for result, model in good:
        values = model.__dict__  # read only: the validated fields
        row: dict[str, Any] = {col: values[f] for f, col in fields}
        for ref in refs:
            ext = values.get(ref.field)
            if ext is not None and ext in ref_maps[ref.field]:
                row[ref.field] = ref_maps[ref.field][ext]
        workers: frozenset[int] | None = None
        if kind is RecordKind.VISIT:
            workers = frozenset(worker_map[w] for w in values["worker_ids"] if w in worker_map)
        errors = rule_violations(kind, values, ref_found, worker_map.__contains__)
        if errors:
            result.errors = errors
            continue

        stored = state.get(model.id)
        same = (
            stored is not None
            and not stored.deleted
            and stored.row == row
            and (kind is not RecordKind.VISIT or stored.workers == workers)
        )
        decided = version_outcome(None if stored is None else stored.version, model.version, same_content=same)
        if isinstance(decided, Violation):
            result.errors = [decided]
            continue
        result.outcome = decided
        if decided is Outcome.UNCHANGED:
            continue
        # Audit changes show references as the rostering system's ids: the incoming side
        # as sent, the stored side looked up once for the whole batch (_externalise).
        changes: dict[str, list[Any]] = {}
        if stored is None:
            for k, b in row.items():
                if b is not None:
                    changes[k] = [None, values[k] if k in ref_kinds else b.isoformat() if isinstance(b, date) else b]
        else:
            for k, (a, b) in changed_fields(stored.row, row).items():
                if k in ref_kinds:
                    changes[k] = [a, values[k]]
                    if a is not None:
                        internal.append(_Internal(changes, k, ref_kinds[k]))
                else:
                    changes[k] = [_jsonable(a), _jsonable(b)]
        changes["version"] = [None if stored is None else stored.version, model.version]
        if stored is not None and stored.deleted:
            changes["deleted"] = [True, False]
        if kind is RecordKind.VISIT and (stored is None or stored.workers != workers):
            changes["worker_ids"] = [
                None if stored is None else sorted(stored.workers or ()),
                [worker_ext[w] for w in sorted(workers or ())],
            ]
            if stored is not None:
                internal.append(_Internal(changes, "worker_ids", RecordKind.WORKER))
        state[model.id] = _State(
            None if stored is None else stored.id, model.version, deleted=False, row=row, workers=workers
        )
        applied.append(_Applied(result, model.id, changes))

    _write(session, environment_id, kind, table, state, old_state, {a.external_id for a in applied}, now)
    known = {ref.kind: {v: k for k, v in ref_maps[ref.field].items()} for ref in refs}
    if kind is RecordKind.VISIT:
        known[RecordKind.WORKER] = worker_ext
    _externalise(session, internal, known)
    _record(session, actor, environment_id, kind, state, old_state, applied)
    return results


def _externalise(session: Session, internal: list[_Internal], known: Mapping[RecordKind, Mapping[int, str]]) -> None:
    """Show the stored side of changed references as the rostering system's ids, not ours.

    ``known`` holds the ids the batch already resolved; only the others are read.
    """
    wanted: dict[RecordKind, set[int]] = {}
    for item in internal:
        side = item.changes[item.field][0]
        wanted.setdefault(item.kind, set()).update(side if isinstance(side, list) else [side])
    names: dict[RecordKind, dict[int, str]] = {}
    for k, ids in wanted.items():
        have = known.get(k, {})
        names[k] = {i: have[i] for i in ids if i in have}
        missing = [i for i in ids if i not in have]
        if missing:
            names[k].update(external_ids(session, k, missing))
    for item in internal:
        lookup = names[item.kind]
        pair = item.changes[item.field]
        side = pair[0]
        pair[0] = [lookup.get(i, i) for i in side] if isinstance(side, list) else lookup.get(side, side)


def _write(
    session: Session,
    environment_id: int,
    kind: RecordKind,
    table: Table,
    state: dict[str, _State],
    old_state: dict[str, _State],
    touched: set[str],
    now: datetime,
) -> None:
    if not touched:
        return
    new = [ext for ext in sorted(touched) if state[ext].id is None]
    old = [ext for ext in sorted(touched) if state[ext].id is not None]
    cols = data_columns(kind)
    if new:
        ids = rowio.insert_rows(
            session,
            table,
            (*cols, "environment_id", "external_id", "version", "created_at", "updated_at", "deleted_at"),
            [
                (*(state[ext].row[c] for c in cols), environment_id, ext, state[ext].version, now, now, None)
                for ext in new
            ],
        )
        for ext, rid in zip(new, ids, strict=True):
            state[ext].id = rid
    if old:
        rowio.update_rows(
            session,
            table,
            (*cols, "version", "updated_at", "deleted_at"),
            [(state[ext].id, *(state[ext].row[c] for c in cols), state[ext].version, now, None) for ext in old],
        )
    if kind is RecordKind.VISIT:
        changed = [ext for ext in old if old_state[ext].workers != state[ext].workers]
        allocations = core_table(VisitAllocation)
        rowio.delete_where_in(session, allocations, "visit_id", [state[ext].id for ext in changed])
        audit.append_rows(
            session,
            allocations,
            ("visit_id", "worker_id"),
            [(state[ext].id, w) for ext in [*new, *changed] for w in sorted(state[ext].workers or ())],
        )


def _record(
    session: Session,
    actor: Actor,
    environment_id: int,
    kind: RecordKind,
    state: dict[str, _State],
    old_state: dict[str, _State],
    applied: list[_Applied],
) -> None:
    audit.record_many(
        session,
        actor,
        (
            audit.Change(
                kind.value,
                state[a.external_id].id or 0,
                "create" if a.result.outcome is Outcome.CREATED else "update",
                a.changes,
                external_id=a.external_id,
                environment_id=environment_id,
            )
            for a in applied
        ),
    )
    outbox.emit_many(
        session,
        (
            outbox.Event(
                f"roster.{kind.value}.{a.result.outcome.value}",
                kind.value,
                state[a.external_id].id or 0,
                {"id": a.external_id, "version": a.result.version, "changed": sorted(a.changes)},
                environment_id=environment_id,
                left=links_left(old_state.get(a.external_id), state[a.external_id]),
            )
            for a in applied
        ),
    )


_LINKS = (("client_id", "client"), ("plan_visit_id", "plan_visit"))


def links_left(before: _State | None, after: _State) -> dict[str, frozenset[int]]:
    """The clients, plan visits and workers a visit or plan visit was linked to and no longer is."""
    if before is None:
        return {}
    left = {
        kind: frozenset({before.row[column]})
        for column, kind in _LINKS
        if before.row.get(column) is not None and before.row[column] != after.row.get(column)
    }
    gone = (before.workers or frozenset()) - (after.workers or frozenset())
    if gone:
        left["worker"] = gone
    return left
