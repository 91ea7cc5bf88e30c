"""Sign-in, sign-out and health: the pages every capability sits behind."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import text

from carehub.platform.auth import service as auth
from carehub.platform.errors import AuthenticationRequired, PermissionDenied
from carehub.platform.web.deps import SESSION_USER, ContainerDep
from carehub.platform.web.templating import render

router = APIRouter()


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, submitted: str) -> None:
    """Refuse a form post whose CSRF token does not match the session's."""
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not secrets.compare_digest(expected, submitted):
        raise PermissionDenied("this form has expired; reload the page and try again")


def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.get("/health", tags=["Health"], summary="Liveness and database check (no sign-in needed)")
def health(container: ContainerDep) -> dict[str, Any]:
    """OK when the database answers."""
    with container.db.read() as session:
        session.execute(text("SELECT 1"))
    return {"status": "ok", "database": container.db.dialect}


@router.get("/sign-in", include_in_schema=False)
def sign_in_page(request: Request, next: str = "/") -> Response:  # noqa: A002 - the conventional name
    csrf_token(request)
    return render(request, "sign_in.html", {"next": _safe_next(next)})


@router.post("/sign-in", include_in_schema=False)
def sign_in(
    request: Request,
    container: ContainerDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",  # noqa: A002 - the conventional name
) -> Response:
    check_csrf(request, csrf)
    try:
        actor = auth.authenticate(container.db, username, password)
    except AuthenticationRequired:
        return render(
            request,
            "sign_in.html",
            {"error": "Unknown username or wrong password.", "username": username, "next": _safe_next(next)},
            status_code=401,
        )
    request.session.clear()
    request.session[SESSION_USER] = actor.id
    csrf_token(request)
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/sign-out", include_in_schema=False)
def sign_out(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf)
    request.session.clear()
    return RedirectResponse("/sign-in", status_code=303)
