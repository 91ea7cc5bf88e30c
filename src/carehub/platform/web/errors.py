"""One place where errors become HTTP responses: JSON for the API, a page for people.

A user never sees a traceback: unexpected errors are logged (without request
bodies, which may hold personal data) and answered with a reference.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from carehub.platform.errors import CarehubError, RecordError, json_safe

log = logging.getLogger("carehub.web")


def wants_html(request: Request) -> bool:
    """True for browser page requests (not the API)."""
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def error_body(code: str, message: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON shape of every API error."""
    return {"error": {"code": code, "message": json_safe(message), "errors": json_safe(errors or [])}}


def _validation_rows(exc: RequestValidationError) -> list[dict[str, Any]]:
    rows = []
    for e in exc.errors():
        loc = [str(p) for p in e.get("loc", ())]
        where = loc[0] if loc else None
        field = ".".join(loc[1:]) or None
        value = e.get("input") if e.get("type") != "missing" else None
        rows.append(RecordError(None, where, field, value, str(e.get("msg")), str(e.get("type"))).as_dict())
    return rows


def install(app: FastAPI, render_error_page: Callable[[Request, int, str, str], Response]) -> None:
    """Register the handlers on ``app``; ``render_error_page(request, status, title, message)``."""

    @app.exception_handler(CarehubError)
    async def _carehub_error(request: Request, exc: CarehubError) -> Response:
        if wants_html(request):
            return render_error_page(request, exc.status, exc.code.replace("_", " ").capitalize(), exc.message)
        return JSONResponse(
            error_body(exc.code, exc.message, [e.as_dict() for e in exc.errors]),
            status_code=exc.status,
            headers={"WWW-Authenticate": "Bearer"} if exc.status == 401 else None,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> Response:
        return JSONResponse(error_body("invalid_input", "the request is not valid", _validation_rows(exc)), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if wants_html(request):
            return render_error_page(
                request, exc.status_code, "Not found" if exc.status_code == 404 else "Error", str(exc.detail)
            )
        code = {404: "not_found", 405: "method_not_allowed", 401: "authentication_required"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        ref = secrets.token_hex(6)
        log.error("unexpected error ref=%s path=%s type=%s", ref, request.url.path, type(exc).__name__, exc_info=exc)
        message = f"Something went wrong on our side (reference {ref}). Nothing was changed."
        if wants_html(request):
            return render_error_page(request, 500, "Something went wrong", message)
        return JSONResponse(error_body("internal_error", message), 500)
