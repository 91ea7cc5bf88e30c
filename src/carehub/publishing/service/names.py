"""Published names: branches owned by one environment, and names too long for care planning.

**Branches.** One care-planning branch per name, owned by the one environment whose records it holds.

Care planning matches branches by exact name (seed 000), so a name is one branch. Records of two environments
must never share one (seed 001): a branch of an added environment publishes under its prefixed name
("SouthWest - Bristol"), and should the primary environment (or another) later have a branch literally
named so, its records would land in the added environment's branch. So each published branch records its
owner, the environment of the first record published into it, and a record of any other environment whose
branch publishes under that name is refused: it does not publish (a published copy is deactivated), explain
says why, and the integration's health warns until the branch is renamed in the rostering system. A name
longer than care planning holds is refused the same way, never a database error.

**Visit IDs.** An added environment's visit IDs carry its prefix ("SouthWest-V1"); a visit whose
care-planning ID would be longer than care planning holds is not published, explained and warned about.
(Usernames always fit: the convention is refused at connection when they could not.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from carehub.publishing.service.selects import P_BRANCHES, R
from carehub.tenancy.domain.naming import MAX_BRANCH, MAX_VISIT_ID, Convention
from carehub.tenancy.service import environment_in, environment_names

REASON = "branch_name_refused"
VISIT_REASON = "visit_id_too_long"
FIX = (
    "Rename the branch in the rostering system so that its care-planning name is free (or shorter); its "
    "records publish at the next change or reconcile."
)


def published_name(naming: Convention | None, name: str) -> str:
    """The name a roster branch has in care planning."""
    return name if naming is None else naming.branch(name)


def published_visit_id(naming: Convention | None, external_id: str) -> str:
    """The ID a roster visit has in care planning."""
    return external_id if naming is None else naming.visit_id(external_id)


def _first_few(items: Sequence[str], shown: int = 5, sep: str = ", ") -> str:
    """The first ``shown`` items joined, and how many more there are."""
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return sep.join(items[:shown]) + more


class BranchBook:
    """The tenant's published branches for one run of one environment: which names it may use, and their ids."""

    def __init__(self, session: Session, tenant_id: int, environment_id: int, now: datetime) -> None:
        self.session = session
        self.tenant_id = tenant_id
        self.environment_id = environment_id
        self.now = now
        self._rows: dict[str, tuple[int, int | None]] | None = None
        self._names: dict[int, str] | None = None

    def _load(self) -> dict[str, tuple[int, int | None]]:
        if self._rows is None:
            b = P_BRANCHES
            rows = self.session.execute(
                select(b.c.name, b.c.id, b.c.environment_id).where(b.c.tenant_id == self.tenant_id)
            )
            self._rows = {str(n): (int(i), None if e is None else int(e)) for n, i, e in rows}
        return self._rows

    def owner_name(self, environment_id: int) -> str:
        """An environment's name, for messages."""
        if self._names is None:
            self._names = environment_names(self.session, self.tenant_id)
        return self._names.get(environment_id, f"environment {environment_id}")

    def refusal(self, name: str) -> str | None:
        """Why this environment's records cannot publish into the branch ``name``; None when they can."""
        if len(name) > MAX_BRANCH:
            return f"its care-planning name is {len(name)} characters long; care planning holds at most {MAX_BRANCH}"
        found = self._load().get(name)
        if found is not None and found[1] is not None and found[1] != self.environment_id:
            return (
                f"the care-planning branch {name!r} holds the records of environment {self.owner_name(found[1])!r}; "
                "records of two environments never share a branch"
            )
        return None

    def claim(self, name: str) -> int | None:
        """The id of the published branch ``name`` of this environment, created (or claimed) once.

        None when another environment owns it (it may have claimed it since :meth:`refusal` was asked).
        """
        if self.refusal(name) is not None:
            return None
        rows = self._load()
        found = rows.get(name)
        if found is None or found[1] is None:
            b = P_BRANCHES
            maker = postgresql.insert if self.session.get_bind().dialect.name == "postgresql" else sqlite.insert
            self.session.execute(
                maker(b)
                .values(tenant_id=self.tenant_id, name=name, created_at=self.now, environment_id=self.environment_id)
                .on_conflict_do_nothing()
            )
            self.session.execute(
                update(b)
                .where(b.c.tenant_id == self.tenant_id, b.c.name == name, b.c.environment_id.is_(None))
                .values(environment_id=self.environment_id)
            )
            row = self.session.execute(
                select(b.c.id, b.c.environment_id).where(b.c.tenant_id == self.tenant_id, b.c.name == name)
            ).one()
            found = (int(row[0]), None if row[1] is None else int(row[1]))
            rows[name] = found
        return found[0] if found[1] == self.environment_id else None


# --------------------------------------------------------------------------- explain and health


@dataclass(frozen=True, slots=True)
class RefusedBranch:
    """A roster branch whose records cannot publish: its ids, care-planning name, why, and what it holds."""

    external_id: str
    name: str
    published_name: str
    reason: str
    clients: int
    workers: int

    def as_dict(self) -> dict[str, object]:
        """For JSON."""
        return {
            "branch": self.external_id,
            "name": self.name,
            "published_name": self.published_name,
            "reason": self.reason,
            "clients": self.clients,
            "workers": self.workers,
        }


def refusal_note(session: Session, environment_id: int, branch_pk: int, now: datetime) -> str | None:
    """For explain: why a record of roster branch ``branch_pk`` cannot publish because of its branch, if so."""
    env = environment_in(session, environment_id)
    row = session.execute(select(R.branches.c.external_id, R.branches.c.name).where(R.branches.c.id == branch_pk)).one()
    name = published_name(env.convention, str(row[1]))
    why = BranchBook(session, env.tenant_id, environment_id, now).refusal(name)
    if why is None:
        return None
    return f"its branch {row[0]} ({name!r}) cannot publish: {why}. {FIX}"


def refused_branches(session: Session, environment_id: int, now: datetime) -> list[RefusedBranch]:
    """The environment's live roster branches whose records cannot publish, with their live clients and workers."""
    env = environment_in(session, environment_id)
    book = BranchBook(session, env.tenant_id, environment_id, now)
    b, c, w = R.branches, R.clients, R.workers
    out = []
    for pk, ext, name in session.execute(
        select(b.c.id, b.c.external_id, b.c.name)
        .where(b.c.environment_id == environment_id, b.c.deleted_at.is_(None))
        .order_by(b.c.external_id)
    ):
        shown = published_name(env.convention, str(name))
        why = book.refusal(shown)
        if why is None:
            continue
        counts = [
            int(session.scalar(select(func.count()).where(t.c.branch_id == pk, t.c.deleted_at.is_(None))) or 0)
            for t in (c, w)
        ]
        out.append(RefusedBranch(str(ext), str(name), shown, why, counts[0], counts[1]))
    return out


def health_reason(refused: Sequence[RefusedBranch]) -> tuple[str, str, str] | None:
    """The integration-health warning for refused branches: (code, message, fix); None when there are none."""
    if not refused:
        return None
    shown = _first_few(
        [
            f"{r.external_id} {r.published_name!r} ({r.clients} client(s), {r.workers} worker(s)): {r.reason}"
            for r in refused
        ],
        sep="; ",
    )
    return REASON, f"{len(refused)} branch(es) whose records cannot publish: {shown}.", FIX


# --------------------------------------------------------------------------- visit IDs


def visit_id_refusal(naming: Convention | None, external_id: str) -> str | None:
    """Why a visit cannot publish because of its care-planning ID (too long); None when it fits."""
    shown = published_visit_id(naming, external_id)
    if len(shown) <= MAX_VISIT_ID:
        return None
    return (
        f"its care-planning ID {shown!r} is {len(shown)} characters long; care planning holds at most "
        f"{MAX_VISIT_ID}: use a visit ID of at most {MAX_VISIT_ID - len(shown) + len(external_id)} characters "
        "in the rostering system"
    )


def refused_visit_ids(session: Session, environment_id: int, since: datetime) -> list[str]:
    """Live, scheduled visits from ``since`` on whose care-planning ID would be too long (their roster ids)."""
    naming = environment_in(session, environment_id).convention
    if naming is None:
        return []
    fixed = len(naming.visit_id(""))
    v = R.visits
    return list(
        session.scalars(
            select(v.c.external_id)
            .where(
                v.c.environment_id == environment_id,
                v.c.deleted_at.is_(None),
                v.c.status == "scheduled",
                v.c.start_at >= since,
                func.length(v.c.external_id) > MAX_VISIT_ID - fixed,
            )
            .order_by(v.c.external_id)
        )
    )


def visit_health_reason(refused: Sequence[str]) -> tuple[str, str, str] | None:
    """The integration-health warning for visits whose ID is too long: (code, message, fix); None if none."""
    if not refused:
        return None
    message = (
        f"{len(refused)} visit(s) cannot publish: with the prefix their ID would be over {MAX_VISIT_ID} "
        f"characters ({_first_few(refused)})."
    )
    return (
        VISIT_REASON,
        message,
        "Use shorter visit IDs in the rostering system; each is explained by 'carehub explain visit ID'.",
    )
