"""Forms and services pages: the forms list, a form's editor with its version history, services and branches.

Thin: each handler reads the signed-in user (staff only) and calls one function
of :mod:`carehub.tenancy.forms.service`, which scopes reads to the user's
branches and refuses edits by anyone but a tenant administrator. The editor
posts every field row (``f-<n>-key``, ``-label``, ``-type``, ``-required``,
``-choices``, ``-remove``); "Add a field" re-renders it with a blank row and
saves nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from carehub.platform.auth.actor import Actor
from carehub.platform.errors import CarehubError, InvalidInput, PermissionDenied, RecordError
from carehub.platform.web import templating
from carehub.platform.web.deps import ContainerDep, PageActor
from carehub.platform.web.shell import check_csrf
from carehub.tenancy import service as tenancy
from carehub.tenancy.forms import service as forms
from carehub.tenancy.forms.domain.definitions import FIELD_TYPES, MAX_FIELDS

router = APIRouter(include_in_schema=False)
forms_pages = APIRouter()
service_pages = APIRouter()  # registered first: /forms/services is not a form
HERE = Path(__file__).parent
templating.add_template_dir(HERE / "templates")
STYLESHEET = HERE / "static" / "forms.css"

FORMS = "/forms"
SERVICES = "/forms/services"
MAX_FIELD = 2000
BLANK = {"key": "", "label": "", "type": "text", "required": False, "choices": ""}
KeyPath = Annotated[str, PathParam(min_length=1, max_length=60)]
IdPath = Annotated[int, PathParam(ge=1, le=2**31 - 1)]


def add_navigation() -> None:
    """Add the forms pages (services are one of their tabs) to the main navigation (once)."""
    templating.add_nav_item("Forms", FORMS, "file")  # services are a tab of the forms pages


def staff_page(request: Request, actor: PageActor, container: ContainerDep) -> Actor:
    """The signed-in staff member (care workers are refused); sets the shell's time zone and tenant."""
    forms.require_staff(actor)
    if actor.tenant_id is not None:
        env = tenancy.primary_environment(container.db, actor.tenant_id)
        request.state.timezone = env.timezone
        request.state.tenant_name = next(
            (t.name for t in tenancy.list_tenants(container.db) if t.id == actor.tenant_id), None
        )
    return actor


StaffActor = Annotated[Actor, Depends(staff_page)]


def _admin(actor: Actor) -> None:
    if not forms.can_edit(actor):
        raise PermissionDenied("forms, services and their branches are edited by tenant administrators")


@router.get("/forms/static/forms.css")
def stylesheet(actor: PageActor) -> FileResponse:
    """The forms pages' styles: for signed-in users, like the pages that use them."""
    del actor
    return FileResponse(STYLESHEET, media_type="text/css", headers={"Cache-Control": "private, max-age=3600"})


# --------------------------------------------------------------------------- forms


@forms_pages.get(FORMS)
def forms_page(
    request: Request,
    container: ContainerDep,
    actor: StaffActor,
    archived: Annotated[bool, Query()] = False,
    notice: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    found = forms.list_forms(container.db, actor, include_archived=archived)
    return templating.render(
        request,
        "forms/forms.html",
        {"forms": found, "archived": archived, "can_edit": forms.can_edit(actor), "notice": notice},
    )


def _rows_from(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "key": f.get("key", ""),
            "label": f.get("label", ""),
            "type": f.get("type", "text"),
            "required": bool(f.get("required")),
            "choices": "\n".join(f.get("choices", [])),
        }
        for f in fields
    ]


def _posted_rows(data: FormData) -> list[dict[str, Any]]:
    """The editor's rows as posted (trimmed, removed rows and blank rows left out)."""
    try:
        count = min(int(str(data.get("rows", "0"))), MAX_FIELDS + 20)
    except ValueError:
        count = 0
    rows = []
    for n in range(count):

        def value(name: str, n: int = n) -> str:
            return str(data.get(f"f-{n}-{name}", ""))[:MAX_FIELD]

        choices = value("choices")
        row: dict[str, Any] = {
            "key": value("key").strip(),
            "label": value("label").strip(),
            "type": value("type") or "text",
            "required": value("required") == "yes",
            "choices": choices,
        }
        if value("remove") == "yes" or not (row["key"] or row["label"] or choices.strip()):
            continue
        rows.append(row)
    return rows


def _definition(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        item: dict[str, Any] = {"key": r["key"], "label": r["label"], "type": r["type"], "required": r["required"]}
        if r["type"] == "choice":
            item["choices"] = [c.strip() for c in str(r["choices"]).splitlines() if c.strip()]
        out.append(item)
    return out


def _messages(exc: CarehubError) -> list[str]:
    out = []
    for e in exc.errors:
        where = str(e.field or "")
        if where.startswith("fields[") and "]" in where:
            index, _, rest = where[7:].partition("]")
            where = f"Field {int(index) + 1}" + (f" {rest.lstrip('.')}" if rest else "") if index.isdigit() else where
        value = "" if e.value is None else f" (you gave {str(e.value)[:80]!r})"
        out.append(f"{where}: expected {e.reason}{value}")
    return out or [exc.message]


def _editor(
    request: Request,
    *,
    form: forms.FormInfo | None,
    key: str,
    title: str,
    rows: list[dict[str, Any]],
    errors: list[str] | None = None,
    message: str | None = None,
    expected_version: int | None = None,
    status_code: int = 200,
    can_edit: bool = True,
    notice: str | None = None,
) -> Response:
    return templating.render(
        request,
        "forms/form.html",
        {
            "form": form,
            "key": key,
            "title": title,
            "rows": rows,
            "types": FIELD_TYPES,
            "errors": errors or [],
            "message": message,
            "expected_version": expected_version,
            "can_edit": can_edit,
            "notice": notice,
        },
        status_code=status_code,
    )


@forms_pages.get(FORMS + "/new")
def new_form_page(request: Request, actor: StaffActor) -> Response:
    _admin(actor)
    return _editor(request, form=None, key="", title="", rows=[dict(BLANK)])


@forms_pages.post(FORMS + "/new")
async def new_form_post(request: Request, container: ContainerDep, actor: StaffActor) -> Response:
    _admin(actor)
    data = await request.form()
    check_csrf(request, str(data.get("csrf", "")))
    key, title = str(data.get("key", ""))[:200].strip(), str(data.get("title", ""))[:400]
    rows = _posted_rows(data)
    if data.get("action") == "add":
        return _editor(request, form=None, key=key, title=title, rows=[*rows, dict(BLANK)])
    try:
        created = await run_in_threadpool(
            forms.do_create_form, container.db, actor, key=key, title=title, fields=_definition(rows)
        )
    except CarehubError as exc:
        return _editor(
            request,
            form=None,
            key=key,
            title=title,
            rows=rows or [dict(BLANK)],
            errors=_messages(exc),
            message=exc.message,
            status_code=exc.status,
        )
    return RedirectResponse(f"{FORMS}/{created.key}?saved=1", status_code=303)


@forms_pages.get(FORMS + "/{key}")
def form_page(
    request: Request,
    container: ContainerDep,
    actor: StaffActor,
    key: KeyPath,
    saved: Annotated[bool, Query()] = False,
) -> Response:
    form = forms.get_form(container.db, actor, key)
    notice = f"Saved: version {form.current_version} is what every branch seeing this form now gets." if saved else None
    return _editor(
        request,
        form=form,
        key=form.key,
        title=form.title,
        rows=_rows_from(form.current.fields if form.current else []),
        expected_version=form.current_version,
        can_edit=forms.can_edit(actor) and not form.archived,
        notice=notice,
    )


@forms_pages.post(FORMS + "/{key}")
async def form_post(request: Request, container: ContainerDep, actor: StaffActor, key: KeyPath) -> Response:
    form = await run_in_threadpool(forms.get_form, container.db, actor, key)
    _admin(actor)
    data = await request.form()
    check_csrf(request, str(data.get("csrf", "")))
    title = str(data.get("title", ""))[:400]
    rows = _posted_rows(data)
    try:
        expected = int(str(data.get("expected_version", ""))) or None
    except ValueError:
        expected = None
    if data.get("action") == "add":
        return _editor(
            request, form=form, key=form.key, title=title, rows=[*rows, dict(BLANK)], expected_version=expected
        )
    try:
        await run_in_threadpool(
            lambda: forms.do_update_form(
                container.db, actor, form.key, title=title, fields=_definition(rows), expected_version=expected
            )
        )
    except CarehubError as exc:
        return _editor(
            request,
            form=form,
            key=form.key,
            title=title,
            rows=rows or [dict(BLANK)],
            errors=_messages(exc),
            message=exc.message,
            expected_version=expected,
            status_code=exc.status,
        )
    return RedirectResponse(f"{FORMS}/{form.key}?saved=1", status_code=303)


@forms_pages.get(FORMS + "/{key}/versions/{version}")
def version_page(
    request: Request, container: ContainerDep, actor: StaffActor, key: KeyPath, version: IdPath
) -> Response:
    form = forms.get_form(container.db, actor, key)
    shown = forms.get_form_version(container.db, actor, key, version)
    return templating.render(request, "forms/version.html", {"form": form, "version": shown})


@forms_pages.post(FORMS + "/{key}/{action}")
def archive_or_restore(
    request: Request,
    container: ContainerDep,
    actor: StaffActor,
    key: KeyPath,
    action: str,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf)
    if action == "archive":
        forms.do_archive_form(container.db, actor, key)
        return RedirectResponse(f"{FORMS}?notice=Form+archived&archived=1", status_code=303)
    if action == "restore":
        forms.do_restore_form(container.db, actor, key)
        return RedirectResponse(f"{FORMS}/{key}", status_code=303)
    return RedirectResponse(f"{FORMS}/{key}", status_code=303)


# --------------------------------------------------------------------------- services


def _services(
    request: Request,
    container: ContainerDep,
    actor: Actor,
    *,
    notice: str | None = None,
    errors: list[str] | None = None,
    status_code: int = 200,
    archived: bool = False,
) -> Response:
    can_edit = forms.can_edit(actor)
    return templating.render(
        request,
        "forms/services.html",
        {
            "services": forms.list_services(container.db, actor, include_archived=archived and can_edit),
            "branches": forms.list_branches(container.db, actor),
            "all_forms": forms.list_forms(container.db, actor) if can_edit else [],
            "can_edit": can_edit,
            "notice": notice,
            "errors": errors or [],
            "archived": archived,
        },
        status_code=status_code,
    )


@service_pages.get(SERVICES)
def services_page(
    request: Request,
    container: ContainerDep,
    actor: StaffActor,
    archived: Annotated[bool, Query()] = False,
    notice: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    return _services(request, container, actor, notice=notice, archived=archived)


def _ints(values: list[str]) -> list[int]:
    out = []
    for v in values:
        try:
            out.append(int(v))
        except ValueError:
            continue
    return out


@service_pages.post(SERVICES)
def create_service(
    request: Request,
    container: ContainerDep,
    actor: StaffActor,
    name: Annotated[str, Form(max_length=400)] = "",
    form: Annotated[list[str] | None, Form()] = None,
    branch: Annotated[list[str] | None, Form()] = None,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf)
    _admin(actor)
    try:
        created = forms.do_create_service(
            container.db, actor, name=name, form_keys=form or [], branch_ids=_ints(branch or [])
        )
    except CarehubError as exc:
        return _services(request, container, actor, errors=_messages(exc), status_code=exc.status)
    return RedirectResponse(f"{SERVICES}/{created.id}?saved=1", status_code=303)


@service_pages.post(SERVICES + "/dedicated")
def create_dedicated(
    request: Request,
    container: ContainerDep,
    actor: StaffActor,
    branch: Annotated[str, Form(max_length=30)] = "",
    name: Annotated[str, Form(max_length=400)] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf)
    _admin(actor)
    try:
        ids = _ints([branch])
        if not ids:
            raise InvalidInput(
                "choose a branch", errors=[RecordError(None, None, "branch", branch, "a branch of this tenant")]
            )
        created = forms.do_create_dedicated_service(container.db, actor, ids[0], name=name.strip() or None)
    except CarehubError as exc:
        return _services(request, container, actor, errors=_messages(exc), status_code=exc.status)
    return RedirectResponse(f"{SERVICES}/{created.id}?saved=1", status_code=303)


def _service_page(
    request: Request,
    container: ContainerDep,
    actor: Actor,
    service: forms.ServiceInfo,
    *,
    notice: str | None = None,
    errors: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    can_edit = forms.can_edit(actor)
    return templating.render(
        request,
        "forms/service.html",
        {
            "service": service,
            "branches": forms.list_branches(container.db, actor),
            "all_forms": forms.list_forms(container.db, actor) if can_edit else [],
            "can_edit": can_edit and not service.archived,
            "is_admin": can_edit,
            "notice": notice,
            "errors": errors or [],
        },
        status_code=status_code,
    )


@service_pages.get(SERVICES + "/{service_id}")
def service_page(
    request: Request,
    container: ContainerDep,
    actor: StaffActor,
    service_id: IdPath,
    saved: Annotated[bool, Query()] = False,
) -> Response:
    service = forms.get_service(container.db, actor, service_id)
    notice = "Saved: every branch of this service now sees these forms." if saved else None
    return _service_page(request, container, actor, service, notice=notice)


@service_pages.post(SERVICES + "/{service_id}")
def update_service(
    request: Request,
    container: ContainerDep,
    actor: StaffActor,
    service_id: IdPath,
    name: Annotated[str, Form(max_length=400)] = "",
    form: Annotated[list[str] | None, Form()] = None,
    branch: Annotated[list[str] | None, Form()] = None,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf)
    service = forms.get_service(container.db, actor, service_id)
    _admin(actor)
    try:
        forms.do_update_service(
            container.db, actor, service_id, name=name, form_keys=form or [], branch_ids=_ints(branch or [])
        )
    except CarehubError as exc:
        return _service_page(request, container, actor, service, errors=_messages(exc), status_code=exc.status)
    return RedirectResponse(f"{SERVICES}/{service_id}?saved=1", status_code=303)


@service_pages.post(SERVICES + "/{service_id}/{action}")
def archive_or_restore_service(
    request: Request,
    container: ContainerDep,
    actor: StaffActor,
    service_id: IdPath,
    action: str,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf)
    if action == "archive":
        forms.do_archive_service(container.db, actor, service_id)
        return RedirectResponse(f"{SERVICES}?notice=Service+archived", status_code=303)
    if action == "restore":
        forms.do_restore_service(container.db, actor, service_id)
    return RedirectResponse(f"{SERVICES}/{service_id}", status_code=303)


router.include_router(service_pages)
router.include_router(forms_pages)
