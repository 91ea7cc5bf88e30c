"""Who is acting: a signed-in user, an API token, a device, or Carehub itself."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Role(StrEnum):
    """Roles, least to most privileged for the roster."""

    CARE_WORKER = "care_worker"
    COORDINATOR = "coordinator"
    BRANCH_MANAGER = "branch_manager"
    ADMIN = "admin"


class TokenScope(StrEnum):
    """What an API token may do (docs/access.md).

    ``roster``: a rostering system's machine credential for its own environment (the roster API, explain,
    the integration's status); ``admin``: a tenant administrator's automation token, acting as a tenant
    administrator over the whole API (never the mobile device feed, which only device tokens open).
    """

    ROSTER = "roster"
    ADMIN = "admin"


ActorKind = Literal["user", "token", "system", "device"]


@dataclass(frozen=True, slots=True)
class Actor:
    """The caller of a service function; written into every audit row."""

    kind: ActorKind
    id: int | None
    label: str
    tenant_id: int | None = None
    role: Role = Role.ADMIN
    environment_id: int | None = None
    # Roster branch ids this caller may see; None means every branch of the tenant (admins,
    # API tokens, Carehub itself). Set at sign-in from the user's branch grants. A roster API token sees
    # every branch of its own environment only (``environment_id``), and is never an administrator.
    branch_ids: frozenset[int] | None = None
    # An API token's scope (None for every other kind); a token without the admin scope is a roster token.
    token_scope: TokenScope | None = None

    @property
    def is_admin(self) -> bool:
        """Tenant administrator, an admin-scoped API token, or Carehub itself; never a roster token or a device."""
        if self.kind == "token":
            return self.token_scope is TokenScope.ADMIN and self.role == Role.ADMIN
        return self.kind == "system" or (self.kind == "user" and self.role == Role.ADMIN)

    @property
    def is_roster_token(self) -> bool:
        """A rostering system's API token (least privilege: its environment's roster, explain, status)."""
        return self.kind == "token" and self.token_scope is not TokenScope.ADMIN


SYSTEM = Actor(kind="system", id=None, label="carehub")
