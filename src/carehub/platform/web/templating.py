"""Jinja2 templates shared by every capability's pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

TEMPLATE_DIRS = [Path(__file__).parent / "templates"]
templates = Jinja2Templates(directory=[str(p) for p in TEMPLATE_DIRS])


def add_template_dir(path: Path) -> None:
    """Let a capability add its own templates folder."""
    loader = templates.env.loader
    if loader is not None and hasattr(loader, "searchpath") and str(path) not in loader.searchpath:
        loader.searchpath.append(str(path))


def _local(value: Any, zone: str = "Europe/London", fmt: str = "%a %d %b %Y %H:%M") -> str:
    """A UTC timestamp shown in the tenant's zone."""
    if value is None:
        return ""
    return str(value.astimezone(ZoneInfo(zone)).strftime(fmt))


templates.env.filters["local"] = _local


def render(request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200) -> HTMLResponse:
    """Render a page with the request, signed-in actor and CSRF token in context."""
    ctx = {
        "actor": getattr(request.state, "actor", None),
        "csrf_token": request.session.get("csrf", ""),
        **(context or {}),
    }
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)


def render_error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    """The error page people see instead of a traceback."""
    return render(request, "error.html", {"title": title, "message": message, "status": status}, status_code=status)
