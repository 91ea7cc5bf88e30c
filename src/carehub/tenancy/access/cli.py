"""``carehub user grant|revoke|set-role|deactivate|activate``: branch grants and roles from the command line.

Thin: each command calls one function of :mod:`carehub.tenancy.access.service`, as Carehub itself
(the operator of the server), for the tenant named with ``--tenant`` (or the only one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from carehub import bootstrap
from carehub.platform.auth.actor import SYSTEM, Role
from carehub.platform.cli_support import console, emit_json, emit_table, fail, run
from carehub.tenancy import service as tenancy
from carehub.tenancy.access import service as access

app = typer.Typer(no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
TenantOpt = Annotated[str | None, typer.Option("--tenant", help="Tenant name (default: the only tenant).")]
BranchOpt = Annotated[str, typer.Option("--branch", help="The roster branch id (the rostering system's)")]
EnvOpt = Annotated[int | None, typer.Option("--environment", help="The branch's environment id (default: primary)")]


def _tenant_id(db_container: bootstrap.Container, name: str | None, *, as_json: bool) -> int:
    if name:
        found = tenancy.find_tenant(db_container.db, name)
        if found is None:
            fail(f"no tenant named {name!r}", as_json=as_json)
        return found.id
    tenants = tenancy.list_tenants(db_container.db)
    if len(tenants) != 1:
        fail(
            f"{len(tenants)} tenants exist; choose one with --tenant"
            if tenants
            else "no tenant yet: run 'carehub tenant create'",
            as_json=as_json,
        )
    return tenants[0].id


def _show(found: access.UserAccess, *, as_json: bool) -> None:
    if as_json:
        emit_json(found.as_dict())
        return
    u = found.user
    if found.every_branch:
        where = "every branch"
    elif found.branches:
        where = ", ".join(f"{b.name} ({b.external_id}, {b.environment_name})" for b in found.branches)
    else:
        where = "no branch"
    console.print(f"{u.username} ({u.role.value}{'' if u.active else ', deactivated'}): {where}")


def _container() -> bootstrap.Container:
    return bootstrap.build()


def _change_branch(
    change: Callable[..., access.UserAccess],
    username: str,
    branch: str,
    environment: int | None,
    tenant: str | None,
    *,
    as_json: bool,
) -> None:
    """Grant or revoke (``change``) one branch of one user and show their access."""
    container = _container()
    try:
        tid = _tenant_id(container, tenant, as_json=as_json)
        found = run(
            lambda: change(container.db, SYSTEM, username, branch, environment_id=environment, tenant_id=tid),
            as_json=as_json,
        )
        _show(found, as_json=as_json)
    finally:
        container.db.engine.dispose()


@app.command("grant")
def grant(
    username: str, branch: BranchOpt, environment: EnvOpt = None, tenant: TenantOpt = None, as_json: JsonOpt = False
) -> None:
    """Let a branch manager or coordinator see a branch's clients, care plans, visits and workers."""
    _change_branch(access.do_grant_branch, username, branch, environment, tenant, as_json=as_json)


@app.command("revoke")
def revoke(
    username: str, branch: BranchOpt, environment: EnvOpt = None, tenant: TenantOpt = None, as_json: JsonOpt = False
) -> None:
    """Take a branch away from a user."""
    _change_branch(access.do_revoke_branch, username, branch, environment, tenant, as_json=as_json)


@app.command("set-role")
def set_role(username: str, role: Role, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """Change a user's role."""
    container = _container()
    try:
        tid = _tenant_id(container, tenant, as_json=as_json)
        run(lambda: access.do_set_role(container.db, SYSTEM, username, role), as_json=as_json)
        _show(access.get_user(container.db, SYSTEM, username, tenant_id=tid), as_json=as_json)
    finally:
        container.db.engine.dispose()


@app.command("deactivate")
def deactivate(username: str, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """Deactivate a user: they are signed out at once and cannot sign in."""
    container = _container()
    try:
        tid = _tenant_id(container, tenant, as_json=as_json)
        run(lambda: access.do_set_active(container.db, SYSTEM, username, active=False), as_json=as_json)
        _show(access.get_user(container.db, SYSTEM, username, tenant_id=tid), as_json=as_json)
    finally:
        container.db.engine.dispose()


def list_rows(container: bootstrap.Container, tenant_id: int, *, as_json: bool) -> None:
    """``carehub user list``: users with role, status and branches."""
    users = access.list_users(container.db, SYSTEM, tenant_id=tenant_id)
    if as_json:
        emit_json(
            [
                {
                    "id": a.user.id,
                    "username": a.user.username,
                    "role": a.user.role.value,
                    "active": a.user.active,
                    "branches": "*" if a.every_branch else [b.external_id for b in a.branches],
                }
                for a in users
            ]
        )
        return
    emit_table(
        "Users",
        ["id", "username", "name", "role", "active", "branches"],
        [
            (
                a.user.id,
                a.user.username,
                a.user.display_name,
                a.user.role.value,
                a.user.active,
                "every branch" if a.every_branch else ", ".join(b.external_id for b in a.branches) or "none",
            )
            for a in users
        ],
    )
