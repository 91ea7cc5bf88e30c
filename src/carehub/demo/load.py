"""Loading the demo provider into a tenant, through the service layer.

Every write goes through service functions that validate and audit: the
tenant through :func:`carehub.tenancy.service.do_create_tenant`, users through
:func:`carehub.platform.auth.service.do_create_user`, small data sets through
:func:`carehub.roster.service.upsert.do_upsert_batch` in batches, medium and
large ones as files through :func:`carehub.roster.service.imports.do_import_file`,
and manual confirmations through
:func:`carehub.roster.service.changes.do_confirm_visit`.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import islice
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from carehub.demo.generator import DemoData, Scale, write_files
from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import Actor, Role
from carehub.platform.clock import utc_now
from carehub.platform.db import Database
from carehub.platform.errors import Conflict, NotFound
from carehub.publishing.domain.schedules import MAX_DAYS_AHEAD
from carehub.publishing.service.config import do_publish_schedule, do_set_monitored
from carehub.roster.domain.kinds import LOAD_ORDER, RecordKind
from carehub.roster.domain.rules import Outcome
from carehub.roster.service import queries
from carehub.roster.service.changes import do_confirm_visit
from carehub.roster.service.imports import do_import_file
from carehub.roster.service.upsert import do_upsert_batch
from carehub.tenancy import service as tenancy
from carehub.tenancy.access import service as access

Progress = Callable[[str, int], None]
"""``progress(step, n)``: ``n`` more records done in ``step`` (a record kind's value, ``write:<kind>`` or
``confirm``)."""

MAX_REPORTED_ERRORS = 20


def _no_progress(_step: str, _n: int) -> None:
    return None


@dataclass(frozen=True, slots=True)
class SignIn:
    """A demo user and the password it was created with."""

    username: str
    password: str
    role: Role
    display_name: str
    created: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "username": self.username,
            "password": self.password,
            "role": self.role.value,
            "display_name": self.display_name,
            "created": self.created,
        }


@dataclass(slots=True)
class KindResult:
    """What loading one record kind did."""

    kind: RecordKind
    generated: int
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    seconds: float = 0.0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "generated": self.generated,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "seconds": round(self.seconds, 3),
            "errors": self.errors,
        }


def demo_actor(tenant_id: int | None, environment_id: int | None) -> Actor:
    """The actor written into the audit rows of a demo load."""
    return Actor(
        kind="system",
        id=None,
        label="carehub demo load",
        tenant_id=tenant_id,
        environment_id=environment_id,
        role=Role.ADMIN,
    )


def ensure_tenant(
    db: Database, actor: Actor, name: str, timezone: str = "Europe/London"
) -> tuple[tenancy.TenantInfo, tenancy.EnvironmentInfo, bool]:
    """The tenant called ``name`` and its primary environment, created if missing; True if created."""
    found = tenancy.find_tenant(db, name)
    if found is not None:
        return found, tenancy.primary_environment(db, found.id), False
    tenant, env = tenancy.do_create_tenant(db, actor, name=name, timezone=timezone)
    return tenant, env, True


def _slug(name: str) -> str:
    words = re.findall(r"[a-z0-9]+", name.lower())
    return words[0] if words else "demo"


def demo_users(tenant_name: str) -> list[tuple[str, str, Role, str]]:
    """(username, password, role, display name) of the demo users of a tenant.

    The passwords are fixed and printed on purpose: this is demo data, and
    ``carehub demo load`` refuses to run in production mode.
    """
    slug = _slug(tenant_name)
    return [
        (f"{slug}.admin", f"{slug}-admin-demo", Role.ADMIN, "Alex Morgan (administrator)"),
        (f"{slug}.manager", f"{slug}-manager-demo", Role.BRANCH_MANAGER, "Sam Patel (branch manager)"),
        (f"{slug}.coordinator", f"{slug}-coordinator-demo", Role.COORDINATOR, "Jo Evans (care coordinator)"),
    ]


def ensure_users(db: Database, actor: Actor, tenant: tenancy.TenantInfo) -> list[SignIn]:
    """Create the demo users that do not exist yet; an existing one keeps its password.

    A username taken by another tenant is a Conflict.
    """
    existing = {u.username: u for u in auth.list_users(db, tenant.id)}
    sign_ins: list[SignIn] = []
    for username, password, role, display in demo_users(tenant.name):
        if username in existing:
            sign_ins.append(SignIn(username, password, existing[username].role, display, created=False))
            continue
        try:
            auth.do_create_user(
                db,
                actor,
                tenant_id=tenant.id,
                username=username,
                password=password,
                role=role,
                display_name=display,
            )
        except Conflict as exc:
            raise Conflict(
                f"demo user {username!r} cannot be created: the username is taken by another tenant"
            ) from exc
        sign_ins.append(SignIn(username, password, role, display, created=True))
    return sign_ins


def has_roster_data(db: Database, tenant_id: int) -> bool:
    """Whether any environment of the tenant holds a roster record (deleted ones count too)."""
    env_ids = [env.id for env in tenancy.list_environments(db, tenant_id)]
    return queries.has_records(db, env_ids)


def local_today(timezone: str) -> date:
    """Today's date in the tenant's zone (the generator itself never reads the clock)."""
    return utc_now().astimezone(ZoneInfo(timezone)).date()


def _chunks(records: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    while chunk := list(islice(records, size)):
        yield chunk


def load_in_batches(
    db: Database,
    actor: Actor,
    environment_id: int,
    data: DemoData,
    *,
    batch_size: int,
    progress: Progress = _no_progress,
) -> dict[RecordKind, KindResult]:
    """Apply every record through ``do_upsert_batch``, kind by kind in load order, one transaction a batch."""
    counts = data.counts()
    out: dict[RecordKind, KindResult] = {}
    for kind in LOAD_ORDER:
        started = time.perf_counter()
        result = KindResult(kind, counts[kind])
        for chunk in _chunks(data.records(kind), batch_size):
            batch = do_upsert_batch(db, actor, environment_id, kind, chunk, max_records=batch_size)
            result.created += batch.count(Outcome.CREATED)
            result.updated += batch.count(Outcome.UPDATED)
            result.unchanged += batch.count(Outcome.UNCHANGED)
            result.rejected += batch.count(Outcome.REJECTED)
            for r in batch.results:
                if r.outcome is Outcome.REJECTED and len(result.errors) < MAX_REPORTED_ERRORS:
                    result.errors.append(r.as_dict())
            progress(kind.value, len(chunk))
        result.seconds = time.perf_counter() - started
        out[kind] = result
    return out


def load_as_files(
    db: Database,
    actor: Actor,
    environment_id: int,
    data: DemoData,
    *,
    fmt: Literal["csv", "jsonl"] = "jsonl",
    progress: Progress = _no_progress,
) -> dict[RecordKind, KindResult]:
    """Write the data set to files in a temporary directory and import each through ``do_import_file``."""
    counts = data.counts()
    out: dict[RecordKind, KindResult] = {}
    with tempfile.TemporaryDirectory(prefix="carehub-demo-") as tmp:
        paths = write_files(data, Path(tmp), fmt, progress=lambda kind, n: progress(f"write:{kind.value}", n))
        for kind in LOAD_ORDER:
            path = paths[kind]
            with path.open("rb") as stream:
                report = do_import_file(
                    db, actor, environment_id, kind, stream, path.name, lambda n, k=kind: progress(k.value, n)
                )
            result = KindResult(
                kind,
                counts[kind],
                created=report.created,
                updated=report.updated,
                unchanged=report.unchanged,
                rejected=report.rejected,
                seconds=report.seconds,
                errors=report.as_dict()["errors"][:MAX_REPORTED_ERRORS],
            )
            out[kind] = result
            path.unlink()  # free the disk space as soon as a file is imported
    return out


def confirm_visits(
    db: Database, actor: Actor, environment_id: int, visit_ids: frozenset[str], progress: Progress = _no_progress
) -> int:
    """Confirm the given visits manually, one audited service call each; returns how many changed.

    A visit that is not stored (it was rejected) is skipped; the load reports the rejection.
    """
    changed = 0
    for visit_id in sorted(visit_ids):
        try:
            if do_confirm_visit(db, actor, environment_id, visit_id).outcome is Outcome.UPDATED:
                changed += 1
        except NotFound:
            pass
        progress("confirm", 1)
    return changed


def grant_demo_branches(db: Database, actor: Actor, tenant: tenancy.TenantInfo) -> dict[str, str]:
    """Give the demo's branch manager and coordinator the first branch (by name), if they have none yet.

    Without a branch they would see nothing (docs/access.md). Returns username -> branch id granted.
    """
    choices = access.branch_choices(db, actor, tenant_id=tenant.id)
    granted: dict[str, str] = {}
    if not choices:
        return granted
    first = choices[0]
    for u in access.list_users(db, actor, tenant_id=tenant.id):
        if u.user.role in access.GRANTABLE_ROLES and not u.branches:
            access.do_grant_branch(
                db, actor, u.user.username, first.external_id, environment_id=first.environment_id, tenant_id=tenant.id
            )
            granted[u.user.username] = first.external_id
    return granted


def publish(db: Database, actor: Actor, environment_id: int, data: DemoData, today: date) -> dict[str, Any]:
    """Tick the demo's monitored contracts and publish every group two weeks ahead; returns what published."""
    ticked = do_set_monitored(db, actor, environment_id, sorted(data.monitored_contract_ids), monitored=True)
    groups = sorted(str(g["id"]) for g in data.records(RecordKind.GROUP))
    scheduled = do_publish_schedule(db, actor, environment_id, groups, today + timedelta(days=MAX_DAYS_AHEAD))
    return {"contracts": ticked.as_dict()["counts"], "schedules": scheduled.as_dict()["counts"]}


def method_for(scale: Scale) -> Literal["batches", "files"]:
    """Small loads through batches of the service layer; medium and large through file imports."""
    return "batches" if scale is Scale.SMALL else "files"
