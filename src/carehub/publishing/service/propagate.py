"""Roster changes publish at once: inside the roster's own transaction.

The roster emits an outbox event per change; :func:`install` registers a
listener for those events (``carehub.platform.outbox.listen``) that works out
every record whose rules the change can affect, and runs publishing for just
those. When that set is very large (a whole file, a contract ticked) the run
covers the whole environment instead, which gives the same result.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select, union
from sqlalchemy.orm import Session

from carehub.platform import outbox
from carehub.platform.clock import utc_now
from carehub.publishing.domain import schedules
from carehub.publishing.service import runs, selects
from carehub.publishing.service.runs import P_VISIT_WORKERS, Scope
from carehub.publishing.service.selects import P_CARE_PLANS, P_CLIENTS, P_VISITS, P_WORKERS, R, at, in_ids
from carehub.tenancy.service import environment_in

MAX_SCOPE = 20_000


def _ids(session: Session, stmt: Any) -> set[int]:
    return {row[0] for row in session.execute(stmt) if row[0] is not None}


class _Closure:
    """Grows a scope from touched records to every record whose rules they feed."""

    def __init__(self, session: Session, environment_id: int) -> None:
        self.session = session
        self.environment_id = environment_id
        self.dialect = session.get_bind().dialect.name
        self.moved: set[str] = set()  # kinds of record whose links may have moved: "visit", "plan_visit"
        self.unreported = False  # the roster did not say which links its change left behind
        self._window_start: datetime | None = None
        self.visits: set[int] = set()
        self.plan_visits: set[int] = set()
        self.clients: set[int] = set()
        self.workers: set[int] = set()

    @property
    def window_start(self) -> datetime:
        """Where today's publish window starts; read once, when needed (a visit's own change never needs it)."""
        if self._window_start is None:
            zone = environment_in(self.session, self.environment_id).zone
            today = schedules.local_today(utc_now(), zone)
            self._window_start = schedules.window(today, today, zone).start
        return self._window_start

    def _in(self, column: Any, ids: Iterable[int]) -> Any:
        return in_ids(column, set(ids), self.dialect)

    def visits_where(self, roster: Any, published: Any) -> None:
        """Add visits from today on matching ``roster``, and published visits matching ``published``."""
        v = R.visits
        future = select(v.c.id).where(v.c.start_at >= at(self.window_start), roster)
        published = select(P_VISITS.c.visit_id).where(published)
        self.visits |= _ids(self.session, union(future, published))

    def add(self, entity: str, ids: set[int]) -> None:
        """Add touched records of ``entity`` and what they feed."""
        s = self
        v, p, c, w, a = R.visits, R.plan_visits, R.clients, R.workers, R.allocations
        if entity in ("visit", "plan_visit"):
            self.moved.add(entity)
        if entity == "visit":
            s.visits |= ids
        elif entity == "worker":
            s.workers |= ids
            self.visits_where(
                v.c.id.in_(select(a.c.visit_id).where(self._in(a.c.worker_id, ids))),
                P_VISITS.c.visit_id.in_(
                    select(P_VISIT_WORKERS.c.visit_id).where(self._in(P_VISIT_WORKERS.c.worker_id, ids))
                ),
            )
        elif entity == "client":
            s.clients |= ids
            s.plan_visits |= _ids(self.session, select(p.c.id).where(self._in(p.c.client_id, ids)))
            self.visits_where(self._in(v.c.client_id, ids), self._in(P_VISITS.c.client_id, ids))
        elif entity == "plan_visit":
            s.plan_visits |= ids
        elif entity == "contract":
            s.plan_visits |= _ids(self.session, select(p.c.id).where(self._in(p.c.contract_id, ids)))
            self.visits_where(self._in(v.c.contract_id, ids), self._in(P_VISITS.c.contract_id, ids))
        elif entity == "group":
            self.add("client", _ids(self.session, select(c.c.id).where(self._in(c.c.group_id, ids))))
        elif entity == "branch":
            s.workers |= _ids(self.session, select(w.c.id).where(self._in(w.c.branch_id, ids)))
            self.add("client", _ids(self.session, select(c.c.id).where(self._in(c.c.branch_id, ids))))

    def finish(self) -> Scope:
        """Follow visits to their clients, plan visits and workers (allocated now or published before)."""
        s = self
        if self.size() > MAX_SCOPE:
            return Scope.everything()
        v, p, a = R.visits, R.plan_visits, R.allocations
        if s.visits:
            # The visits' clients and plan visits now, and those they were published with (which they
            # may have just left): one round trip.
            for client, plan in self.session.execute(
                union(
                    select(v.c.client_id, v.c.plan_visit_id).where(self._in(v.c.id, s.visits)),
                    select(P_VISITS.c.client_id, P_VISITS.c.plan_visit_id).where(
                        self._in(P_VISITS.c.visit_id, s.visits)
                    ),
                )
            ):
                s.clients.add(client)
                if plan is not None:
                    s.plan_visits.add(plan)
            s.workers |= _ids(
                self.session,
                union(
                    select(a.c.worker_id).where(self._in(a.c.visit_id, s.visits)),
                    select(P_VISIT_WORKERS.c.worker_id).where(self._in(P_VISIT_WORKERS.c.visit_id, s.visits)),
                ),
            )
        if s.plan_visits:
            s.clients |= _ids(
                self.session,
                union(
                    select(p.c.client_id).where(self._in(p.c.id, s.plan_visits)),
                    select(P_CARE_PLANS.c.client_id).where(self._in(P_CARE_PLANS.c.plan_visit_id, s.plan_visits)),
                ),
            )
        if self.moved and self.unreported:
            self.add_unlinked()
        if self.size() > MAX_SCOPE:
            return Scope.everything()
        return Scope(self.visits, self.plan_visits, self.clients, self.workers)

    def add_left(self, left: outbox.Touched) -> None:
        """The clients, plan visits and workers the touched records were linked to before the change."""
        if left.left is None:
            self.unreported = True
            return
        self.clients |= left.left.get("client", frozenset())
        self.plan_visits |= left.left.get("plan_visit", frozenset())
        self.workers |= left.left.get("worker", frozenset())

    def add_unlinked(self) -> None:
        """Published clients and workers that a moved link may have left with no link at all.

        Needed only when the roster did not report the links its change left
        (:attr:`carehub.platform.outbox.Touched.left`), as a bulk load does not.

        A visit or plan visit moved to another client, or a worker taken off a
        visit that never published (confirmed before publishing), leaves no trace
        of the old link in the published copy. Such a record is published as
        active with nothing active published for it: those clients that now fail
        their rules, and those workers (few: published only through visits
        confirmed before publishing) are evaluated too.
        """
        env, pv = self.environment_id, P_VISITS
        pc, cp, c = P_CLIENTS, P_CARE_PLANS, R.clients
        self.clients |= _ids(
            self.session,
            select(pc.c.client_id)
            .join(c, c.c.id == pc.c.client_id)
            .where(
                pc.c.environment_id == env,
                pc.c.state == "active",
                ~exists().where(pv.c.client_id == pc.c.client_id, pv.c.state == "active"),
                ~exists().where(cp.c.client_id == pc.c.client_id, cp.c.state == "active"),
                ~selects.client_eligible(env, c),
            ),
        )
        if "visit" in self.moved:
            pw, pvw = P_WORKERS, P_VISIT_WORKERS
            on_active_visit = exists().where(
                pvw.c.worker_id == pw.c.worker_id,
                pvw.c.active.is_(True),
                pv.c.visit_id == pvw.c.visit_id,
                pv.c.state == "active",
            )
            self.workers |= _ids(
                self.session,
                select(pw.c.worker_id).where(pw.c.environment_id == env, pw.c.state == "active", ~on_active_visit),
            )

    def size(self) -> int:
        """How many records the closure holds."""
        return len(self.visits) + len(self.plan_visits) + len(self.clients) + len(self.workers)


def scope_of(session: Session, changed: outbox.Touched) -> Scope:
    """Every record whose rules ``changed`` can affect."""
    if len(changed.ids) > MAX_SCOPE:
        return Scope.everything()
    closure = _Closure(session, changed.environment_id)
    closure.add(changed.entity, set(changed.ids))
    closure.add_left(changed)
    return closure.finish()


def on_roster_change(session: Session, changed: outbox.Touched) -> None:
    """Publish the consequences of a roster change, in the roster's transaction."""
    if not runs.has_monitored_contracts(session, changed.environment_id):
        return  # nothing can publish, and nothing is published (unticking deactivates)
    runs.run(session, changed.environment_id, trigger="change", scope=scope_of(session, changed), now=utc_now())


def install() -> None:
    """Follow roster changes (called once by the composition root)."""
    outbox.listen("roster.", on_roster_change)
