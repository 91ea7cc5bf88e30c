"""Environment pages: the list with pause and resume, and the connection wizard (form, dry run, apply).

Thin: each handler checks the signed-in user is a tenant administrator (the
service does) and calls one service function of :mod:`carehub.tenancy.connect`.
The wizard posts the form for a dry run, shows the renames, collisions and
devices as tables, and applies the very same settings on "Connect"; the
service checks the plan again inside the applying transaction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, Response

from carehub.platform.auth.actor import Actor
from carehub.platform.errors import CarehubError
from carehub.platform.web import templating
from carehub.platform.web.deps import ContainerDep, PageActor
from carehub.platform.web.shell import check_csrf
from carehub.tenancy import connect
from carehub.tenancy import service as tenancy
from carehub.tenancy.domain.naming import DEFAULT_BRANCH_FORMAT, DEFAULT_USERNAME_FORMAT, DEFAULT_VISIT_ID_FORMAT

router = APIRouter(include_in_schema=False)
templating.add_template_dir(Path(__file__).parent / "templates")

PATH = "/environments"
MAX_FIELD = 200
SHOWN = 200  # rows of each plan table on the page (the API and CLI --json list all)


def add_navigation() -> None:
    """Add the environments page to the main navigation (once)."""
    templating.add_nav_item("Environments", PATH, "shield", admin=True)


def with_shell(request: Request, container: ContainerDep, actor: Actor) -> Actor:
    """The signed-in user, once the page shell knows their tenant's name and time zone (tenancy's pages share it)."""
    if actor.tenant_id is not None:
        env = tenancy.primary_environment(container.db, actor.tenant_id)
        name = tenancy.tenant_name(container.db, actor.tenant_id, request.session)
        templating.set_shell(request, timezone=env.timezone, tenant_name=name)
    return actor


def admin_page(request: Request, actor: PageActor, container: ContainerDep) -> Actor:
    """The signed-in tenant administrator; sets the shell's time zone and tenant."""
    connect.require_admin(actor)
    return with_shell(request, container, actor)


AdminActor = Annotated[Actor, Depends(admin_page)]


def _list(request: Request, container: ContainerDep, actor: Actor, **extra: Any) -> Response:
    envs = connect.list_for(container.db, actor)
    return templating.render(request, "tenancy/environments.html", {"envs": envs, "notice": None, **extra})


@router.get(PATH)
def environments_page(request: Request, container: ContainerDep, actor: AdminActor) -> Response:
    return _list(request, container, actor)


@router.post(PATH + "/{environment_id}/{action}")
def pause_or_resume(
    request: Request,
    container: ContainerDep,
    actor: AdminActor,
    environment_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)],
    action: str,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf)
    if action == "pause":
        env = connect.do_pause_environment(container.db, actor, environment_id)
        notice = f"{env.name} is paused: roster changes are stored, nothing publishes until you resume it."
    elif action == "resume":
        done = connect.do_resume_environment(container.db, actor, environment_id)
        notice = f"{done.environment.name} resumed: {done.published['changes']} change(s) published to catch up."
    else:
        return RedirectResponse(PATH, status_code=303)
    return _list(request, container, actor, notice=notice)


@router.get(PATH + "/{environment_id}/login-changes.csv")
def login_changes_csv(
    container: ContainerDep, actor: AdminActor, environment_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)]
) -> Response:
    text = connect.login_changes_csv(connect.login_changes(container.db, actor, environment_id))
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="login-changes-{environment_id}.csv"'},
    )


def _form(**values: str) -> dict[str, str]:
    return {
        "name": "",
        "prefix": "",
        "branch_format": DEFAULT_BRANCH_FORMAT,
        "username_format": DEFAULT_USERNAME_FORMAT,
        "visit_id_format": DEFAULT_VISIT_ID_FORMAT,
        "source_tenant": "",
        **values,
    }


@router.get(PATH + "/connect")
def connect_page(request: Request, actor: AdminActor) -> Response:
    del actor
    return templating.render(request, "tenancy/connect.html", {"form": _form(), "plan": None, "errors": []})


@router.post(PATH + "/connect")
def connect_post(
    request: Request,
    container: ContainerDep,
    actor: AdminActor,
    name: Annotated[str, Form()] = "",
    prefix: Annotated[str, Form()] = "",
    branch_format: Annotated[str, Form()] = DEFAULT_BRANCH_FORMAT,
    username_format: Annotated[str, Form()] = DEFAULT_USERNAME_FORMAT,
    visit_id_format: Annotated[str, Form()] = DEFAULT_VISIT_ID_FORMAT,
    source_tenant: Annotated[str, Form()] = "",
    create_token: Annotated[str, Form()] = "",
    action: Annotated[str, Form()] = "dry_run",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf)
    form = _form(
        name=name[:MAX_FIELD],
        prefix=prefix[:MAX_FIELD],
        branch_format=branch_format[:MAX_FIELD],
        username_format=username_format[:MAX_FIELD],
        visit_id_format=visit_id_format[:MAX_FIELD],
        source_tenant=source_tenant[:MAX_FIELD],
    )
    context: dict[str, Any] = {"form": form, "plan": None, "errors": [], "message": None, "shown": SHOWN}
    try:
        context["plan"] = connect.do_connect_environment(
            container.db,
            actor,
            name=form["name"],
            prefix=form["prefix"],
            branch_format=form["branch_format"],
            username_format=form["username_format"],
            visit_id_format=form["visit_id_format"],
            source_tenant=form["source_tenant"] or None,
            dry_run=action != "apply",
            create_token=action == "apply" and create_token == "yes",  # noqa: S105 - a checkbox, not a secret
        )
    except CarehubError as exc:
        context["message"] = exc.message[:1].upper() + exc.message[1:] + "."
        context["errors"] = exc.errors
    partial = request.headers.get("hx-request") == "true"
    template = "tenancy/_plan.html" if partial else "tenancy/connect.html"
    status = 422 if context["message"] and not partial else 200
    return templating.render(request, template, context, status_code=status)
