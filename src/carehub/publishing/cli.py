"""Publishing commands: ``carehub explain``, ``carehub status`` and ``carehub publishing ...``.

Registered on the root ``carehub`` app without a name, so ``explain`` and
``status`` are top-level commands and the rest sits under ``publishing``.
Commands act as Carehub itself (the operator with database access), like the
other administration commands; every change is audited under that name.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated, Any

import typer

# Typer vendors Click (typer._click) and raises its UsageError: catch that one, not the click package's.
from typer._click.core import Context as ClickContext
from typer._click.exceptions import UsageError
from typer.core import TyperCommand

from carehub import bootstrap
from carehub.platform.auth.actor import SYSTEM
from carehub.platform.cli_support import console, emit_json, emit_table, fail, run
from carehub.platform.errors import CarehubError, NotFound
from carehub.publishing.service import config, explain, status
from carehub.publishing.service.runs import RunResult
from carehub.tenancy import service as tenancy

app = typer.Typer()
publishing_app = typer.Typer(help="Publishing to care planning: contracts, schedules, reconcile.", no_args_is_help=True)
contracts_app = typer.Typer(help="Monitored contracts: records on them publish.", no_args_is_help=True)
app.add_typer(publishing_app, name="publishing")
publishing_app.add_typer(contracts_app, name="contracts")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
TenantOpt = Annotated[str | None, typer.Option("--tenant", help="Tenant name (default: the only tenant).")]
EnvOpt = Annotated[int | None, typer.Option("--environment", help="Environment id (default: the primary).")]
PreviewOpt = Annotated[bool, typer.Option("--preview", help="Show what would change; change nothing.")]
KINDS = ("client", "worker", "visit", "plan-visit")
CHANGES = ("published", "updated", "cancelled", "deactivated", "ended")
# ``carehub status`` exits like a monitoring plugin (Nagios, Icinga, Sensu): 0 OK, 1 WARNING, 2 CRITICAL, and
# 3 UNKNOWN for anything that kept it from telling (database unreachable, unknown tenant, bad option, a bug).
EXIT_CODES = {status.Health.OK: 0, status.Health.WARNING: 1, status.Health.FAILING: 2}
UNKNOWN = 3


@contextmanager
def _container() -> Iterator[bootstrap.Container]:
    """The container for one command; its database connections close when the command ends."""
    container = bootstrap.build()
    try:
        yield container
    finally:
        container.db.engine.dispose()


def _resolve_environment(
    container: bootstrap.Container, tenant: str | None, environment: int | None
) -> tenancy.EnvironmentInfo:
    """The environment asked for (default: the only tenant's primary), as the root commands resolve it."""
    if tenant:
        found = tenancy.find_tenant(container.db, tenant)
        if found is None:
            raise NotFound(f"no tenant named {tenant!r}")
    else:
        tenants = tenancy.list_tenants(container.db)
        if len(tenants) != 1:
            raise CarehubError(
                f"{len(tenants)} tenants exist; choose one with --tenant"
                if tenants
                else "no tenant yet: run 'carehub tenant create'"
            )
        found = tenants[0]
    env = (
        tenancy.get_environment(container.db, environment)
        if environment
        else tenancy.primary_environment(container.db, found.id)
    )
    if env.tenant_id != found.id:
        raise CarehubError(f"environment {env.id} is not in tenant {found.name!r}")
    return env


def _environment(
    container: bootstrap.Container, tenant: str | None, environment: int | None, *, as_json: bool
) -> tenancy.EnvironmentInfo:
    """:func:`_resolve_environment`, or the error printed and exit 1."""
    return run(lambda: _resolve_environment(container, tenant, environment), as_json=as_json)


def _print_run(result: RunResult, *, preview: bool, what: str) -> None:
    verb = "would change" if preview else "changed"
    if not result.changes:
        console.print(f"{what}: nothing {'would change' if preview else 'changed'}.")
        return
    rows = [(kind, *(counts.get(c, 0) for c in CHANGES)) for kind, counts in result.counts.items() if counts]
    emit_table(f"{what}: {verb} {result.changes} record(s)", ["kind", *CHANGES], rows)
    for item in result.sample[:20]:
        console.print(f"  {item.kind} {item.id}: {item.change} ({item.state})")
    if result.changes > 20:
        console.print(f"  ... and {result.changes - 20} more")
    if preview:
        console.print("Preview only: nothing was changed.")


def _emit_run(result: RunResult, *, preview: bool, what: str, as_json: bool) -> None:
    if as_json:
        emit_json({"preview": preview, **result.as_dict()})
    else:
        _print_run(result, preview=preview, what=what)


def _split_ids(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


@app.command("explain")
def explain_command(
    kind: Annotated[str, typer.Argument(help="client, worker, visit or plan-visit")],
    record_id: Annotated[str, typer.Argument(metavar="ID", help="The rostering system's id of the record")],
    environment: EnvOpt = None,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Does a record publish to care planning, and if not, which rule fails and how to fix it."""
    if kind not in KINDS:
        fail(f"unknown record kind {kind!r}: expected client, worker, visit or plan-visit", as_json=as_json)
    with _container() as container:
        env = _environment(container, tenant, environment, as_json=as_json)
        answer = run(lambda: explain.do_explain(container.db, SYSTEM, env.id, kind, record_id), as_json=as_json)
    if as_json:
        emit_json(answer.as_dict())
        return
    noun = kind.replace("-", " ")
    verdict = "[green]publishes[/]" if answer.publishes else "[red]does not publish[/]"
    console.print(f"{noun.capitalize()} [bold]{answer.id}[/] {verdict}.")
    if answer.published:
        console.print(f"In care planning now: {answer.published}.")
    for note in answer.notes:
        console.print(f"[yellow]Note:[/] {note}")
    for line in answer.info:
        console.print(line)
    for c in answer.checks:
        mark = "[green]passed[/]" if c.passed else "[bold red]FAILED[/]"
        console.print(f"\n{mark} [bold]{c.rule}[/]", highlight=False)
        console.print(f"  {c.detail}", highlight=False, soft_wrap=True)
        if c.fix:
            console.print(f"  [bold]fix:[/] {c.fix}", highlight=False, soft_wrap=True)


class _StatusUsageError(UsageError):
    """A usage error of ``carehub status``: exits 3 (UNKNOWN), not click's 2, which would read as CRITICAL."""

    exit_code = UNKNOWN


class _StatusCommand(TyperCommand):
    """``carehub status``, whose every exit code is a monitoring state (see :data:`EXIT_CODES`)."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: ClickContext | None = None, **extra: Any
    ) -> ClickContext:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except UsageError as exc:
            raise _StatusUsageError(exc.message, exc.ctx) from exc


@app.command("status", cls=_StatusCommand)
def status_command(environment: EnvOpt = None, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """Publishing health, with reasons. Exits 0 OK, 1 WARNING, 2 CRITICAL (failing), 3 UNKNOWN (could not tell)."""
    raise typer.Exit(_status(environment, tenant, as_json=as_json))


def _status(environment: int | None, tenant: str | None, *, as_json: bool) -> int:
    """Check and print health; the exit code. Any error, expected or not, is UNKNOWN (3), never a health state."""
    try:
        with _container() as container:
            env = _resolve_environment(container, tenant, environment)
            found = status.status_of(container.db, env.id)
        if as_json:
            emit_json(found.as_dict())
        else:
            _print_status(found)
        return EXIT_CODES[found.health]
    except CarehubError as exc:
        _unknown(exc.message, [e.as_dict() for e in exc.errors], as_json=as_json)
    except Exception as exc:  # noqa: BLE001 - whatever went wrong, the answer is UNKNOWN, not a state
        _unknown(status.unknown_reason(exc), as_json=as_json)
    return UNKNOWN


def _unknown(message: str, errors: list[dict[str, Any]] | None = None, *, as_json: bool) -> None:
    """Say that health could not be checked (``health: unknown``)."""
    if as_json:
        emit_json({"health": "unknown", "error": {"message": message, "errors": errors or []}})
    else:
        console.print(f"Health: [bold magenta]UNKNOWN[/] - could not check: {message}", highlight=False)


def _print_status(found: status.Status) -> None:
    colour = {status.Health.OK: "green", status.Health.WARNING: "yellow", status.Health.FAILING: "red"}[found.health]
    console.print(f"Health: [bold {colour}]{found.health.value.upper()}[/]")
    for r in found.reasons:
        console.print(f"  [{colour}]{r.level.value}[/] {r.code}: {r.message}\n      fix: {r.fix}")
    console.print(
        f"Last export: {_when(found.last_export_at)} · last reconcile: {_when(found.last_reconcile_at)} "
        f"(every {_minutes(found.reconcile_every_minutes)}) · monitored contracts: {found.monitored_contracts}"
    )
    console.print(
        f"Deliveries: {found.events.pending} pending, {found.events.dead} dead-lettered · devices: {len(found.devices)}"
    )
    emit_table(
        "Published records by state",
        ["kind", *status.STATES],
        [(kind, *(counts.get(s, 0) for s in status.STATES)) for kind, counts in found.statistics.items()],
    )
    if found.devices:
        emit_table(
            "Devices",
            ["device", "worker", "username", "last successful sync", "stale"],
            [
                (d.name, d.worker_name, d.username, _when(d.last_sync_at), "yes" if d.stale else "")
                for d in found.devices
            ],
        )


def _when(value: Any) -> str:
    return "never" if value is None else value.isoformat(timespec="minutes")


def _minutes(value: int) -> str:
    hours, minutes = divmod(value, 60)
    return f"{hours} h" + (f" {minutes} min" if minutes else "") if hours else f"{minutes} min"


@contracts_app.command("list")
def contracts_list(environment: EnvOpt = None, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """List contracts; records on monitored ones publish to care planning."""
    with _container() as container:
        env = _environment(container, tenant, environment, as_json=as_json)
        rows = config.list_contracts(container.db, env.id)
    if as_json:
        emit_json(
            [
                {
                    "id": c.id,
                    "name": c.name,
                    "funder": c.funder,
                    "monitored": c.monitored,
                    "ticked_by": c.ticked_by,
                    "ticked_at": c.ticked_at,
                }
                for c in rows
            ]
        )
        return
    emit_table(
        "Contracts (records on monitored ones publish)",
        ["monitored", "id", "name", "funder"],
        [("yes" if c.monitored else "no", c.id, c.name, c.funder) for c in rows],
    )


def _set_monitored(
    ids: list[str], environment: int | None, tenant: str | None, *, monitored: bool, preview: bool, as_json: bool
) -> None:
    with _container() as container:
        env = _environment(container, tenant, environment, as_json=as_json)
        result = run(
            lambda: config.do_set_monitored(container.db, SYSTEM, env.id, ids, monitored=monitored, preview=preview),
            as_json=as_json,
        )
    what = f"{'Ticked' if monitored else 'Unticked'} {', '.join(ids)}"
    _emit_run(result, preview=preview, what=what, as_json=as_json)


ContractIds = Annotated[list[str], typer.Argument(metavar="ID...", help="Contract ids of the rostering system")]


@contracts_app.command("tick")
def contracts_tick(
    contract_ids: ContractIds,
    preview: PreviewOpt = False,
    environment: EnvOpt = None,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Monitor contracts: their clients, workers, visits and care plans start publishing."""
    _set_monitored(contract_ids, environment, tenant, monitored=True, preview=preview, as_json=as_json)


@contracts_app.command("untick")
def contracts_untick(
    contract_ids: ContractIds,
    preview: PreviewOpt = False,
    environment: EnvOpt = None,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stop monitoring contracts: what published only through them is deactivated in care planning."""
    _set_monitored(contract_ids, environment, tenant, monitored=False, preview=preview, as_json=as_json)


@publishing_app.command("schedule")
def schedule(
    groups: Annotated[str, typer.Option("--groups", help="Group ids, comma-separated: G1,G2")],
    until: Annotated[str, typer.Option("--until", help="Publish date YYYY-MM-DD, at most 14 days ahead")],
    preview: PreviewOpt = False,
    environment: EnvOpt = None,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Publish groups' visits up to a date (at most 14 days ahead)."""
    try:
        publish_until = date.fromisoformat(until.strip())
    except ValueError:
        fail(f"--until {until!r} is not a date like 2025-03-14", as_json=as_json)
    group_ids = _split_ids(groups)
    if not group_ids:
        fail("--groups needs at least one group id, e.g. --groups G1,G2", as_json=as_json)
    with _container() as container:
        env = _environment(container, tenant, environment, as_json=as_json)
        result = run(
            lambda: config.do_publish_schedule(container.db, SYSTEM, env.id, group_ids, publish_until, preview=preview),
            as_json=as_json,
        )
    what = f"Publish {', '.join(group_ids)} until {publish_until.isoformat()}"
    _emit_run(result, preview=preview, what=what, as_json=as_json)


@publishing_app.command("reconcile")
def reconcile(
    preview: PreviewOpt = False, environment: EnvOpt = None, tenant: TenantOpt = None, as_json: JsonOpt = False
) -> None:
    """Run a full reconcile now: publish what is due and repair any drift."""
    with _container() as container:
        env = _environment(container, tenant, environment, as_json=as_json)
        result = run(lambda: config.do_reconcile(container.db, SYSTEM, env.id, preview=preview), as_json=as_json)
    _emit_run(result, preview=preview, what="Reconcile", as_json=as_json)
