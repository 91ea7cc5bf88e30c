"""Creating and reading tenants and environments."""

from __future__ import annotations

from collections.abc import Collection, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from carehub.platform import audit
from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import Actor
from carehub.platform.clock import utc_now
from carehub.platform.db import Database
from carehub.platform.errors import Conflict, InvalidInput, NotFound, RecordError
from carehub.tenancy.domain.naming import (
    DEFAULT_BRANCH_FORMAT,
    DEFAULT_USERNAME_FORMAT,
    DEFAULT_VISIT_ID_FORMAT,
    Convention,
)
from carehub.tenancy.tables import Environment, EnvironmentLogin, Tenant


@dataclass(frozen=True, slots=True)
class EnvironmentInfo:
    """An environment and the facts of its tenant that services need."""

    id: int
    tenant_id: int
    name: str
    prefix: str | None
    is_primary: bool
    status: str
    timezone: str
    branch_format: str | None = None
    username_format: str | None = None
    visit_id_format: str | None = None
    connected_at: datetime | None = None
    paused_at: datetime | None = None
    source_tenant_id: int | None = None
    created_at: datetime | None = None

    @property
    def zone(self) -> ZoneInfo:
        """The tenant's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def paused(self) -> bool:
        """Publishing for this environment is paused (roster writes are still stored)."""
        return self.paused_at is not None

    @property
    def convention(self) -> Convention | None:
        """How its names are published; None when they publish unchanged (the primary environment).

        An environment gets its convention when it is connected
        (:func:`carehub.tenancy.connect.do_connect_environment`) or created
        (:func:`do_create_environment`: the default one); an added environment
        stored without formats still gets the defaults, so its prefix always applies.
        """
        if self.is_primary or not self.prefix:
            return None
        return Convention(
            self.prefix,
            self.branch_format or DEFAULT_BRANCH_FORMAT,
            self.username_format or DEFAULT_USERNAME_FORMAT,
            self.visit_id_format or DEFAULT_VISIT_ID_FORMAT,
        )


@dataclass(frozen=True, slots=True)
class TenantInfo:
    """A tenant."""

    id: int
    name: str
    timezone: str


def do_create_tenant(
    db: Database, actor: Actor, *, name: str, timezone: str, primary_environment: str = "Primary"
) -> tuple[TenantInfo, EnvironmentInfo]:
    """Create a tenant with its primary environment."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(
            f"unknown time zone {timezone!r}",
            errors=[RecordError(None, name, "timezone", timezone, "an IANA zone such as Europe/London")],
        ) from exc
    with db.transaction() as session:
        if session.scalar(select(Tenant.id).where(Tenant.name == name)) is not None:
            raise Conflict(f"tenant {name!r} exists")
        now = utc_now()
        tenant = Tenant(name=name, timezone=timezone, created_at=now)
        session.add(tenant)
        session.flush()
        env = Environment(
            tenant_id=tenant.id, name=primary_environment, prefix=None, is_primary=True, status="active", created_at=now
        )
        session.add(env)
        session.flush()
        audit.record(
            session, actor, audit.Change("tenant", tenant.id, "create", {"name": [None, name]}, external_id=name)
        )
        audit.record(
            session,
            actor,
            audit.Change(
                "environment",
                env.id,
                "create",
                {"name": [None, primary_environment], "is_primary": [None, True]},
                environment_id=env.id,
            ),
        )
        return TenantInfo(tenant.id, tenant.name, tenant.timezone), _env_info(env, tenant)


def do_create_environment(db: Database, actor: Actor, *, tenant_id: int, name: str, prefix: str) -> EnvironmentInfo:
    """Add a rostering environment to a tenant, with its unique prefix and the default naming convention.

    Minimal on purpose (tests and tools): providers connect environments with
    :func:`carehub.tenancy.connect.do_connect_environment`, which sets the
    naming convention after a dry run. Here the defaults apply ("SouthWest -
    Bristol", "SouthWest.jsmith", "SouthWest-V1"), so the prefix always keeps
    its names apart from every other environment's.
    """
    name, prefix = name.strip(), prefix.strip()
    errors = [
        RecordError(None, name, field, value, f"1 to {limit} characters")
        for field, value, limit in (("name", name, 100),)
        if not value or len(value) > limit or "\x00" in value
    ]
    # The default convention's problems too: a prefix so long that usernames would not fit is refused.
    errors += [RecordError(None, name, p.field, p.value, p.expected) for p in Convention(prefix).problems()]
    if errors:
        raise InvalidInput("environment name or prefix refused", errors=errors)
    with db.transaction() as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None or (actor.tenant_id is not None and actor.tenant_id != tenant_id):
            raise NotFound(f"no tenant {tenant_id}")
        taken = select(Environment.id).where(Environment.tenant_id == tenant_id, Environment.name == name)
        if session.scalar(taken) is not None:
            raise Conflict(f"tenant {tenant.name!r} already has an environment named {name!r}")
        if session.scalar(select(Environment.id).where(Environment.prefix_key == prefix.lower())) is not None:
            raise Conflict(f"prefix {prefix!r} is taken; each environment needs its own")
        env = Environment(
            tenant_id=tenant_id,
            name=name,
            prefix=prefix,
            prefix_key=prefix.lower(),
            is_primary=False,
            status="active",
            created_at=utc_now(),
            branch_format=DEFAULT_BRANCH_FORMAT,
            username_format=DEFAULT_USERNAME_FORMAT,
            visit_id_format=DEFAULT_VISIT_ID_FORMAT,
        )
        session.add(env)
        session.flush()
        audit.record(
            session,
            actor,
            audit.Change(
                "environment",
                env.id,
                "create",
                {
                    "name": [None, name],
                    "prefix": [None, prefix],
                    "is_primary": [None, False],
                    "branch_format": [None, DEFAULT_BRANCH_FORMAT],
                    "username_format": [None, DEFAULT_USERNAME_FORMAT],
                    "visit_id_format": [None, DEFAULT_VISIT_ID_FORMAT],
                },
                environment_id=env.id,
            ),
        )
        return _env_info(env, tenant)


def _env_info(env: Environment, tenant: Tenant) -> EnvironmentInfo:
    return EnvironmentInfo(
        env.id,
        env.tenant_id,
        env.name,
        env.prefix,
        env.is_primary,
        env.status,
        tenant.timezone,
        env.branch_format,
        env.username_format,
        env.visit_id_format,
        env.connected_at,
        env.paused_at,
        env.source_tenant_id,
        env.created_at,
    )


def get_environment(db: Database, environment_id: int) -> EnvironmentInfo:
    """One environment; NotFound if it does not exist."""
    with db.read() as session:
        row = session.execute(
            select(Environment, Tenant)
            .join(Tenant, Tenant.id == Environment.tenant_id)
            .where(Environment.id == environment_id)
        ).first()
        if row is None:
            raise NotFound(f"no environment {environment_id}")
        return _env_info(row[0], row[1])


def primary_environment(db: Database, tenant_id: int) -> EnvironmentInfo:
    """The tenant's primary environment."""
    with db.read() as session:
        row = session.execute(
            select(Environment, Tenant)
            .join(Tenant, Tenant.id == Environment.tenant_id)
            .where(Environment.tenant_id == tenant_id, Environment.is_primary.is_(True))
        ).first()
        if row is None:
            raise NotFound(f"tenant {tenant_id} has no primary environment")
        return _env_info(row[0], row[1])


def list_environments(db: Database, tenant_id: int) -> Sequence[EnvironmentInfo]:
    """The tenant's environments, primary first."""
    with db.read() as session:
        rows = session.execute(
            select(Environment, Tenant)
            .join(Tenant, Tenant.id == Environment.tenant_id)
            .where(Environment.tenant_id == tenant_id)
            .order_by(Environment.is_primary.desc(), Environment.name)
        ).all()
        return [_env_info(e, t) for e, t in rows]


def find_tenant(db: Database, name: str) -> TenantInfo | None:
    """A tenant by name, or None."""
    with db.read() as session:
        t = session.scalar(select(Tenant).where(Tenant.name == name))
        return None if t is None else TenantInfo(t.id, t.name, t.timezone)


def list_tenants(db: Database) -> Sequence[TenantInfo]:
    """Every tenant."""
    with db.read() as session:
        return [TenantInfo(t.id, t.name, t.timezone) for t in session.scalars(select(Tenant).order_by(Tenant.id))]


def environment_for(db: Database, actor: Actor, environment_id: int | None = None) -> EnvironmentInfo:
    """The environment a caller works in: a token's own, or (for users) the one asked for or the primary.

    An admin-scoped token works in its own environment unless it asks for another of its tenant. An
    environment of another tenant is reported as not found.
    """
    if actor.environment_id is not None and (environment_id is None or not actor.is_admin):
        if environment_id is not None and environment_id != actor.environment_id:
            raise NotFound(f"no environment {environment_id}")
        return get_environment(db, actor.environment_id)
    if actor.tenant_id is None:
        raise NotFound("no tenant for this caller")
    if environment_id is None:
        return primary_environment(db, actor.tenant_id)
    env = get_environment(db, environment_id)
    if env.tenant_id != actor.tenant_id:
        raise NotFound(f"no environment {environment_id}")
    return env


def work_environments(db: Database, actor: Actor) -> list[EnvironmentInfo]:
    """The environments a signed-in user may work in on the pages, primary first.

    Tenant administrators: every environment of their tenant. Other staff: the environments holding at least
    one of the branches granted to them (none without a grant). A caller bound to one environment (an API
    token, a device): that environment only.
    """
    if actor.environment_id is not None:
        return [get_environment(db, actor.environment_id)]
    if actor.tenant_id is None:
        return []
    environments = list(list_environments(db, actor.tenant_id))
    if actor.is_admin or actor.kind != "user" or actor.id is None:
        return environments
    with db.read() as session:
        granted = {g.environment_id for g in auth.grants_in(session, [actor.id])[actor.id]}
    return [e for e in environments if e.id in granted]


@dataclass(frozen=True, slots=True)
class PageEnvironment:
    """The environment a signed-in user's page works in, the ones they may switch to, and their tenant's name."""

    environment: EnvironmentInfo
    choices: Sequence[EnvironmentInfo]  # primary first; more than one: the pages offer a switcher
    tenant_name: str | None


PAGE_ENVIRONMENT_KEY = "environment"  # the browser session's remembered environment: [user id, environment id]
TENANT_NAME_KEY = "tenant"  # the browser session's tenant name: [tenant id, name]


def page_environment(
    db: Database, actor: Actor, *, chosen: str | None, remembered: MutableMapping[str, Any]
) -> PageEnvironment:
    """The environment a signed-in user's page works in, and the ones they may switch to.

    ``chosen`` (the page's ``?environment=ID``), else the one remembered, else the primary if the user may work
    in it, else the first they may (:func:`work_environments`). ``remembered`` is the browser session: a chosen
    environment is remembered there for the next pages. One the user may not work in (another tenant's, or one
    holding none of their branches) is reported as not found; a remembered one they may no longer work in (a
    grant taken away) is forgotten. A user who may work in no environment (a branch manager without a grant)
    works in the primary, where they see nothing. Paused environments are browsed as any other: pausing stops
    publishing, not reading.
    """
    if actor.tenant_id is None:
        raise NotFound("no tenant for this caller")
    choices = work_environments(db, actor) or [primary_environment(db, actor.tenant_id)]
    by_id = {e.id: e for e in choices}
    wanted = _chosen_id(chosen)
    if wanted is not None:
        if wanted not in by_id:
            raise NotFound(f"no environment {wanted}")
        remembered[PAGE_ENVIRONMENT_KEY] = [actor.id, wanted]
        return PageEnvironment(by_id[wanted], choices, tenant_name(db, actor.tenant_id, remembered))
    kept = remembered.get(PAGE_ENVIRONMENT_KEY)
    env = None
    if isinstance(kept, list) and len(kept) == 2 and kept[0] == actor.id and isinstance(kept[1], int):
        env = by_id.get(kept[1])
    if env is None:
        remembered.pop(PAGE_ENVIRONMENT_KEY, None)
        env = choices[0]
    return PageEnvironment(env, choices, tenant_name(db, actor.tenant_id, remembered))


def _chosen_id(chosen: str | None) -> int | None:
    """The id of ``?environment=``; None when not given (or empty); InvalidInput when not a whole number."""
    if chosen is None or not chosen.strip():
        return None
    text = chosen.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise InvalidInput(
            f"environment {chosen[:40]!r} is not an environment id",
            errors=[RecordError(None, None, "environment", chosen[:40], "an environment id (a whole number)")],
        )
    return int(text)


def tenant_name(db: Database, tenant_id: int, remembered: MutableMapping[str, Any]) -> str | None:
    """The tenant's name for the page shell, kept in the browser session (``remembered``) once read."""
    cached = remembered.get(TENANT_NAME_KEY)
    if isinstance(cached, list) and len(cached) == 2 and cached[0] == tenant_id:
        return str(cached[1])
    with db.read() as session:
        name = session.scalar(select(Tenant.name).where(Tenant.id == tenant_id))
    if name is not None:
        remembered[TENANT_NAME_KEY] = [tenant_id, name]
    return name


def environment_in(session: Session, environment_id: int) -> EnvironmentInfo:
    """One environment, read in the caller's transaction; NotFound if it does not exist."""
    row = session.execute(
        select(Environment, Tenant)
        .join(Tenant, Tenant.id == Environment.tenant_id)
        .where(Environment.id == environment_id)
    ).first()
    if row is None:
        raise NotFound(f"no environment {environment_id}")
    return _env_info(row[0], row[1])


def reserved_usernames(session: Session, tenant_id: int) -> set[str]:
    """Usernames reserved at connection for workers of the tenant's added environments."""
    return set(session.scalars(select(EnvironmentLogin.new_username).where(EnvironmentLogin.tenant_id == tenant_id)))


def reserved_for(session: Session, environment_id: int, worker_ids: Collection[int]) -> dict[int, str]:
    """The username reserved for each of these workers (roster ids) of the environment, where one is."""
    if not worker_ids:
        return {}
    rows = session.execute(
        select(EnvironmentLogin.worker_id, EnvironmentLogin.new_username).where(
            EnvironmentLogin.environment_id == environment_id, EnvironmentLogin.worker_id.in_(sorted(worker_ids))
        )
    )
    return {int(w): str(u) for w, u in rows}


def environment_names(session: Session, tenant_id: int) -> dict[int, str]:
    """The name of each environment of the tenant, by id, read in the caller's transaction."""
    rows = session.execute(select(Environment.id, Environment.name).where(Environment.tenant_id == tenant_id))
    return {int(i): str(n) for i, n in rows}
