"""The ``carehub`` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from carehub import bootstrap
from carehub.demo.cli import demo_app
from carehub.platform import schema
from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import SYSTEM, Role, TokenScope
from carehub.platform.cli_support import console, emit_json, emit_table, fail, run
from carehub.platform.delivery.cli import deliveries_app
from carehub.publishing import cli as publishing_cli
from carehub.publishing.mobile.cli import mobile_app
from carehub.roster.domain.kinds import RecordKind
from carehub.roster.service import queries
from carehub.roster.service.imports import do_import_file
from carehub.tenancy import service as tenancy
from carehub.tenancy.access import cli as access_cli
from carehub.tenancy.cli import env_app
from carehub.tenancy.forms.cli import forms_app, services_app

app = typer.Typer(help="Carehub: open, immediate, explainable home-care integration.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(help="Users who sign in to the web UI.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for rostering systems.", no_args_is_help=True)
tenant_app = typer.Typer(help="Tenants.", no_args_is_help=True)
roster_app = typer.Typer(help="Roster records and files.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(tenant_app, name="tenant")
app.add_typer(roster_app, name="roster")
app.add_typer(demo_app, name="demo")
app.add_typer(publishing_cli.app)  # explain, status and publishing ...
app.add_typer(mobile_app, name="mobile")
app.add_typer(deliveries_app, name="deliveries")
app.add_typer(env_app, name="env")
app.add_typer(forms_app, name="forms")
app.add_typer(services_app, name="services")
user_app.add_typer(access_cli.app)  # user grant, revoke, set-role, deactivate

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
TenantOpt = Annotated[str | None, typer.Option("--tenant", help="Tenant name (default: the only tenant).")]


_built: list[bootstrap.Container] = []


def _dispose_built() -> None:
    while _built:
        _built.pop().db.engine.dispose()


@app.callback()
def _close_connections_when_done(ctx: typer.Context) -> None:
    # Every command's database connections close when it ends, whether it succeeds or fails.
    ctx.call_on_close(_dispose_built)


def _container() -> bootstrap.Container:
    """The container for this command; its database connections close when the command ends."""
    container = bootstrap.build()
    _built.append(container)
    return container


def _tenant(container: bootstrap.Container, name: str | None, *, as_json: bool = False) -> tenancy.TenantInfo:
    if name:
        found = tenancy.find_tenant(container.db, name)
        if found is None:
            fail(f"no tenant named {name!r}", as_json=as_json)
        return found
    tenants = tenancy.list_tenants(container.db)
    if len(tenants) != 1:
        fail(
            f"{len(tenants)} tenants exist; choose one with --tenant"
            if tenants
            else "no tenant yet: run 'carehub tenant create'",
            as_json=as_json,
        )
    return tenants[0]


def _environment(
    container: bootstrap.Container, t: tenancy.TenantInfo, environment: int | None, *, as_json: bool = False
) -> tenancy.EnvironmentInfo:
    """The environment asked for (default: the tenant's primary); another tenant's is not found."""
    env = run(
        lambda: (
            tenancy.get_environment(container.db, environment)
            if environment
            else tenancy.primary_environment(container.db, t.id)
        ),
        as_json=as_json,
    )
    if env.tenant_id != t.id:
        fail(f"environment {env.id} is not in tenant {t.name!r}", as_json=as_json)
    return env


@db_app.command("upgrade")
def db_upgrade(as_json: JsonOpt = False) -> None:
    """Create or migrate the database schema to the newest version."""
    container = _container()
    before = schema.current_revision(container.db.engine)
    schema.upgrade(container.db.engine)
    after = schema.current_revision(container.db.engine)
    if as_json:
        emit_json({"database": container.db.dialect, "revision": after, "previous": before})
        return
    console.print(f"Database at revision {after} ({container.db.dialect}).")


@tenant_app.command("create")
def tenant_create(
    name: str, timezone: Annotated[str, typer.Option(help="IANA time zone")] = "Europe/London", as_json: JsonOpt = False
) -> None:
    """Create a tenant with its primary environment."""
    container = _container()
    tenant, env = run(
        lambda: tenancy.do_create_tenant(container.db, SYSTEM, name=name, timezone=timezone), as_json=as_json
    )
    if as_json:
        emit_json({"tenant": {"id": tenant.id, "name": tenant.name}, "primary_environment": env.id})
    else:
        console.print(f"Tenant {tenant.name!r} created (id {tenant.id}); primary environment id {env.id}.")


@user_app.command("create")
def user_create(
    username: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    role: Annotated[Role, typer.Option()] = Role.ADMIN,
    name: Annotated[str | None, typer.Option(help="Display name")] = None,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a user who can sign in."""
    container = _container()
    t = _tenant(container, tenant, as_json=as_json)
    user = run(
        lambda: auth.do_create_user(
            container.db, SYSTEM, tenant_id=t.id, username=username, password=password, role=role, display_name=name
        ),
        as_json=as_json,
    )
    if as_json:
        emit_json({"id": user.id, "username": user.username, "role": user.role.value})
    else:
        console.print(f"User {user.username!r} created with role {user.role.value}.")


@user_app.command("list")
def user_list(tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """List users with their role and the branches they see."""
    container = _container()
    access_cli.list_rows(container, _tenant(container, tenant, as_json=as_json).id, as_json=as_json)


@user_app.command("set-password")
def user_set_password(
    username: str, password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)]
) -> None:
    """Replace a user's password."""
    container = _container()
    run(lambda: auth.do_set_password(container.db, SYSTEM, username, password))
    console.print("Password changed.")


@token_app.command("create")
def token_create(
    name: str,
    environment: Annotated[int | None, typer.Option(help="Environment id (default: the primary)")] = None,
    admin: Annotated[
        bool,
        typer.Option(
            "--admin",
            help="A tenant administrator's automation token: acts as a tenant administrator over the whole API "
            "(default: a roster token, the rostering system's credential for its environment only).",
        ),
    ] = False,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API token for one environment. The secret is shown once."""
    container = _container()
    t = _tenant(container, tenant, as_json=as_json)
    env = _environment(container, t, environment, as_json=as_json)
    scope = TokenScope.ADMIN if admin else TokenScope.ROSTER
    info, secret = run(
        lambda: auth.do_create_token(
            container.db, SYSTEM, tenant_id=t.id, environment_id=env.id, name=name, scope=scope
        ),
        as_json=as_json,
    )
    if as_json:
        emit_json(
            {"id": info.id, "name": info.name, "environment_id": env.id, "scope": info.scope.value, "token": secret}
        )
    else:
        console.print(
            f"{info.scope.value.capitalize()} token {info.id} for environment {env.name!r}:\n[bold]{secret}[/]\n"
            "Store it now; it is not shown again."
        )


@token_app.command("list")
def token_list(tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """List API tokens (never their secrets)."""
    container = _container()
    tokens = auth.list_tokens(container.db, _tenant(container, tenant, as_json=as_json).id)
    if as_json:
        emit_json(
            [
                {
                    "id": t.id,
                    "name": t.name,
                    "environment_id": t.environment_id,
                    "scope": t.scope.value,
                    "prefix": t.display_prefix,
                    "last_used_at": t.last_used_at,
                    "revoked_at": t.revoked_at,
                }
                for t in tokens
            ]
        )
    else:
        emit_table(
            "API tokens",
            ["id", "name", "environment", "scope", "prefix", "last used", "revoked"],
            [
                (t.id, t.name, t.environment_id, t.scope.value, t.display_prefix, t.last_used_at, t.revoked_at)
                for t in tokens
            ],
        )


@token_app.command("revoke")
def token_revoke(token_id: int, as_json: JsonOpt = False) -> None:
    """Revoke an API token; it stops working at once."""
    container = _container()
    info = run(lambda: auth.do_revoke_token(container.db, SYSTEM, token_id), as_json=as_json)
    if as_json:
        emit_json({"id": info.id, "name": info.name, "revoked_at": info.revoked_at})
    else:
        console.print(f"Token {token_id} revoked.")


def _record_kind(plural: str, *, as_json: bool) -> RecordKind:
    try:
        return RecordKind.from_plural(plural)
    except ValueError as exc:
        fail(str(exc), as_json=as_json)


@roster_app.command("import")
def roster_import(
    kind: Annotated[str, typer.Argument(help="branches, groups, contracts, clients, workers, plan-visits or visits")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    environment: Annotated[int | None, typer.Option(help="Environment id (default: the primary)")] = None,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a CSV or JSON-lines file of one record kind, all or nothing per file."""
    container = _container()
    record_kind = _record_kind(kind, as_json=as_json)
    t = _tenant(container, tenant, as_json=as_json)
    env = _environment(container, t, environment, as_json=as_json)
    size = file.stat().st_size
    with (
        file.open("rb") as stream,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=as_json,
        ) as progress,
    ):
        task = progress.add_task(f"Importing {file.name}", total=None)

        def advance(n: int) -> None:
            progress.update(task, advance=n)

        report = run(
            lambda: do_import_file(container.db, SYSTEM, env.id, record_kind, stream, file.name, advance),
            as_json=as_json,
        )
    if as_json:
        emit_json(report.as_dict())
        return
    console.print(
        f"{file.name} ({size:,} bytes): read {report.read:,}, created {report.created:,}, updated {report.updated:,}, "
        f"unchanged {report.unchanged:,}, rejected {report.rejected:,} in {report.seconds:.1f}s"
    )
    for e in report.errors[:20]:
        console.print(f"  line {e['line']}: {e['id']} {e['field']}={e['value']!r}: {e['reason']}")


@roster_app.command("history")
def roster_history(
    kind: Annotated[str, typer.Argument(help="branches, groups, contracts, clients, workers, plan-visits or visits")],
    record_id: Annotated[str, typer.Argument(metavar="ID", help="The rostering system's id of the record")],
    environment: Annotated[int | None, typer.Option(help="Environment id (default: the primary)")] = None,
    views: Annotated[bool, typer.Option("--views", help="Also list who opened the record.")] = False,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show who changed a record, what and when, newest first."""
    container = _container()
    record_kind = _record_kind(kind, as_json=as_json)
    t = _tenant(container, tenant, as_json=as_json)
    env = _environment(container, t, environment, as_json=as_json)
    entries = run(
        lambda: queries.record_history(container.db, env.id, record_kind, record_id, include_views=views),
        as_json=as_json,
    )
    if as_json:
        emit_json({"kind": record_kind.value, "id": record_id, "entries": [e.as_dict() for e in entries]})
        return
    emit_table(
        f"History of {record_kind.value.replace('_', ' ')} {record_id}",
        ["when (UTC)", "action", "who", "changes"],
        [
            (
                e.at.strftime("%Y-%m-%d %H:%M:%S"),
                e.action,
                e.actor_label,
                "\n".join(f"{f}: {c['before']!r} -> {c['after']!r}" for f, c in e.changes.items()),
            )
            for e in entries
        ],
    )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Run the web UI and API."""
    import uvicorn  # noqa: PLC0415 - only the server needs it

    from carehub.app import create_app  # noqa: PLC0415 - the web stack loads only for serve

    container = _container()
    schema.upgrade(container.db.engine)
    host = host or container.settings.host
    port = port or container.settings.port
    console.print(f"Carehub: open [bold]http://{host}:{port}[/] and sign in.")
    uvicorn.run(
        create_app(container),
        host=host,
        port=port,
        log_level="info",
        access_log=False,
    )


@app.command()
def worker(
    once: Annotated[bool, typer.Option("--once", help="Deliver what is due and run due jobs, then exit.")] = False,
    concurrency: Annotated[int, typer.Option(min=1, max=2000, help="Requests in flight, all subscribers.")] = 64,
    per_subscription: Annotated[int, typer.Option(min=1, max=2000, help="Requests in flight to one subscriber.")] = 16,
    timeout: Annotated[float, typer.Option(min=0.1, max=600, help="Seconds a request may take.")] = 10.0,
    lease: Annotated[float, typer.Option(min=1, help="Seconds a claim holds (> 2 x timeout).")] = 120.0,
    retry_base: Annotated[float, typer.Option(min=0, help="Seconds before the first retry (doubling).")] = 30.0,
    retry_max: Annotated[float, typer.Option(min=0, help="Longest wait between retries, seconds.")] = 3600.0,
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Deliveries claimed at once per subscriber.")] = 2000,
) -> None:
    """Deliver outbox events to webhook subscribers and run due periodic jobs, until SIGTERM or SIGINT."""
    import logging  # noqa: PLC0415 - only the worker logs to the console

    from carehub.platform.delivery import worker as delivery  # noqa: PLC0415 - the worker loads only for worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = delivery.WorkerConfig(
            concurrency=concurrency,
            per_subscription=per_subscription,
            timeout=timeout,
            lease=lease,
            retry_base=retry_base,
            retry_max=retry_max,
            claim_batch=batch,
        ).check()
    except ValueError as exc:
        fail(str(exc))
    container = _container()
    stats = delivery.serve(container.db, config, once=once)
    console.print(f"Carehub worker stopped: {stats.line()}.")


def main() -> None:
    """Entry point of the ``carehub`` script."""
    app()
