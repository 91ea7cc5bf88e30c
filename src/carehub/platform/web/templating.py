"""Jinja2 templates shared by every capability's pages.

Capabilities add their own templates folder (:func:`add_template_dir`) and
their entries in the navigation (:func:`add_nav_item`). Every page is rendered
through :func:`render`, which adds the signed-in actor, the CSRF token, the
shell's facts (tenant, time zone) and the security headers of a page that may
show personal data.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context

TEMPLATE_DIRS = [Path(__file__).parent / "templates"]
templates = Jinja2Templates(directory=[str(p) for p in TEMPLATE_DIRS])

DEFAULT_ZONE = "Europe/London"
DATETIME = "%a %d %b %Y, %H:%M"

# Pages show personal data: never cached, never framed, no third-party anything.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Vary": "HX-Request",
}


@dataclass(frozen=True, slots=True)
class NavItem:
    """An entry of the main navigation; active on every page under ``href``."""

    label: str
    href: str
    icon: str
    admin: bool = False  # shown to tenant administrators only


NAV: list[NavItem] = []


def add_template_dir(path: Path) -> None:
    """Let a capability add its own templates folder."""
    loader = templates.env.loader
    if loader is not None and hasattr(loader, "searchpath") and str(path) not in loader.searchpath:
        loader.searchpath.append(str(path))


def add_nav_item(label: str, href: str, icon: str = "dot", *, admin: bool = False) -> None:
    """Add a capability's page to the main navigation (once); ``admin``: for tenant administrators only."""
    if all(item.href != href for item in NAV):
        NAV.append(NavItem(label, href, icon, admin))


def ensure_csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def _zone(ctx: Context, zone: str | None) -> ZoneInfo:
    name = zone or ctx.get("timezone") or DEFAULT_ZONE
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


@pass_context
def _local(ctx: Context, value: Any, zone: str | None = None, fmt: str = DATETIME) -> str:
    """A UTC timestamp shown in the tenant's zone (the page's ``timezone``, else ``zone``)."""
    if value is None:
        return ""
    return str(value.astimezone(_zone(ctx, zone)).strftime(fmt))


@pass_context
def _local_day(ctx: Context, value: Any, zone: str | None = None) -> str:
    """The local date of a timestamp (or a date) as ``Mon 3 Mar 2025``."""
    if value is None:
        return ""
    day = value.astimezone(_zone(ctx, zone)) if isinstance(value, datetime) else value
    return f"{day:%a} {day.day} {day:%b %Y}"


def _as_time(value: Any) -> Any:
    """An ISO timestamp string with an offset (as the audit trail stores them) as a datetime."""
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        return parsed if parsed.tzinfo is not None else value
    return value


def _short_day(value: Any) -> str:
    """A date as ``3 Mar 2025``."""
    return "" if value is None else f"{value.day} {value:%b %Y}"


@pass_context
def _show(ctx: Context, value: Any) -> str:
    """Any stored value, as a person reads it: times local, lists joined, yes/no."""
    value = _as_time(value)
    if value is None or value in ("", []):
        text = "—"
    elif isinstance(value, bool):
        text = "Yes" if value else "No"
    elif isinstance(value, list | tuple):
        text = ", ".join(str(_show(ctx, v)) for v in value)
    elif isinstance(value, datetime):
        text = _local(ctx, value)
    elif isinstance(value, date):
        text = _local_day(ctx, value)
    else:
        text = str(value)
    return text


_LABELS = {"ssref": "SSRef", "id": "ID"}


def _label(field: str) -> str:
    """A stored field's name for people: ``branch_id`` → Branch, ``worker_ids`` → Workers."""
    if field in _LABELS:
        return _LABELS[field]
    name = field
    for suffix, replacement in (("_ids", "s"), ("_id", ""), ("_at", "")):
        if name.endswith(suffix):
            name = name[: -len(suffix)] + replacement
            break
    return name.replace("_", " ").capitalize()


def query_string(params: dict[str, Any], **overrides: Any) -> str:
    """``?a=1&b=2`` from a page's filters, with ``overrides``; empty values dropped."""
    merged = {**params, **overrides}
    pairs = [(k, str(v)) for k, v in merged.items() if v not in (None, "", False)]
    return "?" + urlencode(pairs) if pairs else "?"


def _initials(label: str) -> str:
    parts = [p for p in label.replace(".", " ").replace("_", " ").split() if p]
    return "".join(p[0] for p in parts[:2]).upper() or "?"


templates.env.filters["local"] = _local
templates.env.filters["local_day"] = _local_day
templates.env.filters["short_day"] = _short_day
templates.env.filters["show"] = _show
templates.env.filters["label"] = _label
templates.env.filters["initials"] = _initials
templates.env.globals["qs"] = query_string
templates.env.globals["nav_items"] = NAV


class EnvironmentChoice(Protocol):
    """An environment the signed-in user may switch the pages to (the tenancy's environments are)."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def paused(self) -> bool: ...


def set_shell(
    request: Request,
    *,
    timezone: str,
    tenant_name: str | None,
    environment_id: int | None = None,
    environments: Sequence[EnvironmentChoice] = (),
) -> None:
    """The shell's facts for this request's page: its zone, the tenant, and the environment it works in.

    With more than one of ``environments``, the navigation shows a switcher (a GET form sending
    ``?environment=ID`` to the current section's page).
    """
    request.state.timezone = timezone
    request.state.tenant_name = tenant_name
    request.state.environment_id = environment_id
    request.state.environments = tuple(environments)


def _section(path: str) -> str:
    """The navigation entry's page that ``path`` is under (a switch lands there, not on one record), else ``path``."""
    under = [item.href for item in NAV if path == item.href or path.startswith(item.href.rstrip("/") + "/")]
    return max(under, key=len, default=path)


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render a page with the request, signed-in actor, CSRF token and shell facts in context."""
    actor = getattr(request.state, "actor", None)
    ctx = {
        "actor": actor,
        "csrf_token": ensure_csrf_token(request) if actor is not None else request.session.get("csrf", ""),
        "tenant_name": getattr(request.state, "tenant_name", None),
        "timezone": getattr(request.state, "timezone", None) or DEFAULT_ZONE,
        "current_path": request.url.path,
        "environments": getattr(request.state, "environments", ()),
        "environment_id": getattr(request.state, "environment_id", None),
        "environment_action": _section(request.url.path),
        **(context or {}),
    }
    return templates.TemplateResponse(
        request, name, ctx, status_code=status_code, headers={**PAGE_HEADERS, **(headers or {})}
    )


def render_error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    """The error page people see instead of a traceback."""
    return render(request, "error.html", {"title": title, "message": message, "status": status}, status_code=status)
