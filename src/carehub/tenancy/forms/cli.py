"""``carehub forms`` and ``carehub services``: forms, their versions, services and the branches that see them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from carehub import bootstrap
from carehub.platform.auth.actor import SYSTEM, Actor
from carehub.platform.cli_support import console, emit_json, emit_table, fail, run
from carehub.tenancy import service as tenancy
from carehub.tenancy.forms import service as forms

forms_app = typer.Typer(help="Forms defined once for the tenant, versioned on every edit.", no_args_is_help=True)
services_app = typer.Typer(help="Services: sets of forms that branches see.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
TenantOpt = Annotated[str | None, typer.Option("--tenant", help="Tenant name (default: the only tenant).")]
T = TypeVar("T")


@contextmanager
def _session(tenant: str | None, *, as_json: bool) -> Iterator[tuple[bootstrap.Container, Actor]]:
    """The container and Carehub itself acting for the tenant; connections close at the end."""
    container = bootstrap.build()
    try:
        if tenant:
            found = tenancy.find_tenant(container.db, tenant)
            if found is None:
                fail(f"no tenant named {tenant!r}", as_json=as_json)
            yield container, replace(SYSTEM, tenant_id=found.id)
            return
        tenants = tenancy.list_tenants(container.db)
        if len(tenants) != 1:
            fail(f"{len(tenants)} tenants exist; choose one with --tenant", as_json=as_json)
        yield container, replace(SYSTEM, tenant_id=tenants[0].id)
    finally:
        container.db.engine.dispose()


def _call(tenant: str | None, as_json: bool, call: Callable[[bootstrap.Container, Actor], T]) -> T:
    with _session(tenant, as_json=as_json) as (container, actor):
        return run(lambda: call(container, actor), as_json=as_json)


def _print_form(f: forms.FormInfo) -> None:
    state = " (archived)" if f.archived else ""
    console.print(f"[bold]{f.title}[/] — key {f.key}, version {f.current_version}{state}")
    console.print("Services: " + (", ".join(s.name for s in f.services) or "none"))
    if f.current is not None:
        emit_table(
            f"Fields of {f.key}@{f.current_version}",
            ["#", "key", "label", "type", "required", "choices"],
            [
                (i, x["key"], x["label"], x["type"], "yes" if x["required"] else "", ", ".join(x.get("choices", [])))
                for i, x in enumerate(f.current.fields, 1)
            ],
        )


@forms_app.command("list")
def forms_list(
    branch: Annotated[int | None, typer.Option("--branch", help="Only the forms this branch id sees.")] = None,
    archived: Annotated[bool, typer.Option("--archived", help="Include archived forms.")] = False,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The tenant's forms (or one branch's), by title."""
    found = _call(tenant, as_json, lambda c, a: forms.list_forms(c.db, a, include_archived=archived, branch_id=branch))
    if as_json:
        emit_json([f.as_dict() for f in found])
        return
    emit_table(
        "Forms",
        ["key", "title", "version", "fields", "services", "archived"],
        [
            (
                f.key,
                f.title,
                f.current_version,
                len(f.current.fields) if f.current else 0,
                ", ".join(s.name for s in f.services),
                "yes" if f.archived else "",
            )
            for f in found
        ],
    )


@forms_app.command("show")
def forms_show(
    key: str,
    version: Annotated[int | None, typer.Option("--version", help="One version (default: the current one).")] = None,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A form: its fields and its version history."""
    if version is not None:
        v = _call(tenant, as_json, lambda c, a: forms.get_form_version(c.db, a, key, version))
        if as_json:
            emit_json(v.as_dict())
            return
        console.print(f"[bold]{v.title}[/] — {v.ref}, saved by {v.created_by} at {v.created_at:%Y-%m-%d %H:%M} UTC")
        emit_table(
            "Fields",
            ["#", "key", "label", "type", "required", "choices"],
            [
                (i, x["key"], x["label"], x["type"], "yes" if x["required"] else "", ", ".join(x.get("choices", [])))
                for i, x in enumerate(v.fields, 1)
            ],
        )
        return
    f = _call(tenant, as_json, lambda c, a: forms.get_form(c.db, a, key))
    if as_json:
        emit_json(f.as_dict(detail=True))
        return
    _print_form(f)
    emit_table(
        "Versions",
        ["version", "title", "fields", "saved by", "saved at (UTC)"],
        [(v.version, v.title, len(v.fields), v.created_by, f"{v.created_at:%Y-%m-%d %H:%M}") for v in f.versions],
    )


def _read_json(file: Path, *, as_json: bool) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"{file.name} is not JSON: {exc}", as_json=as_json)


@forms_app.command("import")
def forms_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help='{"forms": [...]}')],
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create or edit forms from a JSON file, all or nothing: each edit is a new version."""
    document = _read_json(file, as_json=as_json)
    outcomes = _call(tenant, as_json, lambda c, a: forms.do_import_forms(c.db, a, document))
    if as_json:
        emit_json({"forms": [o.as_dict() for o in outcomes]})
        return
    emit_table("Imported", ["key", "outcome", "version"], [(o.key, o.outcome, o.version) for o in outcomes])


@forms_app.command("export")
def forms_export(tenant: TenantOpt = None) -> None:
    """The tenant's live forms (current versions) as an import document, on stdout."""
    emit_json(_call(tenant, as_json=True, call=lambda c, a: forms.export_forms(c.db, a)))


@forms_app.command("archive")
def forms_archive(key: str, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """Archive a form: kept with its history, seen by no branch."""
    f = _call(tenant, as_json, lambda c, a: forms.do_archive_form(c.db, a, key))
    if as_json:
        emit_json(f.as_dict())
    else:
        console.print(f"Form {f.key!r} archived.")


@forms_app.command("restore")
def forms_restore(key: str, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """Restore an archived form."""
    f = _call(tenant, as_json, lambda c, a: forms.do_restore_form(c.db, a, key))
    if as_json:
        emit_json(f.as_dict())
    else:
        console.print(f"Form {f.key!r} restored.")


def _print_services(found: list[forms.ServiceInfo]) -> None:
    emit_table(
        "Services",
        ["id", "name", "forms", "branches", "dedicated to", "archived"],
        [
            (
                s.id,
                s.name,
                ", ".join(s.form_refs),
                ", ".join(f"{b.name} ({b.id})" for b in s.branches),
                s.dedicated_branch.name if s.dedicated_branch else "",
                "yes" if s.archived else "",
            )
            for s in found
        ],
    )


def _done(s: forms.ServiceInfo, message: str, *, as_json: bool) -> None:
    if as_json:
        emit_json(s.as_dict())
    else:
        console.print(message)
        _print_services([s])


@services_app.command("list")
def services_list(
    archived: Annotated[bool, typer.Option("--archived", help="Include archived services.")] = False,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The tenant's services with their forms and branches."""
    found = _call(tenant, as_json, lambda c, a: forms.list_services(c.db, a, include_archived=archived))
    if as_json:
        emit_json([s.as_dict() for s in found])
        return
    _print_services(found)


@services_app.command("show")
def services_show(service_id: int, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """One service."""
    s = _call(tenant, as_json, lambda c, a: forms.get_service(c.db, a, service_id))
    _done(s, f"Service {s.name!r}:", as_json=as_json)


@services_app.command("branches")
def services_branches(tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """The tenant's branches (ids to use with --branch) and their services."""
    found = _call(tenant, as_json, lambda c, a: forms.list_branches(c.db, a))
    if as_json:
        emit_json([b.as_dict() for b in found])
        return
    emit_table(
        "Branches",
        ["id", "name", "environment", "services"],
        [(b.id, b.name, b.environment, ", ".join(s.name for s in b.services)) for b in found],
    )


FormOpt = Annotated[list[str] | None, typer.Option("--form", help="A form key (repeat for more).")]
BranchOpt = Annotated[list[int] | None, typer.Option("--branch", help="A branch id (repeat for more).")]


@services_app.command("create")
def services_create(
    name: str, form: FormOpt = None, branch: BranchOpt = None, tenant: TenantOpt = None, as_json: JsonOpt = False
) -> None:
    """Create a service with its forms and branches."""
    s = _call(
        tenant,
        as_json,
        lambda c, a: forms.do_create_service(c.db, a, name=name, form_keys=form or [], branch_ids=branch or []),
    )
    _done(s, f"Service {s.name!r} created (id {s.id}).", as_json=as_json)


@services_app.command("update")
def services_update(
    service_id: int,
    name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    form: FormOpt = None,
    branch: BranchOpt = None,
    no_forms: Annotated[bool, typer.Option("--no-forms", help="Remove every form.")] = False,
    no_branches: Annotated[bool, typer.Option("--no-branches", help="Remove every branch.")] = False,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rename a service, or replace its forms (--form ...) or its branches (--branch ...)."""
    form_keys = [] if no_forms else form
    branch_ids = [] if no_branches else branch
    s = _call(
        tenant,
        as_json,
        lambda c, a: forms.do_update_service(
            c.db, a, service_id, name=name, form_keys=form_keys, branch_ids=branch_ids
        ),
    )
    _done(s, f"Service {s.name!r} updated.", as_json=as_json)


@services_app.command("dedicate")
def services_dedicate(
    branch_id: int,
    name: Annotated[str | None, typer.Option("--name", help="The service's name.")] = None,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Give a branch its own forms: a dedicated service, starting from the forms it sees now."""
    s = _call(tenant, as_json, lambda c, a: forms.do_create_dedicated_service(c.db, a, branch_id, name=name))
    _done(s, f"Service {s.name!r} is now the only service of its branch.", as_json=as_json)


@services_app.command("archive")
def services_archive(service_id: int, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """Archive a service: its branches stop seeing its forms through it."""
    s = _call(tenant, as_json, lambda c, a: forms.do_archive_service(c.db, a, service_id))
    _done(s, f"Service {s.name!r} archived.", as_json=as_json)
