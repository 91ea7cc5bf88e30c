"""The devices page: linked devices with their last successful sync, link codes, unlinking.

Thin: each handler checks the signed-in user may manage devices (coordinator or
above), resolves their environment and calls one service function. Forms post
with the session's CSRF token; with htmx only the changed part is swapped.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, Response

from carehub.platform.auth import permissions
from carehub.platform.auth.actor import Actor
from carehub.platform.clock import utc_now
from carehub.platform.errors import CarehubError
from carehub.platform.web import environment, templating
from carehub.platform.web.deps import ContainerDep, PageActor
from carehub.platform.web.shell import check_csrf
from carehub.publishing.mobile import service as mobile
from carehub.publishing.mobile.cursor import MAX_ID
from carehub.tenancy import service as tenancy
from carehub.tenancy.service import EnvironmentInfo

router = APIRouter(include_in_schema=False)

templating.add_template_dir(Path(__file__).parent / "templates")

PATH = "/mobile/devices"


def add_navigation() -> None:
    """Add the devices page to the main navigation, after the entries registered before it (once)."""
    templating.add_nav_item("Devices", PATH, "phone")


MAX_FIELD = 100


def staff_environment(request: Request, actor: PageActor, container: ContainerDep) -> EnvironmentInfo:
    """The environment the signed-in coordinator's page works in (:func:`carehub.tenancy.service.page_environment`)."""
    mobile.require_staff(actor)
    return environment.page_environment(request, tenancy.page_environment, container.db, actor)


StaffEnv = Annotated[EnvironmentInfo, Depends(staff_environment)]


def ago(moment: datetime | None, now: datetime) -> str:
    """How long ago, for people: ``just now``, ``12 min ago``, ``3 h ago``, ``2 days ago``."""
    if moment is None:
        return "never"
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400 * 2:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def _rows(devices: list[mobile.DeviceInfo], now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "d": d,
            "stale": d.is_stale(now),
            "sync_ago": ago(d.last_sync_at, now),
            "linked_ago": ago(d.linked_at, now),
        }
        for d in devices
    ]


def _context(container: ContainerDep, env: EnvironmentInfo, actor: Actor, **extra: Any) -> dict[str, Any]:
    now = utc_now()
    devices = mobile.list_devices(container.db, env.id, branch_ids=actor.branch_ids)
    rows = _rows(devices, now)
    return {
        "rows": rows,
        "stale_count": sum(1 for r in rows if r["stale"]),
        "stale_minutes": int(mobile.STALE_AFTER / timedelta(minutes=1)),
        "workers": mobile.linkable_workers(container.db, env.id, branch_ids=actor.branch_ids),
        "can_revoke": permissions.can(actor, permissions.Permission.REVOKE_DEVICE),
        "code": None,
        "code_error": None,
        "notice": None,
        "worker_value": "",
        **extra,
    }


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


@router.get(PATH)
def devices_page(request: Request, actor: PageActor, container: ContainerDep, env: StaffEnv) -> Response:
    return templating.render(request, "mobile/devices.html", _context(container, env, actor))


@router.post(f"{PATH}/link-code")
def issue_code(
    request: Request,
    actor: PageActor,
    container: ContainerDep,
    env: StaffEnv,
    worker_id: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf)
    value = " ".join(worker_id.split())[:MAX_FIELD]
    extra: dict[str, Any] = {"worker_value": value}
    if not value:
        extra["code_error"] = "Enter the worker's ID (as your rostering system shows it)."
    else:
        try:
            extra["code"] = mobile.do_issue_link_code(container.db, actor, env.id, _worker_id(value))
            extra["worker_value"] = ""
        except CarehubError as exc:
            extra["code_error"] = exc.message[:1].upper() + exc.message[1:] + "."
    # htmx swaps only successful answers: a refusal comes back as a 200 fragment that says why.
    status = 422 if extra.get("code_error") and not _is_htmx(request) else 200
    template = "mobile/_link_code.html" if _is_htmx(request) else "mobile/devices.html"
    return templating.render(request, template, _context(container, env, actor, **extra), status_code=status)


def _worker_id(value: str) -> str:
    """The worker id of a choice from the list ("Jo Bloggs (W01)") or a typed id."""
    if value.endswith(")") and " (" in value:
        return value[value.rindex(" (") + 2 : -1]
    return value


@router.post(f"{PATH}/{{device_id}}/revoke")
def revoke(
    request: Request,
    device_id: Annotated[int, PathParam(ge=1, le=MAX_ID)],
    actor: PageActor,
    container: ContainerDep,
    env: StaffEnv,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf)
    device = mobile.do_revoke_device(container.db, actor, env.id, device_id)
    if not _is_htmx(request):
        return RedirectResponse(PATH, status_code=303)
    notice = f"“{device.name}” of {device.worker_name} is unlinked; it can no longer sync."
    return templating.render(request, "mobile/_devices.html", _context(container, env, actor, notice=notice))
