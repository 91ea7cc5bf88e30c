"""``carehub env``: list, connect (with --dry-run), pause, resume and login changes of environments."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from carehub import bootstrap
from carehub.platform.auth.actor import SYSTEM, Actor
from carehub.platform.cli_support import console, emit_json, emit_table, fail, run
from carehub.tenancy import connect
from carehub.tenancy import service as tenancy
from carehub.tenancy.domain.naming import DEFAULT_BRANCH_FORMAT, DEFAULT_USERNAME_FORMAT, DEFAULT_VISIT_ID_FORMAT

env_app = typer.Typer(help="Rostering environments of a tenant: connect, pause, resume.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
TenantOpt = Annotated[str | None, typer.Option("--tenant", help="Tenant name (default: the only active tenant).")]


def _actor(tenant: str | None, *, as_json: bool) -> tuple[bootstrap.Container, Actor]:
    container = bootstrap.build()
    if tenant:
        found = tenancy.find_tenant(container.db, tenant)
        if found is None:
            container.db.engine.dispose()
            fail(f"no tenant named {tenant!r}", as_json=as_json)
        return container, replace(SYSTEM, tenant_id=found.id)
    tenants = tenancy.list_tenants(container.db)
    if len(tenants) != 1:
        container.db.engine.dispose()
        fail(f"{len(tenants)} tenants exist; choose one with --tenant", as_json=as_json)
    return container, replace(SYSTEM, tenant_id=tenants[0].id)


def _env_id(container: bootstrap.Container, actor: Actor, name: str, *, as_json: bool) -> int:
    for env in connect.list_for(container.db, actor):
        if env.name == name or str(env.id) == name:
            return env.id
    return fail(f"no environment named {name!r}", as_json=as_json)


@env_app.command("list")
def env_list(tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """The tenant's environments, primary first."""
    container, actor = _actor(tenant, as_json=as_json)
    try:
        envs = run(lambda: connect.list_for(container.db, actor), as_json=as_json)
    finally:
        container.db.engine.dispose()
    if as_json:
        emit_json([connect.environment_dict(e) for e in envs])
        return
    emit_table(
        "Environments",
        ["id", "name", "prefix", "status", "branch names", "usernames", "visit IDs", "connected"],
        [
            (
                e.id,
                e.name + (" (primary)" if e.is_primary else ""),
                e.prefix or "—",
                "paused" if e.paused else e.status,
                e.branch_format or "unchanged",
                e.username_format or "unchanged",
                e.visit_id_format or "unchanged",
                e.connected_at or "",
            )
            for e in envs
        ],
    )


@env_app.command("connect")
def env_connect(
    name: Annotated[str, typer.Argument(help="The environment's name, e.g. SouthWest.")],
    prefix: Annotated[str, typer.Option("--prefix", help="Letters and digits, unique regardless of case.")],
    branch_format: Annotated[str, typer.Option("--branch-format")] = DEFAULT_BRANCH_FORMAT,
    username_format: Annotated[str, typer.Option("--username-format")] = DEFAULT_USERNAME_FORMAT,
    visit_id_format: Annotated[str, typer.Option("--visit-id-format")] = DEFAULT_VISIT_ID_FORMAT,
    from_tenant: Annotated[
        str | None, typer.Option("--from-tenant", help="The standalone tenant this environment had.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would change.")] = False,
    create_token: Annotated[bool, typer.Option("--create-token", help="Create its first API token.")] = False,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Connect a rostering environment (see what changes first with --dry-run)."""
    container, actor = _actor(tenant, as_json=as_json)
    try:
        plan = run(
            lambda: connect.do_connect_environment(
                container.db,
                actor,
                tenant_id=actor.tenant_id,
                name=name,
                prefix=prefix,
                branch_format=branch_format,
                username_format=username_format,
                visit_id_format=visit_id_format,
                source_tenant=from_tenant,
                dry_run=dry_run,
                create_token=create_token,
            ),
            as_json=as_json,
        )
    finally:
        container.db.engine.dispose()
    if as_json:
        emit_json(plan.as_dict())
        if dry_run and not plan.ok:
            raise typer.Exit(1)
        return
    _print_plan(plan)
    if dry_run and not plan.ok:
        raise typer.Exit(1)


def _print_plan(plan: connect.ConnectPlan) -> None:
    verb = "Dry run: nothing changed." if plan.dry_run else f"Connected {plan.name!r}."
    console.print(f"[bold]{verb}[/]")
    if plan.usernames:
        emit_table(
            "Usernames",
            ["name", "old username", "new username", "branch"],
            [(u.name, u.old_username, u.new_username, u.branch) for u in plan.usernames],
        )
    if plan.branches:
        emit_table("Branch names", ["old", "new"], [(b.old, b.new) for b in plan.branches])
    if plan.visit_ids:
        emit_table("Visit IDs", ["old", "new"], [(v.old, v.new) for v in plan.visit_ids[:50]])
        if len(plan.visit_ids) > 50:
            console.print(f"... and {len(plan.visit_ids) - 50} more visit IDs (--json lists them all)")
    if plan.devices:
        emit_table(
            "Devices to link again",
            ["device", "old username", "new username"],
            [(d.name, d.old_username, d.new_username) for d in plan.devices],
        )
    if plan.collisions:
        emit_table(
            "Collisions (block the connection)",
            ["field", "value", "why"],
            [(c.field, c.value, c.reason) for c in plan.collisions],
        )
    elif plan.dry_run:
        console.print("No collisions: run again without --dry-run to connect.")
    if plan.token:
        console.print(f"API token for {plan.name!r}:\n[bold]{plan.token}[/]\nStore it now; it is not shown again.")


@env_app.command("pause")
def env_pause(name: str, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """Pause publishing for an environment: roster changes are still stored."""
    container, actor = _actor(tenant, as_json=as_json)
    try:
        env = run(
            lambda: connect.do_pause_environment(container.db, actor, _env_id(container, actor, name, as_json=as_json)),
            as_json=as_json,
        )
    finally:
        container.db.engine.dispose()
    if as_json:
        emit_json(connect.environment_dict(env))
    else:
        console.print(f"Environment {env.name!r} is paused: roster changes are stored, nothing publishes.")


@env_app.command("resume")
def env_resume(name: str, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """Resume an environment: a reconcile catches up and reports what it published."""
    container, actor = _actor(tenant, as_json=as_json)
    try:
        done = run(
            lambda: connect.do_resume_environment(
                container.db, actor, _env_id(container, actor, name, as_json=as_json)
            ),
            as_json=as_json,
        )
    finally:
        container.db.engine.dispose()
    if as_json:
        emit_json(done.as_dict())
    else:
        console.print(
            f"Environment {done.environment.name!r} resumed: {done.published['changes']} change(s) published."
        )


@env_app.command("login-changes")
def env_login_changes(
    name: str,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the CSV here (default: stdout).")] = None,
    tenant: TenantOpt = None,
) -> None:
    """Staff login changes as CSV: name, old username, new username, branch."""
    container, actor = _actor(tenant, as_json=False)
    try:
        changes = run(
            lambda: connect.login_changes(container.db, actor, _env_id(container, actor, name, as_json=False))
        )
    finally:
        container.db.engine.dispose()
    text = connect.login_changes_csv(changes)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"{len(changes)} login(s) written to {output}")
