"""Explain: does one record publish, and if not, which rule fails and how to fix it.

The facts are gathered record by record here and judged by the pure rules of
:mod:`carehub.publishing.domain.evaluate` — a second implementation of what the
set-wise SQL of :mod:`carehub.publishing.service.selects` decides; a property
test keeps the two in agreement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from carehub.platform import audit
from carehub.platform.auth import permissions
from carehub.platform.auth.actor import Actor
from carehub.platform.clock import utc_now
from carehub.platform.db import Database
from carehub.platform.errors import InvalidInput, NotFound, RecordError
from carehub.publishing.domain import evaluate
from carehub.publishing.domain.evaluate import Check, Window
from carehub.publishing.service import context, names
from carehub.publishing.service.context import SCHEDULES, SETTINGS
from carehub.publishing.service.selects import MONITORED, P_CARE_PLANS, P_CLIENTS, P_VISITS, P_WORKERS, R

KINDS = {
    "client": "client",
    "worker": "worker",
    "visit": "visit",
    "plan-visit": "plan_visit",
    "plan_visit": "plan_visit",
}


@dataclass(frozen=True, slots=True)
class Explanation:
    """The answer for one record: the JSON shape of ``carehub explain``."""

    kind: str
    id: str
    publishes: bool
    checks: list[Check]
    published: str | None = None
    notes: list[str] = field(default_factory=list)
    pk: int = 0
    info: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """``{"kind", "id", "publishes", "checks": [{"rule", "passed", "detail", "fix"}], ...}``."""
        return {
            "kind": self.kind,
            "id": self.id,
            "publishes": self.publishes,
            "checks": [c.as_dict() for c in self.checks],
            "published_state": self.published,
            "notes": self.notes,
            "info": self.info,
        }


OTHER_BRANCH_WORKER = "a worker of another branch"


class _Facts:
    """Per-record reads, in one session, for one environment at one moment.

    ``branch_ids``: the reader's branches (``Actor.branch_ids``; None: every branch). Every fact counts for the
    decision, which is the same for every reader; the details name only what the reader may see.
    """

    def __init__(
        self, session: Session, environment_id: int, now: datetime, branch_ids: frozenset[int] | None = None
    ) -> None:
        self.session = session
        self.env = environment_id
        self.branch_ids = branch_ids
        context.ensure_settings(session, environment_id)
        days = session.scalar(select(SETTINGS.c.default_days_ahead).where(SETTINGS.c.environment_id == environment_id))
        self.ctx = context.context_for(session, environment_id, now, int(days if days is not None else 7))
        self.monitored = set(
            session.scalars(select(MONITORED.c.contract_id).where(MONITORED.c.environment_id == environment_id))
        )
        self.zone = self.ctx.zone
        self._windows: dict[int | None, Window] = {}
        self._contracts: dict[int, str] = {}

    def window(self, group_id: int | None) -> Window:
        """The publish window of a group (the default when it has no schedule, or a shorter one)."""
        if group_id not in self._windows:
            end = self.ctx.default_end
            if group_id is not None:
                scheduled = self.session.scalar(
                    select(SCHEDULES.c.window_end_at).where(
                        SCHEDULES.c.environment_id == self.env, SCHEDULES.c.group_id == group_id
                    )
                )
                if scheduled is not None and scheduled > end:
                    end = scheduled
            self._windows[group_id] = Window(self.ctx.window_start, end)
        return self._windows[group_id]

    def sees(self, branch_pk: int) -> bool:
        """Whether the reader may see records of this roster branch."""
        return self.branch_ids is None or branch_pk in self.branch_ids

    def contract(self, pk: int) -> str:
        """A contract's external id."""
        if pk not in self._contracts:
            k = R.contracts
            self._contracts[pk] = self.session.scalar(select(k.c.external_id).where(k.c.id == pk)) or str(pk)
        return self._contracts[pk]

    def branch_notes(self, branch_pk: int) -> list[str]:
        """Why a client or worker cannot publish because of its branch (another environment's, or too long)."""
        note = names.refusal_note(self.session, self.env, branch_pk, self.ctx.now)
        return [] if note is None else [note]

    def row(self, table: Any, external_id: str) -> Any:
        """The roster row of ``external_id``; NotFound otherwise."""
        found = self.session.execute(
            select(table).where(table.c.environment_id == self.env, table.c.external_id == external_id)
        ).first()
        if found is None:
            raise NotFound(f"no {table.name[:-1].replace('_', ' ')} with id {external_id!r}")
        return found

    def published_state(self, table: Any, column: str, pk: int) -> str | None:
        """The published copy's state (the latest care plan revision for plan visits)."""
        stmt = select(table.c.state).where(table.c[column] == pk)
        if table is P_CARE_PLANS:
            stmt = stmt.order_by(table.c.revision.desc()).limit(1)
        return self.session.scalar(stmt)

    def visit(self, external_id: str) -> Explanation:
        """A visit's facts and checks."""
        v = self.row(R.visits, external_id)
        client = self.session.execute(select(R.clients.c.group_id).where(R.clients.c.id == v.client_id)).one()
        a, w = R.allocations, R.workers
        rows = self.session.execute(
            select(w.c.external_id, w.c.branch_id, w.c.status, w.c.mobile_enabled, w.c.deleted_at)
            .join(a, a.c.worker_id == w.c.id)
            .where(a.c.visit_id == v.id)
            .order_by(w.c.external_id)
        ).all()
        workers = sorted(rows, key=lambda r: not self.sees(r.branch_id))  # the workers of other branches last
        first = self.session.scalar(select(P_VISITS.c.first_published_at).where(P_VISITS.c.visit_id == v.id))
        group_ext = (
            self.session.scalar(select(R.groups.c.external_id).where(R.groups.c.id == client.group_id))
            if client.group_id is not None
            else None
        )
        facts = evaluate.VisitFacts(
            id=v.external_id,
            contract_id=self.contract(v.contract_id),
            contract_monitored=v.contract_id in self.monitored,
            start_at=v.start_at,
            group=group_ext,
            window=self.window(client.group_id),
            workers=tuple(
                evaluate.WorkerOnVisit(
                    ext if self.sees(branch) else OTHER_BRANCH_WORKER,
                    status == "active" and deleted is None,
                    bool(mobile),
                )
                for ext, branch, status, mobile, deleted in workers
            ),
            confirmed_at=v.confirmed_at,
            first_published_at=first,
            zone=self.zone,
        )
        checks = evaluate.evaluate_visit(facts)
        notes = []
        if v.deleted_at is not None:
            notes.append("deleted in the roster: it no longer publishes")
        if v.status != "scheduled":
            notes.append(f"cancelled in the roster ({v.cancel_reason or 'no reason given'})")
        too_long = names.visit_id_refusal(self.ctx.naming, v.external_id)
        if too_long is not None and first is None:
            notes.append(f"it cannot publish: {too_long}")
        return self._answer("visit", v, checks, notes, self.published_state(P_VISITS, "visit_id", v.id))

    def _answer(self, kind: str, row: Any, checks: list[Check], notes: list[str], published: str | None) -> Explanation:
        publishes = evaluate.publishes(checks) and not notes
        return Explanation(kind, row.external_id, publishes, checks, published, notes, row.id)

    def client(self, external_id: str) -> Explanation:
        """A client's facts and checks."""
        c = self.row(R.clients, external_id)
        p, v, a = R.plan_visits, R.visits, R.allocations
        plan_contracts = self.session.scalars(
            select(p.c.contract_id).where(p.c.client_id == c.id, p.c.deleted_at.is_(None)).distinct()
        ).all()
        visit_contracts = self.session.scalars(
            select(v.c.contract_id)
            .where(
                v.c.client_id == c.id,
                v.c.deleted_at.is_(None),
                v.c.status == "scheduled",
                select(a.c.visit_id).where(a.c.visit_id == v.c.id).exists(),
            )
            .distinct()
        ).all()
        facts = evaluate.ClientFacts(
            id=c.external_id,
            status=c.status,
            plan_visit_contracts=tuple((self.contract(k), k in self.monitored) for k in sorted(plan_contracts)),
            allocated_visit_contracts=tuple((self.contract(k), k in self.monitored) for k in sorted(visit_contracts)),
        )
        notes = ["deleted in the roster: it no longer publishes"] if c.deleted_at is not None else []
        notes += self.branch_notes(c.branch_id)
        return self._answer(
            "client", c, evaluate.evaluate_client(facts), notes, self.published_state(P_CLIENTS, "client_id", c.id)
        )

    def worker(self, external_id: str) -> Explanation:
        """A worker's facts and checks.

        Every allocated visit counts for the decision; the detail names and counts only the visits the reader
        may see (a visit is of its client's branch), and says of the others only whether they qualify.
        """
        w = self.row(R.workers, external_id)
        a, v, c = R.allocations, R.visits, R.clients
        rows = self.session.execute(
            select(v.c.external_id, v.c.start_at, v.c.contract_id, c.c.group_id, c.c.branch_id)
            .select_from(a.join(v, v.c.id == a.c.visit_id).join(c, c.c.id == v.c.client_id))
            .where(and_(a.c.worker_id == w.id, v.c.deleted_at.is_(None), v.c.status == "scheduled"))
            .order_by(v.c.start_at, v.c.external_id)
        ).all()
        qualifying: list[str] = []
        elsewhere = False
        visible = 0
        others = []
        for ext, start, contract, group, branch in rows:
            win = self.window(group)
            counts = contract in self.monitored and win.contains(start)
            if not self.sees(branch):
                elsewhere = elsewhere or counts
                continue
            visible += 1
            if counts:
                qualifying.append(ext)
            elif contract not in self.monitored:
                others.append(f"{ext} (contract {self.contract(contract)} is not monitored)")
            else:
                span = f"{evaluate.when(win.start, self.zone)} to {evaluate.when(win.end, self.zone)}"
                others.append(f"{ext} (starts {evaluate.when(start, self.zone)}, outside the window {span})")
        facts = evaluate.WorkerFacts(
            id=w.external_id,
            status=w.status,
            mobile_enabled=bool(w.mobile_enabled),
            visits_in_window_on_monitored=tuple(qualifying),
            allocated_visits=visible,
            other_visits=tuple(others),
            qualifying_elsewhere=elsewhere,
        )
        notes = ["deleted in the roster: it no longer publishes"] if w.deleted_at is not None else []
        notes += self.branch_notes(w.branch_id)
        answer = self._answer(
            "worker", w, evaluate.evaluate_worker(facts), notes, self.published_state(P_WORKERS, "worker_id", w.id)
        )
        username = self.session.scalar(select(P_WORKERS.c.username).where(P_WORKERS.c.worker_id == w.id))
        if username:
            answer.info.append(f"care-planning username: {username}")
        return answer

    def plan_visit(self, external_id: str) -> Explanation:
        """A plan visit's facts and checks (its care plan)."""
        p = self.row(R.plan_visits, external_id)
        count = self.session.scalar(
            select(func.count()).where(P_VISITS.c.plan_visit_id == p.id, P_VISITS.c.state.in_(("active", "ended")))
        )
        facts = evaluate.PlanVisitFacts(
            id=p.external_id,
            contract_id=self.contract(p.contract_id),
            contract_monitored=p.contract_id in self.monitored,
            visit_type_code=p.visit_type_code,
            visit_type_description=p.visit_type_description,
            published_visits=int(count or 0),
        )
        notes = ["deleted in the roster: its care plan is deactivated"] if p.deleted_at is not None else []
        return self._answer(
            "plan_visit",
            p,
            evaluate.evaluate_plan_visit(facts),
            notes,
            self.published_state(P_CARE_PLANS, "plan_visit_id", p.id),
        )


def explain_in(
    session: Session,
    environment_id: int,
    kind: str,
    external_id: str,
    now: datetime,
    *,
    branch_ids: frozenset[int] | None = None,
) -> Explanation:
    """Explain one record, reading in ``session``, for a reader of ``branch_ids`` (None: every branch).

    The decision is the same for every reader; the details name only records of ``branch_ids``.
    """
    wanted = KINDS.get(kind)
    if wanted is None:
        raise InvalidInput(
            f"unknown record kind {kind!r}",
            errors=[RecordError(None, external_id, "kind", kind, "expected client, worker, visit or plan-visit")],
        )
    facts = _Facts(session, environment_id, now, branch_ids)
    explanation: Explanation = getattr(facts, wanted)(external_id)
    return explanation


def _require_in_scope(
    session: Session, environment_id: int, kind: str, external_id: str, branch_ids: frozenset[int]
) -> None:
    """NotFound, worded as for a record that does not exist, unless the record is in one of ``branch_ids``."""
    table = {"client": R.clients, "worker": R.workers, "visit": R.visits, "plan_visit": R.plan_visits}[kind]
    where = [table.c.environment_id == environment_id, table.c.external_id == external_id]
    if kind in ("client", "worker"):
        where.append(table.c.branch_id.in_(sorted(branch_ids)))
    else:
        where.append(table.c.client_id.in_(select(R.clients.c.id).where(R.clients.c.branch_id.in_(sorted(branch_ids)))))
    if session.scalar(select(table.c.id).where(*where)) is None:
        raise NotFound(f"no {kind.replace('_', ' ')} with id {external_id!r}")


def do_explain(
    db: Database, actor: Actor, environment_id: int, kind: str, external_id: str, now: datetime | None = None
) -> Explanation:
    """Explain one record. Reading a client's or worker's case is audited as a view.

    Care workers are refused; a record outside the actor's branches is not found (a visit or plan visit
    belongs to its client's branch), before anything about it is read. The answer names no record of another
    branch: a worker's visits of other branches' clients, a visit's workers of other branches.
    """
    permissions.require(actor, permissions.Permission.EXPLAIN)
    with db.transaction() as session:
        if actor.branch_ids is not None and KINDS.get(kind) is not None:
            _require_in_scope(session, environment_id, KINDS[kind], external_id, actor.branch_ids)
        answer = explain_in(session, environment_id, kind, external_id, now or utc_now(), branch_ids=actor.branch_ids)
        audit.record(
            session,
            actor,
            audit.Change(
                answer.kind,
                answer.pk,
                "view",
                {"explain": [None, answer.publishes]},
                external_id=external_id,
                environment_id=environment_id,
            ),
        )
        return answer
