"""``carehub mobile``: link codes, linked devices and their last successful sync, unlinking."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from carehub import bootstrap
from carehub.platform.auth.actor import SYSTEM
from carehub.platform.cli_support import console, emit_json, emit_table, fail, run
from carehub.platform.clock import utc_now
from carehub.publishing.mobile import retention
from carehub.publishing.mobile import service as mobile
from carehub.tenancy import service as tenancy

mobile_app = typer.Typer(help="Workers' devices: link codes, devices and their syncs.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
TenantOpt = Annotated[str | None, typer.Option("--tenant", help="Tenant name (default: the only tenant).")]
EnvOpt = Annotated[int | None, typer.Option("--environment", help="Environment id (default: the primary)")]


@contextmanager
def _environment(
    tenant: str | None, environment: int | None, *, as_json: bool
) -> Iterator[tuple[bootstrap.Container, tenancy.EnvironmentInfo]]:
    """The container and the environment asked for; database connections close afterwards."""
    container = bootstrap.build()
    try:
        if tenant:
            found = tenancy.find_tenant(container.db, tenant)
            if found is None:
                fail(f"no tenant named {tenant!r}", as_json=as_json)
        else:
            tenants = tenancy.list_tenants(container.db)
            if len(tenants) != 1:
                fail(f"{len(tenants)} tenants exist; choose one with --tenant", as_json=as_json)
            found = tenants[0]
        t = found
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
        yield container, env
    finally:
        container.db.engine.dispose()


@mobile_app.command("link-code")
def link_code(
    worker_id: Annotated[str, typer.Argument(help="The rostering system's id of the worker")],
    environment: EnvOpt = None,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue a one-time code for a worker to link their device (shown once, valid 15 minutes)."""
    with _environment(tenant, environment, as_json=as_json) as (container, env):
        issued = run(lambda: mobile.do_issue_link_code(container.db, SYSTEM, env.id, worker_id), as_json=as_json)
    if as_json:
        emit_json(issued.as_dict())
        return
    console.print(
        f"Link code for {issued.worker_name} (username [bold]{issued.username}[/]): [bold]{issued.code}[/]\n"
        f"It works once, until {issued.expires_at:%H:%M} UTC, and is not shown again."
    )


@mobile_app.command("devices")
def devices(
    stale: Annotated[bool, typer.Option("--stale", help="Only devices not synced in the last 30 minutes.")] = False,
    include_revoked: Annotated[bool, typer.Option("--all", help="Also list unlinked devices.")] = False,
    environment: EnvOpt = None,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List linked devices with their last successful sync."""
    now = utc_now()
    with _environment(tenant, environment, as_json=as_json) as (container, env):
        found = (
            mobile.stale_devices(container.db, env.id, now)
            if stale
            else mobile.list_devices(container.db, env.id, include_revoked=include_revoked)
        )
    if as_json:
        emit_json([d.as_dict(now) for d in found])
        return
    emit_table(
        "Devices",
        ["id", "worker", "username", "device", "linked (UTC)", "last successful sync (UTC)", "state"],
        [
            (
                d.id,
                f"{d.worker_name} ({d.worker_external_id})",
                d.username,
                d.name,
                f"{d.linked_at:%Y-%m-%d %H:%M}",
                f"{d.last_sync_at:%Y-%m-%d %H:%M}" if d.last_sync_at else "never",
                "unlinked" if d.revoked_at else "NOT SYNCED 30 MIN" if d.is_stale(now) else "ok",
            )
            for d in found
        ],
    )


@mobile_app.command("revoke")
def revoke(
    device_id: Annotated[
        int, typer.Argument(min=1, max=2**63 - 1, help="The device id (see 'carehub mobile devices')")
    ],
    environment: EnvOpt = None,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Unlink a device: its token stops working at once."""
    with _environment(tenant, environment, as_json=as_json) as (container, env):
        device = run(lambda: mobile.do_revoke_device(container.db, SYSTEM, env.id, device_id), as_json=as_json)
    if as_json:
        emit_json(device.as_dict(utc_now()))
        return
    console.print(f"Device {device.id} ({device.name} of {device.worker_name}) is unlinked.")


@mobile_app.command("prune-syncs")
def prune_syncs(
    days: Annotated[
        int | None,
        typer.Option(
            "--older-than-days",
            help="Delete syncs older than this many days (default: CAREHUB_MOBILE_SYNC_RETENTION_DAYS, 30).",
        ),
    ] = None,
    batch: Annotated[int, typer.Option("--batch", help="Rows deleted per transaction.")] = retention.BATCH,
    as_json: JsonOpt = False,
) -> None:
    """Delete old device sync rows (every tenant); each device's latest sync is always kept."""
    container = bootstrap.build()
    try:
        keep = container.settings.mobile_sync_retention_days if days is None else days
        result = run(lambda: retention.prune_syncs(container.db, keep, batch=batch), as_json=as_json)
    finally:
        container.db.engine.dispose()
    if as_json:
        emit_json(result.as_dict())
        return
    console.print(result.line()[0].upper() + result.line()[1:] + ".")
