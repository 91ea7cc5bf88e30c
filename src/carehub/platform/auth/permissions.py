"""What each role may do. Scope (which branches) is ``Actor.branch_ids``; this module decides the verbs.

- Tenant administrator (and an admin-scoped API token, and Carehub itself): everything, every branch.
- Branch manager: read the roster of their branches (clients, care plans, visits, workers), explain their
  records, manage the mobile devices of their branches' workers (issue link codes, unlink devices).
- Care coordinator: as a branch manager, except unlinking devices.
- Care worker: the mobile app only; every staff page and staff API refuses them.
- API token, ``roster`` scope (the default): the machine credential of ONE rostering environment (least
  privilege). It sends and reads back its own environment's roster, explains its records and reads the
  integration's status of its environment; nothing else. Tenant configuration, users, environments,
  forms, devices and webhook deliveries are refused with "API tokens cannot ...", both by the services
  (:func:`can`, :func:`require_admin`) and, before any service runs, by
  :func:`token_refusal` for every API route that is not on the token's list (a new route is refused to
  roster tokens until it is put on the list).
- API token, ``admin`` scope: a tenant administrator's automation token. It acts as a tenant administrator
  over the whole API (every branch); only a tenant administrator (or Carehub itself) creates one. It never
  opens the mobile device feed (only a linked device's token does).

Tenant configuration (publish schedules, monitored contracts, publishing settings, reconcile, integration
health), webhook deliveries, users and roles, environments and form editing: tenant administrators only.
A refused verb is PermissionDenied (403); a record outside the caller's branches is NotFound (404).
"""

from __future__ import annotations

import re
from enum import StrEnum

from carehub.platform.auth.actor import Actor, Role
from carehub.platform.errors import PermissionDenied


class Permission(StrEnum):
    """A verb of Carehub that some roles lack."""

    READ_ROSTER = "read the roster"
    EXPLAIN = "explain records"
    READ_STATUS = "read the integration's status"
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
# A rostering system's token: its environment's roster (writes need no permission: only tokens write over
# the API, and each write is confined to the token's environment), explanations and the status.
TOKEN_GRANTED = frozenset({Permission.READ_ROSTER, Permission.EXPLAIN, Permission.READ_STATUS})


def can(actor: Actor, permission: Permission) -> bool:
    """Whether the actor may ``permission``.

    Carehub itself and admin-scoped tokens may do everything; roster tokens only TOKEN_GRANTED.
    """
    if actor.kind == "system":
        return True
    if actor.kind == "token":
        return actor.is_admin or permission in TOKEN_GRANTED
    if actor.kind == "device":
        return False
    return permission in GRANTED[actor.role]


def token_cannot(what: str) -> PermissionDenied:
    """The refusal of an API token, saying what it cannot do and who can."""
    return PermissionDenied(
        f"API tokens cannot {what}: a token is a rostering system's credential for its own environment's "
        "roster; a tenant administrator does this on the web or with the carehub command"
    )


def require(actor: Actor, permission: Permission) -> None:
    """PermissionDenied unless the actor may ``permission``."""
    if can(actor, permission):
        return
    if actor.is_roster_token:
        raise token_cannot(permission.value)
    raise PermissionDenied(f"your role ({actor.role.value.replace('_', ' ')}) cannot {permission.value}")


def is_staff(actor: Actor) -> bool:
    """Anyone who may use the staff pages and staff API (everyone but care workers and devices)."""
    return can(actor, Permission.READ_ROSTER)


def require_staff(actor: Actor) -> None:
    """Care workers use the mobile app only: staff pages and the staff API refuse them."""
    if not is_staff(actor):
        raise PermissionDenied("care workers use the mobile app; staff pages and the staff API are not for them")


def require_admin(actor: Actor, what: str = "do this") -> None:
    """Only a tenant administrator (or an admin token, or Carehub itself); a roster token has its own message."""
    if actor.is_roster_token:
        raise token_cannot(what)
    if not actor.is_admin:
        raise PermissionDenied(f"only a tenant administrator can {what}")


# --------------------------------------------------------------------------- API routes a roster token may call

_ROSTER_KINDS = "branches|groups|contracts|clients|workers|plan-visits|visits"
# (methods, path pattern): the roster API of the token's own environment, explain, and the status.
TOKEN_ROUTES: tuple[tuple[frozenset[str], re.Pattern[str]], ...] = (
    (frozenset({"GET"}), re.compile(rf"/api/v1/({_ROSTER_KINDS})(/\{{external_id\}}(/history)?)?")),
    (frozenset({"PUT", "DELETE"}), re.compile(rf"/api/v1/({_ROSTER_KINDS})/\{{external_id\}}")),
    (frozenset({"POST"}), re.compile(rf"/api/v1/({_ROSTER_KINDS})/batch")),
    (frozenset({"POST"}), re.compile(r"/api/v1/imports/\{plural\}")),
    (frozenset({"POST"}), re.compile(r"/api/v1/visits/\{visit_id\}/(allocations|confirm|cancel)")),
    (frozenset({"DELETE"}), re.compile(r"/api/v1/visits/\{visit_id\}/allocations/\{worker_id\}")),
    (frozenset({"GET"}), re.compile(r"/api/v1/explain/\{kind\}/\{external_id\}")),
    (frozenset({"GET"}), re.compile(r"/api/v1/publishing/status")),
    # The contract its rostering system implements, and its browsable page.
    (frozenset({"GET"}), re.compile(r"/api/v1/openapi\.json|/docs")),
)
# What a refused route is about, for the message (first match wins; the last one always matches).
_REFUSED: tuple[tuple[str, str], ...] = (
    ("/api/v1/environments", "connect, pause, resume or list environments"),
    ("/api/v1/users", "see or change users, roles and branch grants"),
    ("/api/v1/subscriptions", "see or change webhook subscriptions"),
    ("/api/v1/deliveries", "see, retry or replay webhook deliveries"),
    ("/api/v1/publishing/contracts", "see or change monitored contracts"),
    ("/api/v1/publishing/schedules", "see or change publish schedules"),
    ("/api/v1/publishing/settings", "see or change publishing settings"),
    ("/api/v1/publishing/reconcile", "run a reconcile"),
    ("/api/v1/forms", "read or edit forms"),
    ("/api/v1/services", "read or edit services and their branches"),
    ("/api/v1/mobile", "manage mobile devices"),
    ("/", "use this part of the API"),
)


def token_refusal(method: str, path: str) -> PermissionDenied | None:
    """None when a roster API token may call ``method path`` (the route's template); otherwise the refusal.

    An admin-scoped token is not checked against this list: it goes wherever a tenant administrator may.
    """
    method = "GET" if method == "HEAD" else method
    for methods, pattern in TOKEN_ROUTES:
        if method in methods and pattern.fullmatch(path):
            return None
    what = next(what for start, what in _REFUSED if path.startswith(start))
    return token_cannot(what)
