"""Single-record roster changes: upsert one, delete, allocate, de-allocate, confirm, cancel.

Each function owns its transaction and writes its audit row and outbox event
in it. Repeating a call changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from carehub.platform import audit, outbox
from carehub.platform.auth.actor import Actor
from carehub.platform.clock import utc_now
from carehub.platform.db import Database, core_table
from carehub.platform.errors import Conflict, NotFound
from carehub.roster.domain import visits as rules
from carehub.roster.domain.kinds import RecordKind
from carehub.roster.domain.rules import Outcome, Violation
from carehub.roster.service.results import RecordResult
from carehub.roster.service.upsert import apply_records, table_of
from carehub.roster.tables import Visit, VisitAllocation, Worker


def do_upsert_record(db: Database, actor: Actor, environment_id: int, kind: RecordKind, record: Any) -> RecordResult:
    """Create or update one record; the result says what happened and why not."""
    with db.transaction() as session:
        return apply_records(session, actor, environment_id, kind, [(0, record)])[0]


# Audit actions are verbs, as for create and update; event topics are past tense.
_TOPICS = {
    "delete": "deleted",
    "allocate": "allocated",
    "deallocate": "deallocated",
    "confirm": "confirmed",
    "cancel": "cancelled",
}


def _emit(
    session: Session,
    actor: Actor,
    environment_id: int,
    kind: RecordKind,
    pk: int,
    ext: str,
    action: str,
    changes: dict[str, Any],
    left: Mapping[str, frozenset[int]] | None = None,
) -> None:
    """Audit and emit one change; ``left`` names the records it unlinked (none if omitted)."""
    audit.record(
        session, actor, audit.Change(kind.value, pk, action, changes, external_id=ext, environment_id=environment_id)
    )
    outbox.emit_many(
        session,
        [
            outbox.Event(
                f"roster.{kind.value}.{_TOPICS[action]}",
                kind.value,
                pk,
                {"id": ext, "changed": sorted(changes)},
                environment_id,
                left={} if left is None else left,
            )
        ],
    )


def do_delete_record(
    db: Database, actor: Actor, environment_id: int, kind: RecordKind, external_id: str, version: int | None = None
) -> RecordResult:
    """Delete a record (kept, marked deleted). Deleting twice changes nothing; an older version is refused."""
    table = table_of(kind)
    with db.transaction() as session:
        row = session.execute(
            select(table.c.id, table.c.version, table.c.deleted_at).where(
                table.c.environment_id == environment_id, table.c.external_id == external_id
            )
        ).first()
        if row is None:
            raise NotFound(f"no {kind.value.replace('_', ' ')} with id {external_id!r}")
        pk, stored_version, deleted_at = row
        if version is not None and version < stored_version:
            return RecordResult(
                0,
                external_id,
                Outcome.REJECTED,
                version,
                [
                    Violation(
                        "version",
                        version,
                        f"older than current: stored version is {stored_version}",
                        "older_than_current",
                    )
                ],
            )
        if deleted_at is not None:
            return RecordResult(0, external_id, Outcome.UNCHANGED, stored_version)
        new_version = max(stored_version, version or stored_version)
        now = utc_now()
        session.execute(
            update(table).where(table.c.id == pk).values(deleted_at=now, updated_at=now, version=new_version)
        )
        changes: dict[str, Any] = {"deleted": [False, True]}
        if new_version != stored_version:
            changes["version"] = [stored_version, new_version]
        _emit(session, actor, environment_id, kind, pk, external_id, "delete", changes)
        return RecordResult(0, external_id, Outcome.DELETED, new_version)


def _visit(session: Session, environment_id: int, external_id: str) -> tuple[Visit, rules.VisitState]:
    visit = session.scalar(
        select(Visit).where(
            Visit.environment_id == environment_id, Visit.external_id == external_id, Visit.deleted_at.is_(None)
        )
    )
    if visit is None:
        raise NotFound(f"no visit with id {external_id!r}")
    allocated = session.scalars(
        select(Worker.external_id)
        .join(VisitAllocation, VisitAllocation.worker_id == Worker.id)
        .where(VisitAllocation.visit_id == visit.id)
    ).all()
    state = rules.VisitState(
        visit.external_id, visit.status, visit.carers_needed, frozenset(allocated), visit.confirmed_at
    )
    return visit, state


def _refuse(v: Violation) -> Conflict:
    from carehub.platform.errors import RecordError  # noqa: PLC0415 - keep the module's public imports small

    return Conflict(v.reason, errors=[RecordError(None, None, v.field, v.value, v.reason, v.code)])


def do_allocate_worker(db: Database, actor: Actor, environment_id: int, visit_id: str, worker_id: str) -> RecordResult:
    """Allocate a worker to a visit (a double-up takes two). Allocating twice changes nothing."""
    with db.transaction() as session:
        visit, state = _visit(session, environment_id, visit_id)
        worker = session.scalar(
            select(Worker).where(
                Worker.environment_id == environment_id, Worker.external_id == worker_id, Worker.deleted_at.is_(None)
            )
        )
        if worker is None:
            raise NotFound(f"worker not found: no worker with id {worker_id!r}")
        violation = rules.can_allocate(state, worker_id, worker.status)
        if violation:
            raise _refuse(violation)
        if worker_id in state.allocated:
            return RecordResult(0, visit_id, Outcome.UNCHANGED, visit.version)
        session.execute(insert(core_table(VisitAllocation)).values(visit_id=visit.id, worker_id=worker.id))
        visit.updated_at = utc_now()
        _emit(
            session,
            actor,
            environment_id,
            RecordKind.VISIT,
            visit.id,
            visit_id,
            "allocate",
            {"worker_ids": [sorted(state.allocated), sorted(state.allocated | {worker_id})]},
        )
        return RecordResult(0, visit_id, Outcome.UPDATED, visit.version)


def do_deallocate_worker(
    db: Database, actor: Actor, environment_id: int, visit_id: str, worker_id: str
) -> RecordResult:
    """Remove a worker from a visit. Removing one not allocated changes nothing."""
    with db.transaction() as session:
        visit, state = _visit(session, environment_id, visit_id)
        if worker_id not in state.allocated:
            return RecordResult(0, visit_id, Outcome.UNCHANGED, visit.version)
        worker_pk = session.scalar(
            select(Worker.id).where(Worker.environment_id == environment_id, Worker.external_id == worker_id)
        )
        session.execute(
            delete(VisitAllocation).where(VisitAllocation.visit_id == visit.id, VisitAllocation.worker_id == worker_pk)
        )
        visit.updated_at = utc_now()
        _emit(
            session,
            actor,
            environment_id,
            RecordKind.VISIT,
            visit.id,
            visit_id,
            "deallocate",
            {"worker_ids": [sorted(state.allocated), sorted(state.allocated - {worker_id})]},
            left={"worker": frozenset({worker_pk})} if worker_pk is not None else None,
        )
        return RecordResult(0, visit_id, Outcome.UPDATED, visit.version)


def do_confirm_visit(db: Database, actor: Actor, environment_id: int, visit_id: str) -> RecordResult:
    """Confirm a visit manually. Confirming twice changes nothing."""
    with db.transaction() as session:
        visit, state = _visit(session, environment_id, visit_id)
        violation = rules.can_confirm(state)
        if violation:
            raise _refuse(violation)
        if visit.confirmed_at is not None:
            return RecordResult(0, visit_id, Outcome.UNCHANGED, visit.version)
        now = utc_now()
        visit.confirmed_at = now
        visit.updated_at = now
        _emit(
            session,
            actor,
            environment_id,
            RecordKind.VISIT,
            visit.id,
            visit_id,
            "confirm",
            {"confirmed_at": [None, now.isoformat()]},
        )
        return RecordResult(0, visit_id, Outcome.UPDATED, visit.version)


def do_cancel_visit(
    db: Database, actor: Actor, environment_id: int, visit_id: str, reason: str | None = None
) -> RecordResult:
    """Cancel a visit. Cancelling twice changes nothing; a confirmed visit cannot be cancelled."""
    with db.transaction() as session:
        visit, state = _visit(session, environment_id, visit_id)
        if visit.status == "cancelled":
            return RecordResult(0, visit_id, Outcome.UNCHANGED, visit.version)
        violation = rules.can_cancel(state)
        if violation:
            raise _refuse(violation)
        now = utc_now()
        changes: dict[str, Any] = {"status": [visit.status, "cancelled"], "cancelled_at": [None, now.isoformat()]}
        if reason != visit.cancel_reason:
            changes["cancel_reason"] = [visit.cancel_reason, reason]
        visit.status = "cancelled"
        visit.cancelled_at = now
        visit.cancel_reason = reason
        visit.updated_at = now
        _emit(session, actor, environment_id, RecordKind.VISIT, visit.id, visit_id, "cancel", changes)
        return RecordResult(0, visit_id, Outcome.UPDATED, visit.version)
