"""What each role may do. Scope (which branches) is ``Actor.branch_ids``; this module decides the verbs.

- Tenant administrator (and API tokens, and Carehub itself): everything, every branch.
- Branch manager: read the roster of their branches (clients, care plans, visits, workers), explain their
  records, manage the mobile devices of their branches' workers (issue link codes, unlink devices).
- Care coordinator: as a branch manager, except unlinking devices.
- Care worker: the mobile app only; every staff page and staff API refuses them.

Tenant configuration (publish schedules, monitored contracts, publishing settings, reconcile, integration
health), webhook deliveries, users and roles, environments and form editing: tenant administrators only.
A refused verb is PermissionDenied (403); a record outside the caller's branches is NotFound (404).
"""

from __future__ import annotations

from enum import StrEnum

from carehub.platform.auth.actor import Actor, Role
from carehub.platform.errors import PermissionDenied


class Permission(StrEnum):
    """A verb of Carehub that some roles lack."""

    READ_ROSTER = "read the roster"
    EXPLAIN = "explain records"
    ISSUE_LINK_CODE = "issue device link codes"
    REVOKE_DEVICE = "unlink devices"
    CONFIGURE = "change tenant configuration"


GRANTED: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.BRANCH_MANAGER: frozenset(
        {Permission.READ_ROSTER, Permission.EXPLAIN, Permission.ISSUE_LINK_CODE, Permission.REVOKE_DEVICE}
    ),
    Role.COORDINATOR: frozenset({Permission.READ_ROSTER, Permission.EXPLAIN, Permission.ISSUE_LINK_CODE}),
    Role.CARE_WORKER: frozenset(),
}


def can(actor: Actor, permission: Permission) -> bool:
    """Whether the actor's role grants ``permission`` (tokens and Carehub itself may do everything)."""
    if actor.kind in ("system", "token"):
        return True
    if actor.kind == "device":
        return False
    return permission in GRANTED[actor.role]


def require(actor: Actor, permission: Permission) -> None:
    """PermissionDenied unless the actor's role grants ``permission``."""
    if not can(actor, permission):
        raise PermissionDenied(f"your role ({actor.role.value.replace('_', ' ')}) cannot {permission.value}")


def is_staff(actor: Actor) -> bool:
    """Anyone who may use the staff pages and staff API (everyone but care workers and devices)."""
    return can(actor, Permission.READ_ROSTER)


def require_staff(actor: Actor) -> None:
    """Care workers use the mobile app only: staff pages and the staff API refuse them."""
    if not is_staff(actor):
        raise PermissionDenied("care workers use the mobile app; staff pages and the staff API are not for them")


def require_admin(actor: Actor, what: str = "do this") -> None:
    """Only a tenant administrator (or an API token, or Carehub itself)."""
    if actor.kind == "device" or not (actor.kind in ("system", "token") or actor.role is Role.ADMIN):
        raise PermissionDenied(f"only a tenant administrator can {what}")
