"""Connecting a rostering environment to a tenant: a dry run, then apply; pausing and resuming; login changes.

:func:`do_connect_environment` works out the whole connection first (the
*plan*): every username, branch name and visit ID that will be created or
renamed (old and new), every collision that blocks it, and the devices that
will need linking again. With ``dry_run`` it stops there and changes nothing.
Otherwise it works the plan out again inside the applying transaction and
refuses if anything collides, so what is applied is what was checked.

With a *source tenant* (the standalone tenant that served this rostering
environment before) the environment's roster arrives as new records: copied
from the source tenant's primary environment, published under this tenant
with the prefixed names. The source tenant's data stays as it was, readable,
and is marked as superseded; its workers' devices are revoked so they link
again with their new usernames. The primary environment (and every other
environment) is not touched.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from carehub.platform import audit, outbox
from carehub.platform.auth import permissions
from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import Actor
from carehub.platform.clock import utc_now
from carehub.platform.db import Database
from carehub.platform.errors import Conflict, InvalidInput, NotFound, RecordError
from carehub.publishing.domain.states import username_base
from carehub.publishing.mobile import relink
from carehub.publishing.service import environments as publishing
from carehub.publishing.service import runs
from carehub.roster.service import copying
from carehub.tenancy.domain.naming import (
    DEFAULT_BRANCH_FORMAT,
    DEFAULT_USERNAME_FORMAT,
    DEFAULT_VISIT_ID_FORMAT,
    Convention,
    Problem,
    format_problems,
    new_prefixed_username,
    prefix_key,
    too_long,
)
from carehub.tenancy.service import EnvironmentInfo, _env_info, environment_in, reserved_usernames
from carehub.tenancy.tables import Environment, EnvironmentLogin, Tenant

MAX_NAME = 100


@dataclass(frozen=True, slots=True)
class Rename:
    """A name that will be created or renamed: ``old`` is empty for a name created new."""

    old: str
    new: str
    record: str = ""  # the record's own id in the rostering system

    def as_dict(self) -> dict[str, str]:
        """For JSON."""
        return {"record": self.record, "old": self.old, "new": self.new}


@dataclass(frozen=True, slots=True)
class LoginChange:
    """A worker's login: name, old username (empty when they had none), new username, branch."""

    name: str
    old_username: str
    new_username: str
    branch: str
    worker: str = ""

    def as_dict(self) -> dict[str, str]:
        """For JSON."""
        return {
            "worker": self.worker,
            "name": self.name,
            "old_username": self.old_username,
            "new_username": self.new_username,
            "branch": self.branch,
        }


@dataclass(frozen=True, slots=True)
class Collision:
    """Something that blocks the connection: which field, which value, why."""

    field: str
    value: str
    reason: str
    code: str = "collision"

    def as_dict(self) -> dict[str, str]:
        """For JSON."""
        return {"field": self.field, "value": self.value, "reason": self.reason, "code": self.code}


@dataclass(frozen=True, slots=True)
class Relink:
    """A device that will be unlinked, to be linked again with the new username."""

    id: int
    name: str
    old_username: str
    new_username: str

    def as_dict(self) -> dict[str, Any]:
        """For JSON."""
        return {"id": self.id, "name": self.name, "old_username": self.old_username, "new_username": self.new_username}


@dataclass
class ConnectPlan:
    """What connecting will do (dry run) or did (applied)."""

    name: str
    convention: Convention
    source_tenant: str | None
    usernames: list[LoginChange] = field(default_factory=list)
    branches: list[Rename] = field(default_factory=list)
    visit_ids: list[Rename] = field(default_factory=list)
    collisions: list[Collision] = field(default_factory=list)
    devices: list[Relink] = field(default_factory=list)
    records: dict[str, int] = field(default_factory=dict)
    dry_run: bool = True
    environment: EnvironmentInfo | None = None
    published: dict[str, Any] | None = None
    token: str | None = None  # the first API token's secret, shown once

    @property
    def ok(self) -> bool:
        """Nothing blocks the connection."""
        return not self.collisions

    def as_dict(self) -> dict[str, Any]:
        """For JSON."""
        c = self.convention
        return {
            "dry_run": self.dry_run,
            "applied": not self.dry_run,
            "ok": self.ok,
            "name": self.name,
            "prefix": c.prefix,
            "branch_format": c.branch_format,
            "username_format": c.username_format,
            "visit_id_format": c.visit_id_format,
            "source_tenant": self.source_tenant,
            "usernames": [u.as_dict() for u in self.usernames],
            "branches": [b.as_dict() for b in self.branches],
            "visit_ids": [v.as_dict() for v in self.visit_ids],
            "collisions": [x.as_dict() for x in self.collisions],
            "devices": [d.as_dict() for d in self.devices],
            "records": self.records,
            "environment": None if self.environment is None else environment_dict(self.environment),
            "published": self.published,
            "token": self.token,
        }


def environment_dict(env: EnvironmentInfo) -> dict[str, Any]:
    """An environment for JSON."""
    return {
        "id": env.id,
        "name": env.name,
        "prefix": env.prefix,
        "is_primary": env.is_primary,
        "status": "paused" if env.paused else env.status,
        "branch_format": env.branch_format,
        "username_format": env.username_format,
        "visit_id_format": env.visit_id_format,
        "connected_at": None if env.connected_at is None else env.connected_at.isoformat(),
        "paused_at": None if env.paused_at is None else env.paused_at.isoformat(),
        "source_tenant_id": env.source_tenant_id,
    }


def require_admin(actor: Actor) -> None:
    """Only a tenant administrator (or Carehub itself) connects, pauses and resumes environments."""
    permissions.require_admin(actor, "manage environments (connect, pause, resume, list, login changes)")


def _tenant_of(session: Session, actor: Actor, tenant_id: int | None) -> Tenant:
    wanted = tenant_id if tenant_id is not None else actor.tenant_id
    tenant = None if wanted is None else session.get(Tenant, wanted)
    if tenant is None or (actor.tenant_id is not None and actor.tenant_id != tenant.id):
        raise NotFound(f"no tenant {wanted}")
    return tenant


def _input_errors(name: str, convention: Convention) -> list[RecordError]:
    problems: list[Problem] = []
    if not name or len(name) > MAX_NAME or any(ord(ch) < 32 for ch in name):
        problems.append(Problem("name", name, f"1 to {MAX_NAME} characters, no control characters"))
    problems += [p for p in convention.problems() if p.field != "prefix" or p.code != "prefix_taken"]
    for f in ("branch_format", "username_format", "visit_id_format"):
        if f not in {p.field for p in problems}:
            problems += format_problems(f, getattr(convention, f))
    seen: set[tuple[str, str]] = set()
    unique = [p for p in problems if (p.field, p.value) not in seen and not seen.add((p.field, p.value))]  # type: ignore[func-returns-value]
    return [RecordError(None, name, p.field, p.value, p.expected, code=p.code) for p in unique]


def _plan(
    session: Session,
    tenant: Tenant,
    name: str,
    convention: Convention,
    source_tenant: str | None,
) -> tuple[ConnectPlan, Tenant | None, EnvironmentInfo | None]:
    plan = ConnectPlan(name, convention, source_tenant)
    envs = session.scalars(select(Environment).where(Environment.tenant_id == tenant.id)).all()
    if any(e.name == name for e in envs):
        plan.collisions.append(
            Collision("name", name, f"tenant {tenant.name!r} already has an environment of this name")
        )
    taken = session.scalar(select(Environment.name).where(Environment.prefix_key == prefix_key(convention.prefix)))
    if taken is not None:
        plan.collisions.append(
            Collision(
                "prefix", convention.prefix, f"taken by environment {taken!r} (prefixes ignore case)", "prefix_taken"
            )
        )
    source: Tenant | None = None
    source_env: EnvironmentInfo | None = None
    if source_tenant is not None:
        source = session.scalar(select(Tenant).where(Tenant.name == source_tenant))
        if source is None:
            raise NotFound(f"no tenant named {source_tenant!r}")
        if source.id == tenant.id:
            plan.collisions.append(
                Collision(
                    "source_tenant", source_tenant, "the source must be another (standalone) tenant", "same_tenant"
                )
            )
            return plan, None, None
        if source.superseded_at is not None:
            plan.collisions.append(
                Collision(
                    "source_tenant", source_tenant, "already connected to a tenant as an environment", "superseded"
                )
            )
        primary = session.scalar(
            select(Environment.id).where(Environment.tenant_id == source.id, Environment.is_primary)
        )
        if primary is None:
            raise NotFound(f"tenant {source_tenant!r} has no primary environment")
        source_env = environment_in(session, primary)
        _plan_source(session, tenant, plan, convention, source_env.id, [e.id for e in envs])
    return plan, source, source_env


def _plan_source(
    session: Session, tenant: Tenant, plan: ConnectPlan, convention: Convention, source_env: int, env_ids: list[int]
) -> None:
    names = copying.roster_names(session, source_env)
    plan.records = copying.live_roster_counts(session, source_env)
    branch_names = publishing.tenant_branch_names(session, tenant.id)
    seen_branches: set[str] = set()
    for ext, branch in names["branch"]:
        new = convention.branch(branch)
        plan.branches.append(Rename(branch, new, ext))
        if new in branch_names and new not in seen_branches:
            plan.collisions.append(Collision("branch", new, "a branch of this name already exists in the tenant"))
        seen_branches.add(new)
        plan.collisions += [
            Collision(p.field, p.value, p.expected, "too_long") for p in too_long(convention, branch=branch)
        ]
    visit_ids = [(ext, convention.visit_id(ext)) for ext, _ in names["visit"]]
    existing = publishing.published_visit_ids(session, env_ids, [new for _, new in visit_ids])
    for ext, new in visit_ids:
        plan.visit_ids.append(Rename(ext, new, ext))
        if new in existing:
            plan.collisions.append(Collision("visit_id", new, "a published visit of the tenant already has this ID"))
        plan.collisions += [
            Collision(p.field, p.value, p.expected, "too_long") for p in too_long(convention, visit_id=ext)
        ]
    taken = publishing.tenant_usernames(session, tenant.id) | reserved_usernames(session, tenant.id)
    logins = {login.external_id: login for login in publishing.published_logins(session, source_env)}
    planned: set[str] = set()
    workers = dict(names["worker"])
    for ext, login in sorted(logins.items(), key=lambda kv: kv[1].username):
        if ext not in workers:
            continue
        new = convention.username(login.username)
        plan.usernames.append(LoginChange(login.name, login.username, new, convention.branch(login.branch), ext))
        if new in taken:
            plan.collisions.append(Collision("username", new, "a worker of the tenant already has this username"))
        plan.collisions += [
            Collision(p.field, p.value, p.expected, "too_long") for p in too_long(convention, username=login.username)
        ]
        planned.add(new)
    devices = relink.linked_devices(
        session, source_env, {w.worker_id for w in logins.values() if w.external_id in workers}
    )
    new_of = {u.old_username: u.new_username for u in plan.usernames}
    plan.devices = [Relink(d.id, d.name, d.username, new_of.get(d.username, "")) for d in devices]
    del planned


def do_connect_environment(
    db: Database,
    actor: Actor,
    *,
    name: str,
    prefix: str,
    tenant_id: int | None = None,
    branch_format: str = DEFAULT_BRANCH_FORMAT,
    username_format: str = DEFAULT_USERNAME_FORMAT,
    visit_id_format: str = DEFAULT_VISIT_ID_FORMAT,
    source_tenant: str | None = None,
    dry_run: bool = True,
    create_token: bool = False,
    now: datetime | None = None,
) -> ConnectPlan:
    """Connect a rostering environment (``dry_run``: only say what would happen); see the module docstring.

    Refuses input that cannot be right (InvalidInput: field, value, expected);
    applying refuses a plan with a collision (Conflict, one error per collision)
    and then changes nothing.
    """
    require_admin(actor)
    name, prefix = name.strip(), prefix.strip()
    source_tenant = source_tenant.strip() if source_tenant and source_tenant.strip() else None
    convention = Convention(prefix, branch_format, username_format, visit_id_format)
    errors = _input_errors(name, convention)
    if errors:
        raise InvalidInput("environment connection refused", errors=errors)
    if dry_run:
        with db.read() as session:
            tenant = _tenant_of(session, actor, tenant_id)
            return _plan(session, tenant, name, convention, source_tenant)[0]
    now = now or utc_now()
    with db.transaction() as session:
        tenant = _tenant_of(session, actor, tenant_id)
        plan, source, source_env = _plan(session, tenant, name, convention, source_tenant)
        if plan.collisions:
            raise Conflict(
                f"{len(plan.collisions)} collision(s) block connecting {name!r}; nothing was changed",
                errors=[RecordError(None, name, c.field, c.value, c.reason, code=c.code) for c in plan.collisions],
            )
        env = _apply(session, actor, tenant, plan, source, source_env, now)
        plan.dry_run = False
        plan.environment = env
    if create_token:
        _, plan.token = auth.do_create_token(
            db, actor, tenant_id=tenant.id, environment_id=env.id, name=f"{name} rostering"
        )
    return plan


def _apply(
    session: Session,
    actor: Actor,
    tenant: Tenant,
    plan: ConnectPlan,
    source: Tenant | None,
    source_env: EnvironmentInfo | None,
    now: datetime,
) -> EnvironmentInfo:
    c = plan.convention
    row = Environment(
        tenant_id=tenant.id,
        name=plan.name,
        prefix=c.prefix,
        prefix_key=prefix_key(c.prefix),
        is_primary=False,
        status="active",
        created_at=now,
        branch_format=c.branch_format,
        username_format=c.username_format,
        visit_id_format=c.visit_id_format,
        connected_at=now,
        paused_at=None,
        source_tenant_id=None if source is None else source.id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        audit.Change(
            "environment",
            row.id,
            "connect",
            {
                "name": [None, plan.name],
                "prefix": [None, c.prefix],
                "branch_format": [None, c.branch_format],
                "username_format": [None, c.username_format],
                "visit_id_format": [None, c.visit_id_format],
                "source_tenant": [None, plan.source_tenant],
            },
            external_id=plan.name,
            environment_id=row.id,
        ),
    )
    if source is not None and source_env is not None:
        _copy_from(session, actor, tenant, plan, row, source, source_env, now)
    outbox.emit_many(
        session,
        [
            outbox.Event(
                "tenancy.environment.connected",
                "environment",
                row.id,
                {"name": plan.name, "prefix": c.prefix, "source_tenant": plan.source_tenant, "records": plan.records},
                row.id,
            )
        ],
    )
    return _env_info(row, tenant)


def _copy_from(
    session: Session,
    actor: Actor,
    tenant: Tenant,
    plan: ConnectPlan,
    row: Environment,
    source: Tenant,
    source_env: EnvironmentInfo,
    now: datetime,
) -> None:
    copied = copying.do_copy_environment_roster(
        session, actor, source_environment_id=source_env.id, target_environment_id=row.id
    )
    plan.records = copied.counts()
    by_ext = {u.worker: u for u in plan.usernames}
    workers = copying.roster_worker_ids(session, row.id)
    session.add_all(
        EnvironmentLogin(
            environment_id=row.id,
            tenant_id=tenant.id,
            worker_id=workers[ext],
            worker_external_id=ext,
            name=u.name[:201],
            old_username=u.old_username,
            new_username=u.new_username,
            branch=u.branch[:200],
            created_at=now,
        )
        for ext, u in by_ext.items()
        if ext in workers
    )
    session.flush()
    publishing.do_copy_configuration(
        session,
        actor,
        source_environment_id=source_env.id,
        target_environment_id=row.id,
        contract_ids=copied.ids.get("contract", {}),
        group_ids=copied.ids.get("group", {}),
        now=now,
    )
    devices = relink.linked_devices(session, source_env.id, None)
    by_id = {d.id for d in plan.devices}
    relink.revoke_for_relink(
        session,
        actor,
        [d for d in devices if d.id in by_id],
        f"username changed: environment connected to tenant {tenant.name!r} as {plan.name!r}",
        now,
    )
    source.superseded_at = now
    source.superseded_by_environment_id = row.id
    audit.record(
        session,
        actor,
        audit.Change(
            "tenant",
            source.id,
            "supersede",
            {"superseded_by_environment": [None, row.id]},
            external_id=source.name,
        ),
    )
    result = publishing.publish_environment(session, row.id, trigger=publishing.CONNECT, now=now)
    plan.published = result.as_dict()


def _admin_env(session: Session, actor: Actor, environment_id: int) -> Environment:
    require_admin(actor)
    env = session.get(Environment, environment_id)
    if env is None or (actor.tenant_id is not None and env.tenant_id != actor.tenant_id):
        raise NotFound(f"no environment {environment_id}")
    return env


def do_pause_environment(db: Database, actor: Actor, environment_id: int) -> EnvironmentInfo:
    """Pause publishing for an environment: roster writes are still stored; nothing publishes until it resumes."""
    with db.transaction() as session:
        env = _admin_env(session, actor, environment_id)
        if env.paused_at is None:
            env.paused_at = utc_now()
            audit.record(
                session,
                actor,
                audit.Change("environment", env.id, "pause", {"paused": [False, True]}, environment_id=env.id),
            )
            outbox.emit_many(
                session, [outbox.Event("tenancy.environment.paused", "environment", env.id, {"name": env.name}, env.id)]
            )
        session.flush()
        return environment_in(session, env.id)


@dataclass(frozen=True, slots=True)
class Resumed:
    """An environment resumed, and what its catch-up run published."""

    environment: EnvironmentInfo
    published: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """For JSON."""
        return {"environment": environment_dict(self.environment), "published": self.published}


def do_resume_environment(db: Database, actor: Actor, environment_id: int, *, now: datetime | None = None) -> Resumed:
    """Resume a paused environment: a reconcile catches up on what was stored meanwhile and reports it."""
    now = now or utc_now()
    with db.transaction() as session:
        env = _admin_env(session, actor, environment_id)
        if env.paused_at is None:
            return Resumed(environment_in(session, env.id), runs.RunResult().as_dict())
        paused_at = env.paused_at
        env.paused_at = None
        session.flush()
        result = (
            runs.run(session, env.id, trigger=runs.RESUME, scope=runs.Scope.everything(), now=now)
            if runs.has_monitored_contracts(session, env.id)
            else runs.RunResult()
        )
        audit.record(
            session,
            actor,
            audit.Change(
                "environment",
                env.id,
                "resume",
                {
                    "paused": [True, False],
                    "paused_at": [paused_at.isoformat(), None],
                    "published": [None, result.changes],
                },
                environment_id=env.id,
            ),
        )
        outbox.emit_many(
            session,
            [
                outbox.Event(
                    "tenancy.environment.resumed",
                    "environment",
                    env.id,
                    {"name": env.name, "published": result.changes},
                    env.id,
                )
            ],
        )
        return Resumed(environment_in(session, env.id), result.as_dict())


def list_for(db: Database, actor: Actor) -> Sequence[EnvironmentInfo]:
    """The caller's tenant's environments, primary first (administrators only)."""
    require_admin(actor)
    with db.read() as session:
        tenant = _tenant_of(session, actor, None)
        rows = session.scalars(
            select(Environment)
            .where(Environment.tenant_id == tenant.id)
            .order_by(Environment.is_primary.desc(), Environment.name)
        ).all()
        return [_env_info(e, tenant) for e in rows]


def login_changes(db: Database, actor: Actor, environment_id: int) -> list[LoginChange]:
    """The staff logins of an environment, for telling staff: name, old username, new username, branch.

    Workers copied at connection have their old username; workers who arrived
    since have none (their login is new). Any time after connecting.
    """
    with db.read() as session:
        env = _admin_env(session, actor, environment_id)
        reserved = {
            r.worker_id: r
            for r in session.scalars(select(EnvironmentLogin).where(EnvironmentLogin.environment_id == env.id))
        }
        published = {p.worker_id: p for p in publishing.published_logins(session, env.id)}
    out: list[LoginChange] = []
    for worker_id, r in reserved.items():
        p = published.get(worker_id)
        out.append(
            LoginChange(
                p.name if p else r.name,
                r.old_username,
                p.username if p else r.new_username,
                p.branch if p else r.branch,
                r.worker_external_id,
            )
        )
    out += [
        LoginChange(p.name, "", p.username, p.branch, p.external_id)
        for worker_id, p in published.items()
        if worker_id not in reserved
    ]
    return sorted(out, key=lambda c: (c.branch, c.name, c.new_username))


CSV_HEADER = ("name", "old username", "new username", "branch")


def login_changes_csv(changes: Sequence[LoginChange]) -> str:
    """The login changes as CSV: name, old username, new username, branch (formula-like cells made inert)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for c in changes:
        writer.writerow([_cell(c.name), _cell(c.old_username), _cell(c.new_username), _cell(c.branch)])
    return out.getvalue()


def _cell(value: str) -> str:
    """A spreadsheet never runs a cell as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def planned_username(convention: Convention, first_name: str, last_name: str, taken: set[str]) -> str:
    """The username a new worker of a connected environment gets (as publishing makes it)."""
    return new_prefixed_username(convention, username_base(first_name, last_name), taken)
