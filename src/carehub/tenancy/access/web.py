"""Users and roles pages: list, create, change role, grant and revoke branches, deactivate.

Tenant administrators only (the service checks too; others get 403).

Thin: each handler calls one function of :mod:`carehub.tenancy.access.service`. Forms post with the
session's CSRF token; a change redirects back with a notice, a refusal re-renders with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from carehub.platform.auth.actor import Actor, Role
from carehub.platform.auth.permissions import require_admin
from carehub.platform.errors import CarehubError
from carehub.platform.web import templating
from carehub.platform.web.deps import ContainerDep, PageActor
from carehub.platform.web.shell import check_csrf
from carehub.tenancy.access import service as access
from carehub.tenancy.web import with_shell

router = APIRouter(include_in_schema=False)
templating.add_template_dir(Path(__file__).parent / "templates")

PATH = "/users"
FLASH = "users_notice"
MAX_FIELD = 200
ROLES = (
    (Role.ADMIN, "Tenant administrator"),
    (Role.BRANCH_MANAGER, "Branch manager"),
    (Role.COORDINATOR, "Care coordinator"),
    (Role.CARE_WORKER, "Care worker (mobile only)"),
)
ROLE_LABELS = dict(ROLES)


def add_navigation() -> None:
    """Add Users to the main navigation, for tenant administrators (once)."""
    templating.add_nav_item("Users", PATH, "people", admin=True)


def admin_page(request: Request, actor: PageActor, container: ContainerDep) -> Actor:
    """The signed-in tenant administrator; sets the shell's time zone and tenant."""
    require_admin(actor, "manage users and roles")
    return with_shell(request, container, actor)


AdminActor = Annotated[Actor, Depends(admin_page)]


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


def _users(request: Request, container: ContainerDep, actor: Actor, status_code: int = 200, **extra: Any) -> Response:
    notice = request.session.pop(FLASH, None)
    context = {
        "users": access.list_users(container.db, actor),
        "roles": ROLES,
        "role_labels": ROLE_LABELS,
        "notice": notice if isinstance(notice, str) else None,
        "problem": None,
        "form": {"username": "", "display_name": "", "role": Role.COORDINATOR.value},
        **extra,
    }
    return templating.render(request, "access/users.html", context, status_code=status_code)


def _user(
    request: Request, container: ContainerDep, actor: Actor, username: str, status_code: int = 200, **extra: Any
) -> Response:
    notice = request.session.pop(FLASH, None)
    context = {
        "u": access.get_user(container.db, actor, username),
        "choices": access.branch_choices(container.db, actor),
        "roles": ROLES,
        "role_labels": ROLE_LABELS,
        "notice": notice if isinstance(notice, str) else None,
        "problem": None,
        **extra,
    }
    return templating.render(request, "access/user.html", context, status_code=status_code)


def _done(request: Request, text: str, target: str) -> Response:
    request.session[FLASH] = text
    return RedirectResponse(target, status_code=303)


def _user_path(username: str) -> str:
    return f"{PATH}/{quote(username, safe='')}"


@router.get(PATH)
def users_page(request: Request, container: ContainerDep, actor: AdminActor) -> Response:
    return _users(request, container, actor)


@router.post(PATH)
def create_user(
    request: Request,
    container: ContainerDep,
    actor: AdminActor,
    username: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf)
    form = {"username": username[:MAX_FIELD], "display_name": display_name[:MAX_FIELD], "role": role[:40]}
    problem = None
    if role not in {r.value for r, _ in ROLES}:
        problem = "Choose a role."
    elif not username.strip() or len(username) > 150:
        problem = "Enter a username of at most 150 characters."
    elif len(display_name) > MAX_FIELD or len(password) > MAX_FIELD:
        problem = f"Name and password are at most {MAX_FIELD} characters."
    if problem is None:
        try:
            made = access.do_create_user(
                container.db,
                actor,
                username=username,
                password=password,
                role=Role(role),
                display_name=display_name.strip() or None,
            )
        except CarehubError as exc:
            problem = _sentence(exc.message)
        else:
            text = f"User {made.username} created. Grant them branches below."
            return _done(request, text, _user_path(made.username))
    return _users(request, container, actor, status_code=422, problem=problem, form=form)


@router.get(PATH + "/{username}")
def user_page(request: Request, username: str, container: ContainerDep, actor: AdminActor) -> Response:
    return _user(request, container, actor, username[:150])


@router.post(PATH + "/{username}/{action}")
def change_user(  # noqa: PLR0911 - one answer per action
    request: Request,
    username: str,
    action: str,
    container: ContainerDep,
    actor: AdminActor,
    role: Annotated[str, Form()] = "",
    branch: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf)
    username = username[:150]
    target = _user_path(username)
    try:
        if action == "role":
            if role not in {r.value for r, _ in ROLES}:
                return _user(request, container, actor, username, status_code=422, problem="Choose a role.")
            u = access.do_set_role(container.db, actor, username, Role(role))
            return _done(request, f"{u.username} is now a {ROLE_LABELS[u.role].lower()}.", target)
        if action in ("grant", "revoke"):
            env_id, _, ext = branch.partition(":")
            if not env_id.isdigit() or not ext or len(branch) > MAX_FIELD:
                return _user(request, container, actor, username, status_code=422, problem="Choose a branch.")
            change = access.do_grant_branch if action == "grant" else access.do_revoke_branch
            change(container.db, actor, username, ext, environment_id=int(env_id))
            verb = "may now see" if action == "grant" else "no longer sees"
            return _done(request, f"{username} {verb} branch {ext}.", target)
        if action in ("deactivate", "activate"):
            access.do_set_active(container.db, actor, username, active=action == "activate")
            return _done(request, f"{username} is {action}d.", target)
    except CarehubError as exc:
        if exc.status == 404 and action != "grant":
            raise
        return _user(request, container, actor, username, status_code=exc.status, problem=_sentence(exc.message))
    return _user(request, container, actor, username, status_code=404, problem="Unknown action.")
