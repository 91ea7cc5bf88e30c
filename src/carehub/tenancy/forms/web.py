"""Forms and services pages: the forms list, a form's editor with its version history, services and branches.

Thin: each handler reads the signed-in user (staff only) and calls one function
of :mod:`carehub.tenancy.forms.service`, which scopes reads to the user's
branches and refuses edits by anyone but a tenant administrator.

The new-form page posts every field row (``f-<n>-key``, ``-label``, ``-type``,
``-required``, ``-choices``, ``-remove``); "Add a field" re-renders it with a
blank row and saves nothing. An existing form is edited one change at a time
(title, add, edit, move up or down, remove a field), each a new version: with
htmx the answer is the page's ``#workspace`` swapped in place (a refusal too, as
a 200 fragment with each problem next to its input); without JavaScript a change
redirects back and a refusal re-renders the page with its status.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
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
from carehub.tenancy.forms import service as forms
from carehub.tenancy.forms.domain.definitions import FIELD_TYPES, MAX_FIELDS
from carehub.tenancy.web import with_shell

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
MOVES = {"up": -1, "down": 1}
INPUT_OF_PROBLEM = re.compile(r"fields\[(?P<row>\d+)\]\.(?P<attr>key|label|type|required|choices)(\[\d+\])?")


def add_navigation() -> None:
    """Add the forms pages (services are one of their tabs) to the main navigation (once)."""
    templating.add_nav_item("Forms", FORMS, "file")  # services are a tab of the forms pages


def staff_page(request: Request, actor: PageActor, container: ContainerDep) -> Actor:
    """The signed-in staff member (care workers are refused); sets the shell's time zone and tenant."""
    forms.require_staff(actor)
    return with_shell(request, container, actor)


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
    return [_row(f) for f in fields]


def _row(f: Mapping[str, Any]) -> dict[str, Any]:
    """A stored field as the editor's inputs show it (choices one per line)."""
    return {
        "key": f.get("key", ""),
        "label": f.get("label", ""),
        "type": f.get("type", "text"),
        "required": bool(f.get("required")),
        "choices": "\n".join(f.get("choices", [])),
    }


def _posted_row(data: FormData, prefix: str = "") -> dict[str, Any]:
    """One field's inputs as posted (``prefix``: ``f-<n>-`` on the new-form page), trimmed and bounded."""

    def value(name: str) -> str:
        return str(data.get(f"{prefix}{name}", ""))[:MAX_FIELD]

    return {
        "key": value("key").strip(),
        "label": value("label").strip(),
        "type": value("type") or "text",
        "required": value("required") == "yes",
        "choices": value("choices"),
    }


def _posted_rows(data: FormData) -> list[dict[str, Any]]:
    """The new-form page's rows as posted (removed rows and blank rows left out)."""
    try:
        count = min(int(str(data.get("rows", "0"))), MAX_FIELDS + 20)
    except ValueError:
        count = 0
    rows = []
    for n in range(count):
        row = _posted_row(data, f"f-{n}-")
        if data.get(f"f-{n}-remove") == "yes" or not (row["key"] or row["label"] or row["choices"].strip()):
            continue
        rows.append(row)
    return rows


def _field(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row of inputs as a field definition (choices only for choice fields)."""
    item: dict[str, Any] = {"key": row["key"], "label": row["label"], "type": row["type"], "required": row["required"]}
    if row["type"] == "choice":
        item["choices"] = [c.strip() for c in str(row["choices"]).splitlines() if c.strip()]
    return item


def _expected(data: FormData) -> int | None:
    try:
        return int(str(data.get("expected_version", ""))) or None
    except ValueError:
        return None


def _why(e: RecordError) -> str:
    value = "" if e.value is None else f" (you gave {str(e.value)[:80]!r})"
    return f"expected {e.reason}{value}"


def _messages(exc: CarehubError) -> list[str]:
    out = []
    for e in exc.errors:
        where = str(e.field or "")
        if where.startswith("fields[") and "]" in where:
            index, _, rest = where[7:].partition("]")
            where = f"Field {int(index) + 1}" + (f" {rest.lstrip('.')}" if rest else "") if index.isdigit() else where
        out.append(f"{where}: {_why(e)}")
    return out or [exc.message]


def _input_of(where: str, *, by_row: bool, editing: str | None) -> str | None:
    """The input a problem is shown next to (None: above the form).

    On the new-form page: ``<row>-<attribute>``, ``key`` or ``title``; on an existing form's page: the edited
    field's ``<attribute>``, or the ``title``.

    One field is edited at a time, so every ``fields[i].<attribute>`` problem is the edited field's (a duplicate key
    is reported at the other field, but it is the edited one that must change).
    """
    found = INPUT_OF_PROBLEM.fullmatch(where)
    if by_row:
        return f"{found['row']}-{found['attr']}" if found else (where if where in ("key", "title") else None)
    if found:
        return str(found["attr"]) if editing not in (None, "", "title") else None
    return "title" if where == "title" and editing == "title" else None


def _inline(exc: CarehubError, *, by_row: bool, editing: str | None) -> tuple[dict[str, str], list[str]]:
    """The problems to show next to their inputs (see :func:`_input_of`), and the others (as sentences)."""
    inline: dict[str, str] = {}
    rest: list[str] = []
    for e, text in zip(exc.errors, _messages(exc), strict=False):
        name = _input_of(str(e.field or ""), by_row=by_row, editing=editing)
        if name is None:
            rest.append(text)
        elif name not in inline:
            why = _why(e)
            inline[name] = why[:1].upper() + why[1:] + "."
    return inline, rest


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _editor(
    request: Request,
    *,
    form: forms.FormInfo | None,
    key: str = "",
    title: str = "",
    rows: list[dict[str, Any]] | None = None,
    problem: CarehubError | None = None,
    editing: str | None = None,
    values: dict[str, Any] | None = None,
    can_edit: bool = True,
    notice: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The form page (or, for htmx, its workspace): a new form's rows, or an existing form's fields one by one.

    ``problem`` is shown next to the inputs it is about (``editing`` names the field being edited, ``new`` the
    add-a-field inputs, ``title`` the title, with ``values`` as posted); an htmx request gets the refusal as a 200
    fragment (htmx swaps only successful answers), any other the page with the refusal's status.
    """
    inline, rest = _inline(problem, by_row=form is None, editing=editing) if problem is not None else ({}, [])
    if problem is not None and not rest and not inline:
        rest = [problem.message]
    message = None
    if problem is not None:
        message = problem.message if rest or not inline else "nothing saved: correct what is marked"
    context = {
        "form": form,
        "key": key,
        "title": title if form is None or editing == "title" else form.title,
        "rows": rows if rows is not None else _rows_from(form.current.fields if form and form.current else []),
        "types": FIELD_TYPES,
        "inline": inline,
        "errors": rest,
        "message": message,
        "editing": editing,
        "values": values or {},
        "blank": BLANK,
        "can_edit": can_edit and not (form is not None and form.archived),
        "notice": notice,
    }
    partial = _is_htmx(request)
    status = problem.status if problem is not None and not partial else 200
    template = "forms/_workspace.html" if partial else "forms/form.html"
    return templating.render(request, template, context, status_code=status, headers=headers)


@forms_pages.get(FORMS + "/new")
def new_form_page(request: Request, actor: StaffActor) -> Response:
    _admin(actor)
    return _editor(request, form=None, rows=[dict(BLANK)])


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
            forms.do_create_form, container.db, actor, key=key, title=title, fields=[_field(r) for r in rows]
        )
    except CarehubError as exc:
        return _editor(request, form=None, key=key, title=title, rows=rows or [dict(BLANK)], problem=exc)
    if _is_htmx(request):
        return _editor(request, form=created, notice=_saved(created), headers={"HX-Push-Url": f"{FORMS}/{created.key}"})
    return RedirectResponse(f"{FORMS}/{created.key}?saved=1", status_code=303)


def _saved(form: forms.FormInfo) -> str:
    return f"Saved: version {form.current_version} is what every branch seeing this form now gets."


@forms_pages.get(FORMS + "/{key}")
def form_page(
    request: Request,
    container: ContainerDep,
    actor: StaffActor,
    key: KeyPath,
    saved: Annotated[bool, Query()] = False,
) -> Response:
    form = forms.get_form(container.db, actor, key)
    return _editor(
        request,
        form=form,
        can_edit=forms.can_edit(actor) and not form.archived,
        notice=_saved(form) if saved else None,
    )


# An edit of an existing form: the service call, given the form, the posted inputs and the version edited from.
Change = Callable[[forms.FormInfo, FormData, int | None], object]


async def _edit(
    request: Request, container: ContainerDep, actor: Actor, key: str, change: Change, *, editing: str
) -> Response:
    """Make one change to a form (one new version) and show the form again; a refusal is shown where it belongs.

    htmx gets the form's workspace in place; without JavaScript a change redirects back to the page. A refusal
    shows the form as it now is (someone else's newer version included) with the posted inputs of ``editing``.
    """
    form = await run_in_threadpool(forms.get_form, container.db, actor, key)
    _admin(actor)
    data = await request.form()
    check_csrf(request, str(data.get("csrf", "")))
    values = {"title": str(data.get("title", ""))[:MAX_FIELD], **_posted_row(data)}
    try:
        await run_in_threadpool(change, form, data, _expected(data))
    except CarehubError as exc:
        now = await run_in_threadpool(forms.get_form, container.db, actor, key)
        return _editor(request, form=now, problem=exc, editing=editing, values=values, title=values["title"])
    if not _is_htmx(request):
        return RedirectResponse(f"{FORMS}/{form.key}?saved=1", status_code=303)
    now = await run_in_threadpool(forms.get_form, container.db, actor, key)
    same = now.current_version == form.current_version
    return _editor(request, form=now, notice="Nothing changed: no new version." if same else _saved(now))


@forms_pages.post(FORMS + "/{key}")
async def form_post(request: Request, container: ContainerDep, actor: StaffActor, key: KeyPath) -> Response:
    """Retitle the form (its fields are edited one by one below)."""

    def change(form: forms.FormInfo, data: FormData, expected: int | None) -> object:
        title = str(data.get("title", ""))[:400]
        return forms.do_set_form_title(container.db, actor, form.key, title, expected_version=expected)

    return await _edit(request, container, actor, key, change, editing="title")


@forms_pages.post(FORMS + "/{key}/fields")
async def add_field(request: Request, container: ContainerDep, actor: StaffActor, key: KeyPath) -> Response:
    def change(form: forms.FormInfo, data: FormData, expected: int | None) -> object:
        field = _field(_posted_row(data))
        return forms.do_add_field(container.db, actor, form.key, field, expected_version=expected)

    return await _edit(request, container, actor, key, change, editing="new")


@forms_pages.post(FORMS + "/{key}/fields/{field_key}")
async def update_field(
    request: Request, container: ContainerDep, actor: StaffActor, key: KeyPath, field_key: KeyPath
) -> Response:
    def change(form: forms.FormInfo, data: FormData, expected: int | None) -> object:
        field = _field(_posted_row(data))
        return forms.do_update_field(container.db, actor, form.key, field_key, field, expected_version=expected)

    return await _edit(request, container, actor, key, change, editing=field_key)


@forms_pages.post(FORMS + "/{key}/fields/{field_key}/{action}")
async def remove_or_move_field(
    request: Request, container: ContainerDep, actor: StaffActor, key: KeyPath, field_key: KeyPath, action: str
) -> Response:
    """``remove``, ``up`` or ``down`` one field."""

    def change(form: forms.FormInfo, data: FormData, expected: int | None) -> object:
        del data
        if action == "remove":
            return forms.do_remove_field(container.db, actor, form.key, field_key, expected_version=expected)
        by = MOVES.get(action)
        if by is None:
            raise InvalidInput(
                f"no change {action[:40]!r} of a field",
                errors=[RecordError(None, form.key, "action", action[:40], "remove, up or down")],
            )
        return forms.do_move_field(container.db, actor, form.key, field_key, by=by, expected_version=expected)

    return await _edit(request, container, actor, key, change, editing="")


@forms_pages.get(FORMS + "/{key}/versions/{version}")
def version_page(
    request: Request, container: ContainerDep, actor: StaffActor, key: KeyPath, version: IdPath
) -> Response:
    form = forms.get_form(container.db, actor, key)
    shown = forms.get_form_version(container.db, actor, key, version)
    return templating.render(request, "forms/version.html", {"form": form, "version": shown})


def _archive_or_restore(
    request: Request,
    csrf: str,
    action: str,
    archive: Callable[[], object],
    restore: Callable[[], object],
    *,
    archived_to: str,
    back_to: str,
) -> Response:
    """Archive (then go to ``archived_to``) or restore (then ``back_to``) a form or a service."""
    check_csrf(request, csrf)
    if action == "archive":
        archive()
        return RedirectResponse(archived_to, status_code=303)
    if action == "restore":
        restore()
    return RedirectResponse(back_to, status_code=303)


@forms_pages.post(FORMS + "/{key}/{action}")
def archive_or_restore(
    request: Request,
    container: ContainerDep,
    actor: StaffActor,
    key: KeyPath,
    action: str,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    return _archive_or_restore(
        request,
        csrf,
        action,
        lambda: forms.do_archive_form(container.db, actor, key),
        lambda: forms.do_restore_form(container.db, actor, key),
        archived_to=f"{FORMS}?notice=Form+archived&archived=1",
        back_to=f"{FORMS}/{key}",
    )


# --------------------------------------------------------------------------- services


def _services_view(
    request: Request,
    container: ContainerDep,
    actor: Actor,
    template: str,
    *,
    errors: list[str] | None = None,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    """The services page or one service's: with the branches, the forms to choose from, any notice or refusal."""
    can_edit = forms.can_edit(actor)
    context = {
        "branches": forms.list_branches(container.db, actor),
        "all_forms": forms.list_forms(container.db, actor) if can_edit else [],
        "can_edit": can_edit,
        "notice": None,
        "errors": errors or [],
        **extra,
    }
    return templating.render(request, template, context, status_code=status_code)


def _services(request: Request, container: ContainerDep, actor: Actor, **extra: Any) -> Response:
    archived = bool(extra.pop("archived", False))
    found = forms.list_services(container.db, actor, include_archived=archived and forms.can_edit(actor))
    return _services_view(request, container, actor, "forms/services.html", services=found, archived=archived, **extra)


def _service_page(
    request: Request, container: ContainerDep, actor: Actor, service: forms.ServiceInfo, **extra: Any
) -> Response:
    can_edit = forms.can_edit(actor)
    return _services_view(
        request,
        container,
        actor,
        "forms/service.html",
        service=service,
        is_admin=can_edit,
        **{"can_edit": can_edit and not service.archived, **extra},
    )


def _service_change(
    actor: Actor, change: Callable[[], forms.ServiceInfo], refused: Callable[..., Response]
) -> Response:
    """Make one change (administrators only) and go to the service's page; a refusal re-renders with its reasons."""
    _admin(actor)
    try:
        done = change()
    except CarehubError as exc:
        return refused(errors=_messages(exc), status_code=exc.status)
    return RedirectResponse(f"{SERVICES}/{done.id}?saved=1", status_code=303)


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
    return _service_change(
        actor,
        lambda: forms.do_create_service(
            container.db, actor, name=name, form_keys=form or [], branch_ids=_ints(branch or [])
        ),
        lambda **refusal: _services(request, container, actor, **refusal),
    )


def _branch_id(branch: str) -> int:
    ids = _ints([branch])
    if not ids:
        raise InvalidInput(
            "choose a branch", errors=[RecordError(None, None, "branch", branch, "a branch of this tenant")]
        )
    return ids[0]


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
    return _service_change(
        actor,
        lambda: forms.do_create_dedicated_service(container.db, actor, _branch_id(branch), name=name.strip() or None),
        lambda **refusal: _services(request, container, actor, **refusal),
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
    return _service_change(
        actor,
        lambda: forms.do_update_service(
            container.db, actor, service_id, name=name, form_keys=form or [], branch_ids=_ints(branch or [])
        ),
        lambda **refusal: _service_page(request, container, actor, service, **refusal),
    )


@service_pages.post(SERVICES + "/{service_id}/{action}")
def archive_or_restore_service(
    request: Request,
    container: ContainerDep,
    actor: StaffActor,
    service_id: IdPath,
    action: str,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    return _archive_or_restore(
        request,
        csrf,
        action,
        lambda: forms.do_archive_service(container.db, actor, service_id),
        lambda: forms.do_restore_service(container.db, actor, service_id),
        archived_to=f"{SERVICES}?notice=Service+archived",
        back_to=f"{SERVICES}/{service_id}",
    )


router.include_router(service_pages)
router.include_router(forms_pages)
