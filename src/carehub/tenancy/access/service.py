"""Managing users, their roles and the branches granted to them. Tenant administrators only.

Each change is one ``do_*`` function owning its transaction and writing the audit row in it.
A branch is a roster branch of one of the tenant's environments, looked up by the rostering system's
id through :mod:`carehub.roster.service.branches`; a branch or user of another tenant is not found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import Actor, Role
from carehub.platform.auth.permissions import require_admin
from carehub.platform.auth.tables import User
from carehub.platform.db import Database
from carehub.platform.errors import Conflict, NotFound
from carehub.roster.service import branches as roster_branches
from carehub.tenancy import service as tenancy

GRANTABLE_ROLES = frozenset({Role.BRANCH_MANAGER, Role.COORDINATOR})


@dataclass(frozen=True, slots=True)
class GrantedBranch:
    """A branch granted to a user, with its names for people."""

    branch_id: int
    external_id: str
    name: str
    environment_id: int
    environment_name: str
    granted_by: str
    granted_at: datetime

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of the users API."""
        return {
            "branch_id": self.external_id,
            "name": self.name,
            "environment_id": self.environment_id,
            "environment": self.environment_name,
            "granted_by": self.granted_by,
            "granted_at": self.granted_at,
        }


@dataclass(frozen=True, slots=True)
class UserAccess:
    """A user, their role and the branches they may see (all of them for an administrator)."""

    user: auth.UserInfo
    branches: list[GrantedBranch]

    @property
    def every_branch(self) -> bool:
        """Administrators see every branch whatever they were granted."""
        return self.user.role is Role.ADMIN

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of the users API."""
        u = self.user
        return {
            "id": u.id,
            "username": u.username,
            "display_name": u.display_name,
            "role": u.role.value,
            "active": u.active,
            "last_sign_in_at": u.last_sign_in_at,
            "every_branch": self.every_branch,
            "branches": [b.as_dict() for b in self.branches],
        }


@dataclass(frozen=True, slots=True)
class BranchChoice:
    """A branch an administrator may grant."""

    external_id: str
    name: str
    environment_id: int
    environment_name: str


def _tenant_of(actor: Actor, tenant_id: int | None) -> int:
    """The tenant acted on: the actor's own; Carehub itself (the CLI) names one."""
    if actor.tenant_id is not None:
        if tenant_id is not None and tenant_id != actor.tenant_id:
            raise NotFound(f"no tenant {tenant_id}")
        return actor.tenant_id
    if tenant_id is None:
        raise NotFound("no tenant for this caller")
    return tenant_id


def _environment(db: Database, tenant_id: int, environment_id: int | None) -> tenancy.EnvironmentInfo:
    if environment_id is None:
        return tenancy.primary_environment(db, tenant_id)
    env = tenancy.get_environment(db, environment_id)
    if env.tenant_id != tenant_id:
        raise NotFound(f"no environment {environment_id}")
    return env


def _access(db: Database, tenant_id: int, users: Sequence[auth.UserInfo]) -> list[UserAccess]:
    with db.read() as session:
        grants = auth.grants_in(session, [u.id for u in users])
    ids = {g.branch_id for gs in grants.values() for g in gs}
    found = roster_branches.branches_by_id(db, ids)
    envs = {e.id: e.name for e in tenancy.list_environments(db, tenant_id)}
    out = []
    for u in users:
        rows = [
            GrantedBranch(
                g.branch_id,
                found[g.branch_id].external_id if g.branch_id in found else str(g.branch_id),
                found[g.branch_id].name if g.branch_id in found else "(deleted branch)",
                g.environment_id,
                envs.get(g.environment_id, str(g.environment_id)),
                g.granted_by,
                g.granted_at,
            )
            for g in grants.get(u.id, [])
        ]
        rows.sort(key=lambda b: (b.environment_name, b.name.lower(), b.external_id))
        out.append(UserAccess(u, rows))
    return out


def list_users(db: Database, actor: Actor, *, tenant_id: int | None = None) -> list[UserAccess]:
    """The tenant's users with their roles and branches, by username (administrators only)."""
    require_admin(actor, "see users and roles")
    tid = _tenant_of(actor, tenant_id)
    return _access(db, tid, auth.list_users(db, tid))


def get_user(db: Database, actor: Actor, username: str, *, tenant_id: int | None = None) -> UserAccess:
    """One user of the tenant with their branches; NotFound otherwise (administrators only)."""
    require_admin(actor, "see users and roles")
    tid = _tenant_of(actor, tenant_id)
    wanted = username.strip().lower()
    found = [u for u in auth.list_users(db, tid) if u.username == wanted]
    if not found:
        raise NotFound(f"no user {username.strip()[:150]!r}")
    return _access(db, tid, found)[0]


def branch_choices(db: Database, actor: Actor, *, tenant_id: int | None = None) -> list[BranchChoice]:
    """Every live branch of the tenant's environments, to grant (administrators only)."""
    require_admin(actor, "grant branches")
    tid = _tenant_of(actor, tenant_id)
    envs = {e.id: e.name for e in tenancy.list_environments(db, tid)}
    return [
        BranchChoice(b.external_id, b.name, b.environment_id, envs[b.environment_id])
        for b in roster_branches.list_branches(db, list(envs))
    ]


def do_create_user(
    db: Database,
    actor: Actor,
    *,
    username: str,
    password: str,
    role: Role,
    display_name: str | None = None,
    tenant_id: int | None = None,
) -> auth.UserInfo:
    """Create a user of the actor's tenant (administrators only). They see no branch until granted one."""
    require_admin(actor, "create users")
    return auth.do_create_user(
        db,
        actor,
        tenant_id=_tenant_of(actor, tenant_id),
        username=username,
        password=password,
        role=role,
        display_name=display_name,
    )


def do_set_role(db: Database, actor: Actor, username: str, role: Role) -> auth.UserInfo:
    """Change a user's role (administrators only; audited)."""
    return auth.do_set_role(db, actor, username, role)


def do_set_active(db: Database, actor: Actor, username: str, *, active: bool) -> auth.UserInfo:
    """Deactivate or reactivate a user (administrators only; audited). A deactivated user is signed out."""
    return auth.do_set_active(db, actor, username, active=active)


def _grant_scope(
    db: Database, actor: Actor, doing: str, tenant_id: int | None, environment_id: int | None
) -> tuple[int, tenancy.EnvironmentInfo]:
    """The tenant and environment a grant or revoke acts in (administrators only)."""
    require_admin(actor, doing)
    tid = _tenant_of(actor, tenant_id)
    return tid, _environment(db, tid, environment_id)


def _user_and_branch(
    session: Session,
    actor: Actor,
    tid: int,
    environment_id: int,
    username: str,
    branch_external_id: str,
    *,
    grant: bool,
) -> tuple[User, roster_branches.BranchRef]:
    """The tenant's user and the environment's branch a grant (``grant``) or revoke is about.

    A grant needs a live branch and a branch manager or coordinator (Conflict otherwise); a revoke
    also finds a deleted branch, so access to it can still be taken away.
    """
    user = auth.user_in(session, actor, username)
    if user.tenant_id != tid:
        raise NotFound(f"no user {username.strip()[:150]!r}")
    role = Role(user.role)
    if grant and role not in GRANTABLE_ROLES:
        raise Conflict(
            f"{user.username!r} is a {role.value.replace('_', ' ')}: "
            + (
                "administrators see every branch already"
                if role is Role.ADMIN
                else "care workers use the mobile app and see their own visits only"
            )
        )
    branch = roster_branches.branch_in(session, environment_id, branch_external_id, include_deleted=not grant)
    return user, branch


def do_grant_branch(
    db: Database,
    actor: Actor,
    username: str,
    branch_external_id: str,
    *,
    environment_id: int | None = None,
    tenant_id: int | None = None,
) -> UserAccess:
    """Let a branch manager or coordinator see a branch (of the primary environment unless one is named).

    Administrators only; audited. The branch must exist in one of the tenant's environments (NotFound).
    Granting a branch twice changes nothing. Administrators see every branch and care workers none on the
    staff side, so granting them a branch is refused (Conflict).
    """
    tid, env = _grant_scope(db, actor, "grant branches", tenant_id, environment_id)
    with db.transaction() as session:
        user, branch = _user_and_branch(session, actor, tid, env.id, username, branch_external_id, grant=True)
        auth.grant_in(session, actor, user, branch.id, env.id, branch.external_id)
    return get_user(db, actor, username, tenant_id=tid)


def do_revoke_branch(
    db: Database,
    actor: Actor,
    username: str,
    branch_external_id: str,
    *,
    environment_id: int | None = None,
    tenant_id: int | None = None,
) -> UserAccess:
    """Take a branch away from a user (administrators only; audited). Revoking twice changes nothing."""
    tid, env = _grant_scope(db, actor, "revoke branches", tenant_id, environment_id)
    with db.transaction() as session:
        user, branch = _user_and_branch(session, actor, tid, env.id, username, branch_external_id, grant=False)
        auth.revoke_in(session, actor, user, branch.id, env.id, branch.external_id)
    return get_user(db, actor, username, tenant_id=tid)
