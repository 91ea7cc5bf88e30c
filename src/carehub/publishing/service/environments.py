"""The publishing side of connecting an environment: names already taken, configuration copied, first run.

Called by :mod:`carehub.tenancy.connect` inside its own transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from carehub.platform import audit
from carehub.platform.auth.actor import Actor
from carehub.publishing.service import runs
from carehub.publishing.service.context import SCHEDULES
from carehub.publishing.service.runs import RunResult, Scope
from carehub.publishing.service.selects import MONITORED, P_BRANCHES, P_VISITS, P_WORKERS, in_ids

CONNECT = "connect"


@dataclass(frozen=True, slots=True)
class PublishedLogin:
    """A published worker's login: roster id, username, name and branch."""

    worker_id: int
    external_id: str
    username: str
    first_name: str
    last_name: str
    branch: str
    state: str

    @property
    def name(self) -> str:
        """First and last name."""
        return f"{self.first_name} {self.last_name}"


def published_logins(session: Session, environment_id: int) -> list[PublishedLogin]:
    """Every published worker of the environment (any state), by username."""
    w, b = P_WORKERS, P_BRANCHES
    rows = session.execute(
        select(w.c.worker_id, w.c.external_id, w.c.username, w.c.first_name, w.c.last_name, b.c.name, w.c.state)
        .join(b, b.c.id == w.c.branch_id)
        .where(w.c.environment_id == environment_id)
        .order_by(w.c.username)
    )
    return [PublishedLogin(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]), str(r[6])) for r in rows]


def tenant_usernames(session: Session, tenant_id: int) -> set[str]:
    """Usernames of the tenant's published workers."""
    return set(session.scalars(select(P_WORKERS.c.username).where(P_WORKERS.c.tenant_id == tenant_id)))


def tenant_branch_names(session: Session, tenant_id: int) -> set[str]:
    """Names of the tenant's published branches."""
    return set(session.scalars(select(P_BRANCHES.c.name).where(P_BRANCHES.c.tenant_id == tenant_id)))


def published_visit_ids(session: Session, environment_ids: Collection[int], among: Collection[str]) -> set[str]:
    """Which of ``among`` are already the ID of a published visit of these environments."""
    if not environment_ids or not among:
        return set()
    dialect = session.get_bind().dialect.name
    found: set[str] = set()
    wanted = sorted(set(among))
    for i in range(0, len(wanted), 5000):
        found |= set(
            session.scalars(
                select(P_VISITS.c.external_id).where(
                    in_ids(P_VISITS.c.environment_id, set(environment_ids), dialect),
                    P_VISITS.c.external_id.in_(wanted[i : i + 5000]),
                )
            )
        )
    return found


def do_copy_configuration(
    session: Session,
    actor: Actor,
    *,
    source_environment_id: int,
    target_environment_id: int,
    contract_ids: dict[int, int],
    group_ids: dict[int, int],
    now: datetime,
) -> dict[str, int]:
    """Monitored contracts and publish schedules of the source, for the copied contracts and groups."""
    monitored = [
        {
            "environment_id": target_environment_id,
            "contract_id": contract_ids[c],
            "ticked_by": actor.label[:200],
            "ticked_at": now,
        }
        for (c,) in session.execute(
            select(MONITORED.c.contract_id).where(MONITORED.c.environment_id == source_environment_id)
        )
        if c in contract_ids
    ]
    schedules = [
        {
            "environment_id": target_environment_id,
            "group_id": group_ids[r.group_id],
            "publish_until": r.publish_until,
            "window_end_at": r.window_end_at,
            "set_by": actor.label[:200],
            "set_at": now,
        }
        for r in session.execute(select(SCHEDULES).where(SCHEDULES.c.environment_id == source_environment_id))
        if r.group_id in group_ids
    ]
    if monitored:
        session.execute(insert(MONITORED), monitored)
    if schedules:
        session.execute(insert(SCHEDULES), schedules)
    if monitored or schedules:
        audit.record(
            session,
            actor,
            audit.Change(
                "publish_settings",
                target_environment_id,
                "copy",
                {
                    "monitored_contracts": [None, len(monitored)],
                    "schedules": [None, len(schedules)],
                    "copied_from_environment": [None, source_environment_id],
                },
                environment_id=target_environment_id,
            ),
        )
    return {"monitored_contracts": len(monitored), "schedules": len(schedules)}


def publish_environment(session: Session, environment_id: int, *, trigger: str, now: datetime) -> RunResult:
    """A full publishing run of the environment, in the caller's transaction (nothing if nothing is monitored)."""
    if not runs.has_monitored_contracts(session, environment_id):
        return RunResult()
    return runs.run(session, environment_id, trigger=trigger, scope=Scope.everything(), now=now)
