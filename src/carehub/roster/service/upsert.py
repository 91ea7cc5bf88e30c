"""Applying roster records.

Validate, resolve references, check versions, write, audit and emit events,
all in the caller's transaction.

Work is set-wise: one query per referenced kind and one for the stored records,
then bulk writes. Each record gets its own outcome; a rejected record never
stops the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Table, bindparam, delete, insert, select
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
from carehub.roster.service.results import BatchResult, RecordResult
from carehub.roster.tables import TABLES, VisitAllocation

IN_CHUNK = 900  # identifiers per IN (...) list; well inside SQLite's parameter limit
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


def _validate(schema: type[RecordIn], items: Sequence[tuple[int, Any]]) -> list[RecordIn | list[Violation]]:
    raws = [raw for _, raw in items]
    try:
        return list(TypeAdapter(list[schema]).validate_python(raws))  # type: ignore[valid-type]
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
    for start in range(0, len(wanted), IN_CHUNK):
        chunk = wanted[start : start + IN_CHUNK]
        rows = session.execute(
            select(table.c.external_id, table.c.id).where(
                table.c.environment_id == environment_id,
                table.c.external_id.in_(chunk),
                table.c.deleted_at.is_(None),
            )
        )
        found.update((row[0], row[1]) for row in rows)
    return found


def external_ids(session: Session, kind: RecordKind, ids: Iterable[int]) -> dict[int, str]:
    """Internal id -> external id for records of ``kind``."""
    table = table_of(kind)
    wanted = sorted(set(ids))
    found: dict[int, str] = {}
    for start in range(0, len(wanted), IN_CHUNK):
        chunk = wanted[start : start + IN_CHUNK]
        rows = session.execute(select(table.c.id, table.c.external_id).where(table.c.id.in_(chunk)))
        found.update((row[0], row[1]) for row in rows)
    return found


def _stored(session: Session, environment_id: int, kind: RecordKind, external: Iterable[str]) -> dict[str, _State]:
    table = table_of(kind)
    cols = data_columns(kind)
    wanted = sorted(set(external))
    state: dict[str, _State] = {}
    for start in range(0, len(wanted), IN_CHUNK):
        chunk = wanted[start : start + IN_CHUNK]
        stmt = select(table.c.id, table.c.external_id, table.c.version, table.c.deleted_at, *(table.c[c] for c in cols))
        for row in session.execute(
            stmt.where(table.c.environment_id == environment_id, table.c.external_id.in_(chunk))
        ):
            state[row[1]] = _State(row[0], row[2], row[3] is not None, dict(zip(cols, row[4:], strict=True)), None)
    if kind is RecordKind.VISIT and state:
        alloc: dict[int, set[int]] = {s.id: set() for s in state.values() if s.id is not None}
        visit_ids = sorted(alloc)
        for start in range(0, len(visit_ids), IN_CHUNK):
            id_chunk = visit_ids[start : start + IN_CHUNK]
            for visit_id, worker_id in session.execute(
                select(VisitAllocation.visit_id, VisitAllocation.worker_id).where(
                    VisitAllocation.visit_id.in_(id_chunk)
                )
            ):
                alloc[visit_id].add(worker_id)
        for s in state.values():
            s.workers = frozenset(alloc.get(s.id or 0, ()))
    return state


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@dataclass(slots=True)
class _Applied:
    result: RecordResult
    external_id: str
    changes: dict[str, list[Any]]


def apply_records(  # noqa: C901, PLR0912, PLR0915 - one pass over the batch, kept together for speed
    session: Session,
    actor: Actor,
    environment_id: int,
    kind: RecordKind,
    items: Sequence[tuple[int, Any]],
) -> list[RecordResult]:
    """Apply records of one kind in the caller's transaction; one result per item, in order."""
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

    applied: list[_Applied] = []
    for result, model in good:
        values = dict(model)
        errors: list[Violation] = []
        row: dict[str, Any] = {COLUMN_NAMES.get(f, f): v for f, v in values.items() if f not in _NOT_RECORD_FIELDS}
        for ref in refs:
            ext = values.get(ref.field)
            if ext is None:
                continue
            rid = ref_maps[ref.field].get(ext)
            if rid is None:
                name = ref.kind.value.replace("_", " ")
                errors.append(
                    Violation(
                        ref.field,
                        ext,
                        f"{name} not found: no {name} with id {ext!r} in this environment",
                        f"unknown_{ref.kind.value}",
                    )
                )
            else:
                row[ref.field] = rid
        workers: frozenset[int] | None = None
        if kind is RecordKind.VISIT:
            v = end_after_start(values["start"], values["end"])
            if v:
                errors.append(v)
            worker_ids: list[str] = values["worker_ids"]
            v = allocation_fits(worker_ids, values["carers_needed"])
            if v:
                errors.append(v)
            unknown = [w for w in worker_ids if w not in worker_map]
            errors.extend(
                Violation(
                    "worker_ids", w, f"worker not found: no worker with id {w!r} in this environment", "unknown_worker"
                )
                for w in unknown
            )
            workers = frozenset(worker_map[w] for w in worker_ids if w in worker_map)
        elif kind is RecordKind.PLAN_VISIT:
            v = ends_not_before_starts(values["starts_on"], values["ends_on"])
            if v:
                errors.append(v)
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
        before = {} if stored is None else stored.row
        changes = {k: [_jsonable(a), _jsonable(b)] for k, (a, b) in changed_fields(before, row).items()}
        if stored is not None and stored.deleted:
            changes["deleted"] = [True, False]
        if kind is RecordKind.VISIT and (stored is None or stored.workers != workers):
            changes["worker_ids"] = [None if stored is None else sorted(stored.workers or ()), sorted(workers or ())]
        state[model.id] = _State(
            None if stored is None else stored.id, model.version, deleted=False, row=row, workers=workers
        )
        applied.append(_Applied(result, model.id, changes))

    _write(session, environment_id, kind, table, state, old_state, {a.external_id for a in applied}, now)
    _externalise(session, kind, applied)
    _record(session, actor, environment_id, kind, state, applied)
    return results


def _externalise(session: Session, kind: RecordKind, applied: list[_Applied]) -> None:
    """Show references in audit changes as the rostering system's ids, not ours."""
    fields = {ref.field: ref.kind for ref in REFERENCES[kind]}
    if kind is RecordKind.VISIT:
        fields["worker_ids"] = RecordKind.WORKER
    wanted: dict[RecordKind, set[int]] = {}
    for a in applied:
        for name, ref_kind in fields.items():
            for side in a.changes.get(name, ()):
                ids = side if isinstance(side, list) else [side]
                wanted.setdefault(ref_kind, set()).update(i for i in ids if isinstance(i, int))
    names = {k: external_ids(session, k, ids) for k, ids in wanted.items() if ids}
    for a in applied:
        for name, ref_kind in fields.items():
            if name in a.changes:
                lookup = names.get(ref_kind, {})
                a.changes[name] = [
                    [lookup.get(i, i) for i in side] if isinstance(side, list) else lookup.get(side, side)
                    for side in a.changes[name]
                ]


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
    if new:
        rows = [
            {
                **state[ext].row,
                "environment_id": environment_id,
                "external_id": ext,
                "version": state[ext].version,
                "created_at": now,
                "updated_at": now,
                "deleted_at": None,
            }
            for ext in new
        ]
        stmt = insert(table).returning(table.c.id, table.c.external_id, sort_by_parameter_order=True)
        for rid, ext in session.execute(stmt, rows):
            state[ext].id = rid
    if old:
        rows = [
            {
                **state[ext].row,
                "b_id": state[ext].id,
                "version": state[ext].version,
                "updated_at": now,
                "deleted_at": None,
            }
            for ext in old
        ]
        session.execute(table.update().where(table.c.id == bindparam("b_id")), rows)
    if kind is RecordKind.VISIT:
        changed = [ext for ext in old if old_state[ext].workers != state[ext].workers]
        stale = [state[ext].id for ext in changed]
        for start in range(0, len(stale), IN_CHUNK):
            session.execute(
                delete(VisitAllocation).where(VisitAllocation.visit_id.in_(stale[start : start + IN_CHUNK]))
            )
        alloc_rows = [
            {"visit_id": state[ext].id, "worker_id": w}
            for ext in [*new, *changed]
            for w in sorted(state[ext].workers or ())
        ]
        if alloc_rows:
            session.execute(insert(core_table(VisitAllocation)), alloc_rows)


def _record(
    session: Session,
    actor: Actor,
    environment_id: int,
    kind: RecordKind,
    state: dict[str, _State],
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
            )
            for a in applied
        ),
    )
