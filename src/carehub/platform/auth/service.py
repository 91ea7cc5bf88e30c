"""Users, sign-in and API tokens. Each change is one function owning its transaction."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from carehub.platform import audit
from carehub.platform.auth.actor import Actor, Role, TokenScope
from carehub.platform.auth.passwords import (
    MIN_PASSWORD_LENGTH,
    hash_password,
    needs_rehash,
    verify_password,
)
from carehub.platform.auth.permissions import require_admin
from carehub.platform.auth.tables import ApiToken, BranchGrant, User
from carehub.platform.clock import utc_now
from carehub.platform.db import Database
from carehub.platform.errors import (
    AuthenticationRequired,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RecordError,
)

TOKEN_PREFIX = "chk_"  # noqa: S105 - a public marker, not a secret
# A precomputed hash so that a sign-in with an unknown username costs as much as a real one.
_DUMMY_HASH = hash_password("carehub-timing-equaliser")


@dataclass(frozen=True, slots=True)
class UserInfo:
    """A user as the rest of Carehub sees it (never the hash)."""

    id: int
    tenant_id: int
    username: str
    display_name: str
    role: Role
    active: bool
    last_sign_in_at: datetime | None


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """An API token's public facts (never the secret)."""

    id: int
    tenant_id: int
    environment_id: int
    name: str
    display_prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    scope: TokenScope = TokenScope.ROSTER


def _user_info(u: User) -> UserInfo:
    return UserInfo(u.id, u.tenant_id, u.username, u.display_name, Role(u.role), u.active, u.last_sign_in_at)


def _token_info(t: ApiToken) -> TokenInfo:
    return TokenInfo(
        t.id,
        t.tenant_id,
        t.environment_id,
        t.name,
        t.display_prefix,
        t.created_at,
        t.last_used_at,
        t.revoked_at,
        TokenScope(t.scope),
    )


def granted_branch_ids(session: Session, user_id: int) -> frozenset[int]:
    """The roster branch ids granted to a user."""
    return frozenset(
        int(b) for b in session.scalars(select(BranchGrant.branch_id).where(BranchGrant.user_id == user_id))
    )


def _actor_for_user(session: Session, u: User) -> Actor:
    role = Role(u.role)
    # Tenant administrators see every branch; everyone else sees only the branches granted to them.
    branches = None if role is Role.ADMIN else granted_branch_ids(session, u.id)
    return Actor(kind="user", id=u.id, label=u.username, tenant_id=u.tenant_id, role=role, branch_ids=branches)


def hash_token(token: str) -> str:
    """The stored form of an API token: SHA-256 (tokens are 256-bit random)."""
    return hashlib.sha256(token.encode()).hexdigest()


def do_create_user(
    db: Database,
    actor: Actor,
    *,
    tenant_id: int,
    username: str,
    password: str,
    role: Role,
    display_name: str | None = None,
) -> UserInfo:
    """Create a user. Refuses short passwords and taken usernames."""
    username = username.strip().lower()
    if not username:
        raise InvalidInput(
            "username is empty", errors=[RecordError(None, None, "username", username, "a non-empty username")]
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"password too short: at least {MIN_PASSWORD_LENGTH} characters",
            errors=[RecordError(None, username, "password", "***", f"at least {MIN_PASSWORD_LENGTH} characters")],
        )
    with db.transaction() as session:
        if session.scalar(select(User.id).where(User.username == username)) is not None:
            raise Conflict(f"username {username!r} is taken")
        user = User(
            tenant_id=tenant_id,
            username=username,
            display_name=display_name or username,
            password_hash=hash_password(password),
            role=role.value,
            active=True,
            created_at=utc_now(),
        )
        session.add(user)
        session.flush()
        audit.record(
            session,
            actor,
            audit.Change(
                "user",
                user.id,
                "create",
                {"username": [None, username], "role": [None, role.value]},
                external_id=username,
            ),
        )
        return _user_info(user)


def do_set_password(db: Database, actor: Actor, username: str, password: str) -> None:
    """Replace a user's password."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"password too short: at least {MIN_PASSWORD_LENGTH} characters",
            errors=[RecordError(None, username, "password", "***", f"at least {MIN_PASSWORD_LENGTH} characters")],
        )
    with db.transaction() as session:
        user = session.scalar(select(User).where(User.username == username.strip().lower()))
        if user is None:
            raise NotFound(f"no user {username!r}")
        user.password_hash = hash_password(password)
        audit.record(session, actor, audit.Change("user", user.id, "set_password", {}, external_id=user.username))


def authenticate(db: Database, username: str, password: str) -> Actor:
    """The Actor for a correct username and password; AuthenticationRequired otherwise."""
    with db.transaction() as session:
        user = session.scalar(select(User).where(User.username == username.strip().lower()))
        if user is None:
            verify_password(_DUMMY_HASH, password)
            raise AuthenticationRequired("unknown username or wrong password")
        if not user.active or not verify_password(user.password_hash, password):
            raise AuthenticationRequired("unknown username or wrong password")
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        user.last_sign_in_at = utc_now()
        return _actor_for_user(session, user)


def actor_for_user_id(db: Database, user_id: int) -> Actor | None:
    """The Actor of an active user, for a session cookie; None if gone or inactive."""
    with db.read() as session:
        user = session.get(User, user_id)
        if user is None or not user.active:
            return None
        return _actor_for_user(session, user)


def list_users(db: Database, tenant_id: int) -> Sequence[UserInfo]:
    """The tenant's users, by username."""
    with db.read() as session:
        rows = session.scalars(select(User).where(User.tenant_id == tenant_id).order_by(User.username))
        return [_user_info(u) for u in rows]


def do_create_token(
    db: Database,
    actor: Actor,
    *,
    tenant_id: int,
    environment_id: int,
    name: str,
    scope: TokenScope = TokenScope.ROSTER,
) -> tuple[TokenInfo, str]:
    """Create an API token for one environment. Returns its facts and the secret, shown once.

    ``scope``: ``roster`` (the rostering system's credential) or ``admin`` (acts as a tenant administrator
    over the whole API); only a tenant administrator of ``tenant_id`` (or Carehub itself) creates an admin
    token, and never another admin token.
    """
    if scope is TokenScope.ADMIN:
        if not actor.is_admin or actor.kind == "token":
            raise PermissionDenied(
                "only a tenant administrator (signed in, or with the carehub command) can create an admin API token"
            )
        if actor.tenant_id is not None and actor.tenant_id != tenant_id:
            raise NotFound(f"no tenant {tenant_id}")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.transaction() as session:
        token = ApiToken(
            tenant_id=tenant_id,
            environment_id=environment_id,
            name=name,
            display_prefix=secret[:12],
            token_hash=hash_token(secret),
            scope=scope.value,
            created_by=actor.id if actor.kind == "user" else None,
            created_at=utc_now(),
        )
        session.add(token)
        session.flush()
        audit.record(
            session,
            actor,
            audit.Change(
                "api_token",
                token.id,
                "create",
                {"name": [None, name], "scope": [None, scope.value]},
                external_id=token.display_prefix,
                environment_id=environment_id,
            ),
        )
        return _token_info(token), secret


def do_revoke_token(db: Database, actor: Actor, token_id: int) -> TokenInfo:
    """Revoke a token; it stops working at once."""
    with db.transaction() as session:
        token = session.get(ApiToken, token_id)
        if token is None or (actor.tenant_id is not None and token.tenant_id != actor.tenant_id):
            raise NotFound(f"no API token {token_id}")
        if token.revoked_at is None:
            token.revoked_at = utc_now()
            audit.record(
                session,
                actor,
                audit.Change(
                    "api_token",
                    token.id,
                    "revoke",
                    {"revoked": [False, True]},
                    external_id=token.display_prefix,
                    environment_id=token.environment_id,
                ),
            )
        return _token_info(token)


def list_tokens(db: Database, tenant_id: int) -> Sequence[TokenInfo]:
    """The tenant's API tokens, newest first."""
    with db.read() as session:
        rows = session.scalars(select(ApiToken).where(ApiToken.tenant_id == tenant_id).order_by(ApiToken.id.desc()))
        return [_token_info(t) for t in rows]


def actor_for_token(db: Database, secret: str) -> Actor:
    """The Actor of a valid, unrevoked API token; AuthenticationRequired otherwise."""
    if not secret.startswith(TOKEN_PREFIX):
        raise AuthenticationRequired("not a Carehub API token")
    digest = hash_token(secret)
    with db.transaction() as session:
        token = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
        if token is None or not hmac.compare_digest(token.token_hash, digest) or token.revoked_at is not None:
            raise AuthenticationRequired("API token unknown or revoked")
        now = utc_now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            session.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
        # Both scopes carry the administrator role and every branch of the tenant; what a roster token
        # may do is cut down by its scope (permissions.TOKEN_GRANTED, permissions.TOKEN_ROUTES).
        return Actor(
            kind="token",
            id=token.id,
            label=f"token:{token.display_prefix}",
            tenant_id=token.tenant_id,
            role=Role.ADMIN,
            environment_id=token.environment_id,
            token_scope=TokenScope(token.scope),
        )


# --------------------------------------------------------------------------- roles and branch grants


@dataclass(frozen=True, slots=True)
class GrantInfo:
    """One branch granted to one user: the roster branch id and its environment."""

    user_id: int
    branch_id: int
    environment_id: int
    granted_by: str
    granted_at: datetime


def _grant_info(g: BranchGrant) -> GrantInfo:
    return GrantInfo(g.user_id, int(g.branch_id), g.environment_id, g.granted_by, g.granted_at)


def user_in(session: Session, actor: Actor, username: str) -> User:
    """A user of the actor's tenant by username, in the caller's transaction; NotFound otherwise."""
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None or (actor.tenant_id is not None and user.tenant_id != actor.tenant_id):
        raise NotFound(f"no user {username.strip()!r}")
    return user


def grants_in(session: Session, user_ids: Sequence[int]) -> dict[int, list[GrantInfo]]:
    """Each user's branch grants, in the caller's transaction."""
    out: dict[int, list[GrantInfo]] = {u: [] for u in user_ids}
    if user_ids:
        rows = session.scalars(
            select(BranchGrant).where(BranchGrant.user_id.in_(list(user_ids))).order_by(BranchGrant.id)
        )
        for g in rows:
            out[g.user_id].append(_grant_info(g))
    return out


def grant_in(
    session: Session, actor: Actor, user: User, branch_id: int, environment_id: int, branch_external_id: str
) -> bool:
    """Grant a branch to a user in the caller's transaction, audited. False if the user already had it."""
    found = session.scalar(
        select(BranchGrant.id).where(BranchGrant.user_id == user.id, BranchGrant.branch_id == branch_id)
    )
    if found is not None:
        return False
    session.add(
        BranchGrant(
            user_id=user.id,
            branch_id=branch_id,
            environment_id=environment_id,
            granted_by=actor.label[:200],
            granted_at=utc_now(),
        )
    )
    _audit_branch(session, actor, user, "grant_branch", [None, branch_external_id], environment_id)
    return True


def revoke_in(
    session: Session, actor: Actor, user: User, branch_id: int, environment_id: int, branch_external_id: str
) -> bool:
    """Take a branch away from a user in the caller's transaction, audited. False if they did not have it."""
    grant = session.scalar(
        select(BranchGrant).where(BranchGrant.user_id == user.id, BranchGrant.branch_id == branch_id)
    )
    if grant is None:
        return False
    session.delete(grant)
    _audit_branch(session, actor, user, "revoke_branch", [branch_external_id, None], environment_id)
    return True


def _audit_branch(
    session: Session, actor: Actor, user: User, action: str, branch: list[str | None], environment_id: int
) -> None:
    """The audit row of a branch granted or revoked: the branch before and after, by the roster's id."""
    audit.record(
        session,
        actor,
        audit.Change(
            "user", user.id, action, {"branch": branch}, external_id=user.username, environment_id=environment_id
        ),
    )


def do_set_role(db: Database, actor: Actor, username: str, role: Role) -> UserInfo:
    """Change a user's role (tenant administrators only). An administrator cannot demote themselves."""
    require_admin(actor, "change roles")
    with db.transaction() as session:
        user = user_in(session, actor, username)
        if actor.kind == "user" and user.id == actor.id and role is not Role.ADMIN:
            raise Conflict("you cannot take the administrator role from yourself; ask another administrator")
        if user.role != role.value:
            audit.record(
                session,
                actor,
                audit.Change("user", user.id, "set_role", {"role": [user.role, role.value]}, external_id=user.username),
            )
            user.role = role.value
        return _user_info(user)


def do_set_active(db: Database, actor: Actor, username: str, *, active: bool) -> UserInfo:
    """Deactivate (or reactivate) a user (tenant administrators only); a deactivated user is signed out at once."""
    require_admin(actor, "deactivate users")
    with db.transaction() as session:
        user = user_in(session, actor, username)
        if actor.kind == "user" and user.id == actor.id and not active:
            raise Conflict("you cannot deactivate yourself; ask another administrator")
        if user.active != active:
            audit.record(
                session,
                actor,
                audit.Change(
                    "user",
                    user.id,
                    "activate" if active else "deactivate",
                    {"active": [user.active, active]},
                    external_id=user.username,
                ),
            )
            user.active = active
        return _user_info(user)
