"""Sign-in, sign-out and health: the pages every capability sits behind."""

from __future__ import annotations

import secrets
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import text

from carehub.platform.auth import service as auth
from carehub.platform.errors import AuthenticationRequired, PermissionDenied
from carehub.platform.web.deps import SESSION_USER, ContainerDep, session_actor
from carehub.platform.web.templating import ensure_csrf_token, render

router = APIRouter()

MAX_FIELD = 200
_FLASH = "flash"


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use."""
    return ensure_csrf_token(request)


def check_csrf(request: Request, submitted: str) -> None:
    """Refuse a form post whose CSRF token does not match the session's."""
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not secrets.compare_digest(expected, submitted):
        raise PermissionDenied("this form has expired; reload the page and try again")


def _safe_next(target: str) -> str:
    """Only a path on this site: never another host, never a scheme."""
    ok = target.startswith("/") and not target.startswith(("//", "/\\")) and "\\" not in target
    return target if ok and len(target) <= 2000 else "/"


@router.get("/health", tags=["Health"], summary="Liveness and database check (no sign-in needed)")
def health(container: ContainerDep) -> dict[str, Any]:
    """OK when the database answers."""
    with container.db.read() as session:
        session.execute(text("SELECT 1"))
    return {"status": "ok", "database": container.db.dialect}


def _sign_in_form(
    request: Request, next_path: str, *, error: str | None = None, username: str = "", status_code: int = 200
) -> Response:
    csrf_token(request)
    notice = request.session.pop(_FLASH, None)
    return render(
        request,
        "sign_in.html",
        {
            "next": _safe_next(next_path),
            "error": error,
            "username": username,
            "notice": notice if isinstance(notice, str) else None,
        },
        status_code=status_code,
    )


@router.get("/sign-in", include_in_schema=False)
def sign_in_page(request: Request, container: ContainerDep, next: str = "/") -> Response:  # noqa: A002 - the conventional name
    if request.headers.get("hx-request") == "true":
        # A live search whose session ended: send the whole window to sign in, not a form into the results.
        return Response(status_code=200, headers={"HX-Redirect": f"/sign-in?next={quote(_safe_next(next), safe='')}"})
    if session_actor(request, container) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _sign_in_form(request, next)


def _form_problem(username: str, password: str) -> str | None:
    if not username.strip() and not password:
        return "Enter your username and password."
    if not username.strip():
        return "Enter your username."
    if not password:
        return "Enter your password."
    if len(username) > MAX_FIELD or len(password) > MAX_FIELD:
        return f"Username and password are at most {MAX_FIELD} characters."
    return None


@router.post("/sign-in", include_in_schema=False)
def sign_in(
    request: Request,
    container: ContainerDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",  # noqa: A002 - the conventional name
) -> Response:
    try:
        check_csrf(request, csrf)
    except PermissionDenied:
        return _sign_in_form(
            request,
            next,
            error="This sign-in form had expired, so nothing was sent. Please sign in again.",
            username=username[:MAX_FIELD],
            status_code=403,
        )
    problem = _form_problem(username, password)
    if problem:
        return _sign_in_form(request, next, error=problem, username=username[:MAX_FIELD], status_code=422)
    try:
        actor = auth.authenticate(container.db, username, password)
    except AuthenticationRequired:
        return _sign_in_form(
            request, next, error="Unknown username or wrong password.", username=username, status_code=401
        )
    request.session.clear()
    request.session[SESSION_USER] = actor.id
    csrf_token(request)
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/sign-out", include_in_schema=False)
def sign_out(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    if SESSION_USER in request.session:
        check_csrf(request, csrf)
    request.session.clear()
    request.session[_FLASH] = "You have signed out."
    return RedirectResponse("/sign-in", status_code=303)
