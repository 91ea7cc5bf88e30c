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
    # API tokens, Carehub itself). Set at sign-in from the user's branch grants.
    branch_ids: frozenset[int] | None = None

    @property
    def is_admin(self) -> bool:
        """Tenant administrator (or Carehub itself)."""
        return self.kind == "system" or self.role == Role.ADMIN


SYSTEM = Actor(kind="system", id=None, label="carehub")
