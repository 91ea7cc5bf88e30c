"""Reads for the roster browser: pages of clients, workers and visits, and their records.

Opening a record (a client, worker or visit) is a case-file view: the
``do_view_*`` functions read it and write an audit row with action ``view`` in
one transaction, so every view is on the record of who saw what.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any, Literal

from sqlalchemy import ColumnElement, ScalarSelect, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from carehub.platform import audit
from carehub.platform.audit import AuditEntry
from carehub.platform.auth.actor import Actor
from carehub.platform.db import Database
from carehub.platform.errors import NotFound
from carehub.platform.paging import ResultPage
from carehub.roster.service.branches import within
from carehub.roster.tables import Branch, Client, Contract, Group, PlanVisit, Visit, VisitAllocation, Worker

PER_PAGE = 25
UPCOMING_LIMIT = 10
HISTORY_LIMIT = 100
VIEWS_LIMIT = 10
MAX_TERMS = 5
WORKLOAD_DAYS = 7
MAX_ID = 100

AnySelect = Select[*tuple[Any, ...]]

Allocation = Literal["unallocated", "partly", "allocated"]
ALLOCATIONS: tuple[Allocation, ...] = ("unallocated", "partly", "allocated")
CLIENT_STATUSES = ("active", "inactive")
WORKER_STATUSES = ("active", "inactive", "left")
VISIT_STATUSES = ("scheduled", "cancelled")


# --- shapes ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Option:
    """A choice of a filter: the value sent and the label shown."""

    value: str
    label: str


@dataclass(frozen=True, slots=True)
class PersonRef:
    """A client or worker as a link: id and name.

    ``hidden``: a worker of a branch the caller may not see, allocated to a visit they may see; shown without
    id, name or link (``external_id`` and ``name`` are empty).
    """

    external_id: str
    name: str
    hidden: bool = False


HIDDEN_WORKER = PersonRef("", "", hidden=True)


@dataclass(frozen=True, slots=True)
class ClientRow:
    """A client as the browser shows it."""

    external_id: str
    first_name: str
    last_name: str
    ssref: str | None
    postcode: str | None
    status: str
    branch: str
    group: str | None
    deleted: bool

    @property
    def name(self) -> str:
        """First and last name."""
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True, slots=True)
class WorkerRow:
    """A worker as the browser shows it, with their visits of the coming week."""

    external_id: str
    first_name: str
    last_name: str
    status: str
    mobile_enabled: bool
    branch: str
    deleted: bool
    upcoming: int = 0

    @property
    def name(self) -> str:
        """First and last name."""
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True, slots=True)
class VisitRow:
    """A visit with its client, contract and allocated workers."""

    external_id: str
    client: PersonRef
    contract: str
    kind: str
    start_at: datetime
    end_at: datetime
    carers_needed: int
    workers: list[PersonRef]
    status: str
    confirmed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    deleted: bool
    plan_visit_id: int | None = None

    @property
    def allocation(self) -> Allocation:
        """Unallocated, partly allocated (a double-up short of carers) or allocated."""
        if not self.workers:
            return "unallocated"
        return "partly" if len(self.workers) < self.carers_needed else "allocated"

    @property
    def minutes(self) -> int:
        """Length in minutes."""
        return int((self.end_at - self.start_at).total_seconds() // 60)


@dataclass(frozen=True, slots=True)
class PlanVisitRow:
    """A service requirement: the pattern of a client's visits."""

    external_id: str
    contract: str
    visit_type_code: str
    visit_type_description: str | None
    days: str
    start_time: str
    duration_minutes: int
    carers_needed: int
    starts_on: date
    ends_on: date | None


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field's before and after in an audit row."""

    field: str
    before: Any
    after: Any


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One audit row: who did what, when, with the fields it changed."""

    occurred_at: datetime
    actor_kind: str
    actor_label: str
    action: str
    changes: list[FieldChange]


@dataclass(frozen=True, slots=True)
class Trail:
    """A record's changes (newest first) and its most recent views."""

    changes: list[HistoryEntry]
    views: list[HistoryEntry]
    view_count: int


@dataclass(frozen=True, slots=True)
class ClientDetail:
    """A client's case file."""

    client: ClientRow
    plan_visits: list[PlanVisitRow]
    upcoming: list[VisitRow]
    upcoming_total: int
    trail: Trail


@dataclass(frozen=True, slots=True)
class WorkerDetail:
    """A worker's record and the visits allocated to them."""

    worker: WorkerRow
    upcoming: list[VisitRow]
    upcoming_total: int
    trail: Trail


@dataclass(frozen=True, slots=True)
class VisitDetail:
    """A visit's case file."""

    visit: VisitRow
    client: ClientRow
    contract_name: str
    contract_funder: str
    plan_visit: PlanVisitRow | None
    trail: Trail


# --- filters --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientFilter:
    """Which clients to list."""

    q: str = ""
    status: str | None = None
    branch: str | None = None


@dataclass(frozen=True, slots=True)
class WorkerFilter:
    """Which workers to list."""

    q: str = ""
    status: str | None = None
    mobile: bool | None = None
    branch: str | None = None


@dataclass(frozen=True, slots=True)
class VisitFilter:
    """Which visits to list: those starting in [start_from, start_to), narrowed further."""

    start_from: datetime
    start_to: datetime
    status: str | None = None
    allocation: Allocation | None = None
    confirmed: bool | None = None
    client: str = ""


def _terms(q: str) -> list[str]:
    """Lower-case search words with LIKE wildcards escaped; at most MAX_TERMS."""
    words = q.lower().split()[:MAX_TERMS]
    return ["%" + w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%" for w in words]


def _search(q: str, columns: Sequence[Any]) -> list[ColumnElement[bool]]:
    """Every word must match at least one of ``columns``."""
    return [or_(*(func.lower(c).like(t, escape="\\") for c in columns)) for t in _terms(q)]


def _paged(
    session: Session, stmt: AnySelect, count: AnySelect, page: int, per_page: int, shape: Any
) -> tuple[list[Any], int, int]:
    """Count the matches with ``count`` (lean: ids only), clamp ``page`` to the last page and fetch it."""
    total = session.scalar(select(func.count()).select_from(count.order_by(None).subquery())) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    rows = session.execute(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    return shape(session, rows), total, page


def _ids(stmt: AnySelect, key: Any) -> AnySelect:
    return stmt.with_only_columns(key, maintain_column_froms=True)


Scope = frozenset[int] | None
"""Roster branch ids the caller may see (``Actor.branch_ids``); None: every branch."""


def _in_scope(column: Any, branch_ids: Scope) -> list[ColumnElement[bool]]:
    clause = within(column, branch_ids)
    return [] if clause is None else [clause]


def _visits_in_scope(branch_ids: Scope) -> list[ColumnElement[bool]]:
    """Visits belong to their client's branch."""
    if branch_ids is None:
        return []
    return [Visit.client_id.in_(select(Client.id).where(*_in_scope(Client.branch_id, branch_ids)))]


def _usable_id(external_id: str) -> bool:
    """An id that can be looked up at all (PostgreSQL refuses NUL characters in text)."""
    return 0 < len(external_id) <= MAX_ID and "\x00" not in external_id


# --- clients --------------------------------------------------------------------------------------


def _client_select(environment_id: int) -> AnySelect:
    return (
        select(Client, Branch.name, Group.name)
        .join(Branch, Branch.id == Client.branch_id)
        .outerjoin(Group, Group.id == Client.group_id)
        .where(Client.environment_id == environment_id)
    )


def _client_row(c: Client, branch: str, group: str | None) -> ClientRow:
    return ClientRow(
        c.external_id,
        c.first_name,
        c.last_name,
        c.ssref,
        c.postcode,
        c.status,
        branch,
        group,
        c.deleted_at is not None,
    )


def _client_rows(_session: Session, rows: Sequence[Any]) -> list[ClientRow]:
    return [_client_row(c, b, g) for c, b, g in rows]


def list_clients(
    db: Database,
    environment_id: int,
    flt: ClientFilter,
    page: int = 1,
    per_page: int = PER_PAGE,
    *,
    branch_ids: Scope = None,
) -> ResultPage[ClientRow]:
    """A page of clients by last name: search by name, id, SSRef or postcode; filter by status and branch.

    Only clients of ``branch_ids`` are listed and counted.
    """
    stmt = _client_select(environment_id).where(Client.deleted_at.is_(None), *_in_scope(Client.branch_id, branch_ids))
    stmt = stmt.where(
        *_search(flt.q, [Client.external_id, Client.first_name, Client.last_name, Client.ssref, Client.postcode])
    )
    if flt.status:
        stmt = stmt.where(Client.status == flt.status)
    if flt.branch:
        stmt = stmt.where(Branch.external_id == flt.branch)
    stmt = stmt.order_by(func.lower(Client.last_name), func.lower(Client.first_name), Client.external_id)
    with db.read() as session:
        items, total, page = _paged(session, stmt, _ids(stmt, Client.id), page, per_page, _client_rows)
    return ResultPage(items, total, page, per_page)


def branch_options(db: Database, environment_id: int, *, branch_ids: Scope = None) -> list[Option]:
    """The environment's branches the caller may see, by name, for a filter."""
    with db.read() as session:
        rows = session.execute(
            select(Branch.external_id, Branch.name)
            .where(
                Branch.environment_id == environment_id,
                Branch.deleted_at.is_(None),
                *_in_scope(Branch.id, branch_ids),
            )
            .order_by(Branch.name)
        ).all()
    return [Option(ext, name) for ext, name in rows]


# --- workers --------------------------------------------------------------------------------------


def _workloads(session: Session, worker_ids: Sequence[int], now: datetime, branch_ids: Scope) -> dict[int, int]:
    """How many scheduled visits each worker has starting in the next WORKLOAD_DAYS days (one grouped query).

    Only visits of clients of ``branch_ids`` are counted.
    """
    if not worker_ids:
        return {}
    stmt = (
        select(VisitAllocation.worker_id, func.count())
        .join(Visit, Visit.id == VisitAllocation.visit_id)
        .where(
            VisitAllocation.worker_id.in_(worker_ids),
            Visit.start_at >= now,
            Visit.start_at < now + timedelta(days=WORKLOAD_DAYS),
            Visit.status == "scheduled",
            Visit.deleted_at.is_(None),
            *_visits_in_scope(branch_ids),
        )
        .group_by(VisitAllocation.worker_id)
    )
    return dict(session.execute(stmt).all())


def _worker_row(w: Worker, branch: str, upcoming: int = 0) -> WorkerRow:
    return WorkerRow(
        w.external_id,
        w.first_name,
        w.last_name,
        w.status,
        w.mobile_enabled,
        branch,
        w.deleted_at is not None,
        upcoming,
    )


def _worker_rows(now: datetime, branch_ids: Scope) -> Any:
    def shape(session: Session, rows: Sequence[Any]) -> list[WorkerRow]:
        load = _workloads(session, [w.id for w, _ in rows], now, branch_ids)
        return [_worker_row(w, b, load.get(w.id, 0)) for w, b in rows]

    return shape


def list_workers(
    db: Database,
    environment_id: int,
    flt: WorkerFilter,
    now: datetime,
    page: int = 1,
    per_page: int = PER_PAGE,
    *,
    branch_ids: Scope = None,
) -> ResultPage[WorkerRow]:
    """A page of workers by last name: search by name or id; filter by status, mobile and branch.

    Only workers of ``branch_ids`` are listed and counted.
    """
    stmt = (
        select(Worker, Branch.name)
        .join(Branch, Branch.id == Worker.branch_id)
        .where(
            Worker.environment_id == environment_id,
            Worker.deleted_at.is_(None),
            *_in_scope(Worker.branch_id, branch_ids),
        )
        .where(*_search(flt.q, [Worker.external_id, Worker.first_name, Worker.last_name]))
    )
    if flt.status:
        stmt = stmt.where(Worker.status == flt.status)
    if flt.mobile is not None:
        stmt = stmt.where(Worker.mobile_enabled.is_(flt.mobile))
    if flt.branch:
        stmt = stmt.where(Branch.external_id == flt.branch)
    stmt = stmt.order_by(func.lower(Worker.last_name), func.lower(Worker.first_name), Worker.external_id)
    with db.read() as session:
        items, total, page = _paged(session, stmt, _ids(stmt, Worker.id), page, per_page, _worker_rows(now, branch_ids))
    return ResultPage(items, total, page, per_page)


# --- visits ---------------------------------------------------------------------------------------


def _visit_select(environment_id: int) -> AnySelect:
    return (
        select(Visit, Client.external_id, Client.first_name, Client.last_name, Contract.name)
        .join(Client, Client.id == Visit.client_id)
        .join(Contract, Contract.id == Visit.contract_id)
        .where(Visit.environment_id == environment_id)
    )


def _visit_rows(session: Session, rows: Sequence[Any], branch_ids: Scope = None) -> list[VisitRow]:
    """Visit rows with their allocated workers; a worker outside ``branch_ids`` is HIDDEN_WORKER, listed last."""
    ids = [r[0].id for r in rows]
    workers: dict[int, list[PersonRef]] = {}
    hidden: dict[int, int] = {}
    if ids:
        stmt = (
            select(VisitAllocation.visit_id, Worker.branch_id, Worker.external_id, Worker.first_name, Worker.last_name)
            .join(Worker, Worker.id == VisitAllocation.worker_id)
            .where(VisitAllocation.visit_id.in_(ids))
            .order_by(Worker.last_name, Worker.first_name)
        )
        for visit_id, branch_id, ext, first, last in session.execute(stmt):
            if branch_ids is None or branch_id in branch_ids:
                workers.setdefault(visit_id, []).append(PersonRef(ext, f"{first} {last}"))
            else:
                hidden[visit_id] = hidden.get(visit_id, 0) + 1
        for visit_id, n in hidden.items():
            workers.setdefault(visit_id, []).extend([HIDDEN_WORKER] * n)
    return [
        VisitRow(
            v.external_id,
            PersonRef(client_ext, f"{first} {last}"),
            contract,
            v.kind,
            v.start_at,
            v.end_at,
            v.carers_needed,
            workers.get(v.id, []),
            v.status,
            v.confirmed_at,
            v.cancelled_at,
            v.cancel_reason,
            v.deleted_at is not None,
            v.plan_visit_id,
        )
        for v, client_ext, first, last, contract in rows
    ]


def _allocated_count() -> ScalarSelect[int]:
    return (
        select(func.count())
        .select_from(VisitAllocation)
        .where(VisitAllocation.visit_id == Visit.id)
        .correlate(Visit)
        .scalar_subquery()
    )


def _allocation_clause(allocation: Allocation) -> ColumnElement[bool]:
    """Allocation as SQL: EXISTS (a semi- or anti-join) first; counting only for double-ups."""
    anyone = select(VisitAllocation.visit_id).where(VisitAllocation.visit_id == Visit.id).correlate(Visit).exists()
    if allocation == "unallocated":
        return ~anyone
    if allocation == "partly":
        return and_(Visit.carers_needed > 1, anyone, _allocated_count() < Visit.carers_needed)
    return and_(anyone, or_(Visit.carers_needed == 1, _allocated_count() >= Visit.carers_needed))


def _visit_where(environment_id: int, flt: VisitFilter) -> list[ColumnElement[bool]]:
    where = [
        Visit.environment_id == environment_id,
        Visit.deleted_at.is_(None),
        Visit.start_at >= flt.start_from,
        Visit.start_at < flt.start_to,
    ]
    if flt.status:
        where.append(Visit.status == flt.status)
    if flt.allocation:
        where.append(_allocation_clause(flt.allocation))
    if flt.confirmed is not None:
        where.append(Visit.confirmed_at.is_not(None) if flt.confirmed else Visit.confirmed_at.is_(None))
    return where


def list_visits(
    db: Database,
    environment_id: int,
    flt: VisitFilter,
    page: int = 1,
    per_page: int = PER_PAGE,
    *,
    branch_ids: Scope = None,
) -> ResultPage[VisitRow]:
    """A page of visits by start time, filtered by start, status, allocation, confirmation and client.

    Only visits of clients of ``branch_ids`` are listed and counted; their workers of other branches are
    HIDDEN_WORKER.
    """
    where = _visit_where(environment_id, flt) + _visits_in_scope(branch_ids)
    words = _search(flt.client, [Client.external_id, Client.first_name, Client.last_name])
    if words:  # the matching clients first: then the visits of those clients, by index
        where.append(Visit.client_id.in_(select(Client.id).where(Client.environment_id == environment_id, *words)))
    stmt = _visit_select(environment_id).where(*where).order_by(Visit.start_at, Visit.external_id)
    count = select(Visit.id).where(*where)
    with db.read() as session:
        items, total, page = _paged(session, stmt, count, page, per_page, partial(_visit_rows, branch_ids=branch_ids))
    return ResultPage(items, total, page, per_page)


# --- history --------------------------------------------------------------------------------------


def _entry(row: AuditEntry) -> HistoryEntry:
    changes = [
        FieldChange(name, *(pair if isinstance(pair, list) and len(pair) == 2 else [None, pair]))
        for name, pair in sorted((row.changes or {}).items())
    ]
    return HistoryEntry(row.occurred_at, row.actor_kind, row.actor_label, row.action, changes)


def _trail(session: Session, entity: str, entity_id: int) -> Trail:
    where = (AuditEntry.entity == entity, AuditEntry.entity_id == entity_id)
    changes = session.scalars(
        select(AuditEntry)
        .where(*where, AuditEntry.action != "view")
        .order_by(AuditEntry.id.desc())
        .limit(HISTORY_LIMIT)
    ).all()
    views = session.scalars(
        select(AuditEntry).where(*where, AuditEntry.action == "view").order_by(AuditEntry.id.desc()).limit(VIEWS_LIMIT)
    ).all()
    view_count = session.scalar(select(func.count()).select_from(AuditEntry).where(*where, AuditEntry.action == "view"))
    return Trail([_entry(r) for r in changes], [_entry(r) for r in views], view_count or 0)


def _record_view(session: Session, actor: Actor, entity: str, pk: int, external_id: str, environment_id: int) -> None:
    audit.record(session, actor, audit.Change(entity, pk, "view", {}, external_id, environment_id))


# --- records --------------------------------------------------------------------------------------


def _plan_visit_row(p: PlanVisit, contract: str) -> PlanVisitRow:
    return PlanVisitRow(
        p.external_id,
        contract,
        p.visit_type_code,
        p.visit_type_description,
        p.days,
        p.start_time,
        p.duration_minutes,
        p.carers_needed,
        p.starts_on,
        p.ends_on,
    )


def _upcoming(
    session: Session, environment_id: int, branch_ids: Scope, *where: ColumnElement[bool]
) -> tuple[list[VisitRow], int]:
    """The next UPCOMING_LIMIT visits matching ``where`` and how many there are in all.

    Their workers are as seen from ``branch_ids``.
    """
    total = session.scalar(select(func.count()).select_from(Visit).where(*where)) or 0
    stmt = _visit_select(environment_id).where(*where).order_by(Visit.start_at, Visit.external_id)
    rows = session.execute(stmt.limit(UPCOMING_LIMIT)).all()
    return _visit_rows(session, rows, branch_ids), total


def do_view_client(db: Database, actor: Actor, environment_id: int, external_id: str, now: datetime) -> ClientDetail:
    """A client's case file: details, plan visits, upcoming visits and history. Records the view.

    A client outside the actor's branches is not found.
    """
    with db.transaction() as session:
        row = None
        if _usable_id(external_id):
            row = session.execute(
                _client_select(environment_id).where(
                    Client.external_id == external_id, *_in_scope(Client.branch_id, actor.branch_ids)
                )
            ).first()
        if row is None:
            raise NotFound(f"no client with id {external_id!r}")
        client: Client = row[0]
        plans = session.execute(
            select(PlanVisit, Contract.name)
            .join(Contract, Contract.id == PlanVisit.contract_id)
            .where(PlanVisit.client_id == client.id, PlanVisit.deleted_at.is_(None))
            .order_by(PlanVisit.start_time, PlanVisit.external_id)
        ).all()
        upcoming, total = _upcoming(
            session,
            environment_id,
            actor.branch_ids,
            Visit.client_id == client.id,
            Visit.end_at >= now,
            Visit.deleted_at.is_(None),
        )
        _record_view(session, actor, "client", client.id, client.external_id, environment_id)
        trail = _trail(session, "client", client.id)
        return ClientDetail(
            _client_row(client, row[1], row[2]), [_plan_visit_row(p, c) for p, c in plans], upcoming, total, trail
        )


def do_view_worker(db: Database, actor: Actor, environment_id: int, external_id: str, now: datetime) -> WorkerDetail:
    """A worker's record, upcoming allocated visits and history. Records the view.

    A worker outside the actor's branches is not found; of their visits, only those of clients the actor may see
    are listed and counted (the workload too).
    """
    with db.transaction() as session:
        row = None
        if _usable_id(external_id):
            row = session.execute(
                select(Worker, Branch.name)
                .join(Branch, Branch.id == Worker.branch_id)
                .where(
                    Worker.environment_id == environment_id,
                    Worker.external_id == external_id,
                    *_in_scope(Worker.branch_id, actor.branch_ids),
                )
            ).first()
        if row is None:
            raise NotFound(f"no worker with id {external_id!r}")
        worker: Worker = row[0]
        allocated = select(VisitAllocation.visit_id).where(VisitAllocation.worker_id == worker.id)
        upcoming, total = _upcoming(
            session,
            environment_id,
            actor.branch_ids,
            Visit.id.in_(allocated),
            Visit.end_at >= now,
            Visit.deleted_at.is_(None),
            *_visits_in_scope(actor.branch_ids),
        )
        _record_view(session, actor, "worker", worker.id, worker.external_id, environment_id)
        trail = _trail(session, "worker", worker.id)
        load = _workloads(session, [worker.id], now, actor.branch_ids)
        return WorkerDetail(_worker_row(worker, row[1], load.get(worker.id, 0)), upcoming, total, trail)


def do_view_visit(db: Database, actor: Actor, environment_id: int, external_id: str) -> VisitDetail:
    """A visit's case file: client, contract, times, carers and history. Records the view.

    A visit of a client outside the actor's branches is not found; its workers of other branches are
    HIDDEN_WORKER.
    """
    with db.transaction() as session:
        row = None
        if _usable_id(external_id):
            row = session.execute(
                _visit_select(environment_id).where(
                    Visit.external_id == external_id, *_visits_in_scope(actor.branch_ids)
                )
            ).first()
        if row is None:
            raise NotFound(f"no visit with id {external_id!r}")
        visit = _visit_rows(session, [row], actor.branch_ids)[0]
        pk: int = row[0].id
        client_row = session.execute(_client_select(environment_id).where(Client.id == row[0].client_id)).one()
        contract = session.execute(
            select(Contract.name, Contract.funder).where(Contract.id == row[0].contract_id)
        ).one()
        plan = None
        if visit.plan_visit_id is not None:
            plan_row = session.execute(
                select(PlanVisit, Contract.name)
                .join(Contract, Contract.id == PlanVisit.contract_id)
                .where(PlanVisit.id == visit.plan_visit_id)
            ).first()
            plan = None if plan_row is None else _plan_visit_row(plan_row[0], plan_row[1])
        _record_view(session, actor, "visit", pk, visit.external_id, environment_id)
        trail = _trail(session, "visit", pk)
        return VisitDetail(visit, _client_row(*client_row), contract[0], contract[1], plan, trail)
