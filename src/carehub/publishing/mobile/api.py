"""Mobile sync over HTTP.

- ``/api/mobile/v1`` is for workers' devices: ``POST /link`` (no token: a
  username and a one-time code) and ``GET /sync`` (the device token). Device
  tokens work only here, and nothing else works here: API tokens and browser
  sessions are refused.
- ``/api/v1/mobile`` is for staff (coordinator or above) and machine clients:
  list and revoke devices, issue link codes.

Thin: each route parses input, finds the caller and calls one service function.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from carehub.platform.clock import utc_now
from carehub.platform.errors import AuthenticationRequired, NotFound
from carehub.platform.web.deps import ApiActor, ContainerDep
from carehub.publishing.mobile import service as mobile
from carehub.publishing.mobile.cursor import MAX_CURSOR_LENGTH, MAX_ID
from carehub.tenancy.service import environment_for

device_router = APIRouter(prefix="/api/mobile/v1", tags=["Mobile sync (devices)"])
staff_router = APIRouter(prefix="/api/v1/mobile", tags=["Mobile devices (staff)"])

NO_NUL = r"^[^\x00]*$"


def device_caller(request: Request, container: ContainerDep) -> mobile.DeviceInfo:
    """The device calling: its bearer device token (an API token or a session is not enough)."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        raise AuthenticationRequired(
            "send 'Authorization: Bearer <device token>'; a device gets its token from POST /api/mobile/v1/link"
        )
    return mobile.authenticate_device(container.db, header[7:].strip())


DeviceCaller = Annotated[mobile.DeviceInfo, Depends(device_caller)]


# --------------------------------------------------------------------------- shapes


class LinkIn(BaseModel):
    """What the worker types on the device."""

    username: str = Field(max_length=200, pattern=NO_NUL, examples=["jsmith"])
    code: str = Field(max_length=40, pattern=NO_NUL, examples=["4821 0937"])
    device_name: str = Field(max_length=200, pattern=NO_NUL, examples=["Jo's phone"])


class LinkedDeviceOut(BaseModel):
    """The device just linked."""

    id: int
    name: str
    username: str
    worker_name: str
    linked_at: datetime


class LinkOut(BaseModel):
    """The device token, shown once: the device stores it and sends it as a bearer token."""

    token: str
    device: LinkedDeviceOut


class WorkerOut(BaseModel):
    """A worker on a visit (double-up visits have two)."""

    id: int
    username: str
    first_name: str
    last_name: str


class VisitOut(BaseModel):
    """A visit the device holds: insert it, or replace the copy with the same id."""

    id: int
    external_id: str
    client_id: int
    plan_visit_id: int | None
    kind: str
    start_at: datetime
    end_at: datetime
    notes: str | None
    workers: list[WorkerOut]
    form_ids: list[str] = Field(
        default_factory=list,
        description="the forms this visit needs, as key@version: the forms of the services of its client's branch",
    )


class ClientOut(BaseModel):
    """A client of a visit the device holds."""

    id: int
    external_id: str
    first_name: str
    last_name: str
    branch: str | None
    phone: str | None
    address: str | None
    notes: str | None


class CarePlanOut(BaseModel):
    """An active care plan of a client the device holds."""

    id: int
    plan_visit_id: int
    external_id: str
    revision: int
    client_id: int
    visit_type_code: str
    description: str
    days: str
    start_time: str
    duration_minutes: int
    carers_needed: int
    content: str | None


class DropOut(BaseModel):
    """Something the device deletes, and why."""

    kind: Literal["visit", "client", "care_plan"]
    id: int
    external_id: str | None
    reason: str = Field(
        description="visit: cancelled, deactivated, ended, unassigned or out_of_window; "
        "client and care_plan: their state (deactivated, ended ...)"
    )
    cancelled_at: datetime | None = None
    plan_visit_id: int | None = None
    revision: int | None = None


class FormFieldOut(BaseModel):
    """One field of a form, in the form's order."""

    key: str
    label: str
    type: Literal["text", "number", "yes-no", "choice", "date", "signature"]
    required: bool
    choices: list[str] | None = Field(None, description="choice fields only")


class FormOut(BaseModel):
    """A form version a visit of the page names in ``form_ids``: immutable, so keep it by ``id``."""

    id: str = Field(description="key@version")
    key: str
    version: int
    title: str
    fields: list[FormFieldOut]


class WindowOut(BaseModel):
    """The visits this page is about: starting in [start, end), UTC."""

    start: datetime
    end: datetime
    days: int


class FeedOut(BaseModel):
    """One page of the feed. Apply it, store ``cursor``, and pull again while ``has_more``."""

    cursor: str
    has_more: bool
    server_time: datetime
    window: WindowOut
    visits: list[VisitOut]
    clients: list[ClientOut]
    care_plans: list[CarePlanOut]
    drops: list[DropOut]
    forms: list[FormOut] = Field(default_factory=list, description="definitions of the forms the visits name, once")


class DeviceOut(BaseModel):
    """A linked device and its last successful sync."""

    id: int
    name: str
    worker_id: str | None
    worker_name: str
    username: str
    token_prefix: str
    linked_at: datetime
    last_sync_at: datetime | None
    last_cursor: int | None
    revoked_at: datetime | None
    revoked_by: str | None
    stale: bool = Field(description="no successful sync for 30 minutes (never synced: counted from linking)")


class DevicesOut(BaseModel):
    """The environment's devices."""

    items: list[DeviceOut]
    stale_after_minutes: int


class SyncOut(BaseModel):
    """One recorded sync of a device."""

    at: datetime
    cursor_from: int | None
    cursor_to: int
    complete: bool
    counts: dict[str, int]


class LinkCodeIn(BaseModel):
    """The worker a code is for: the rostering system's worker id."""

    worker_id: str = Field(min_length=1, max_length=100, pattern=NO_NUL, examples=["W042"])


class LinkCodeOut(BaseModel):
    """A one-time code for the worker to type on their device, shown once."""

    code: str
    username: str
    worker_id: str
    worker_name: str
    expires_at: datetime


# --------------------------------------------------------------------------- device routes


@device_router.post("/link", status_code=201, summary="Link a device with a username and a one-time code")
def link(body: LinkIn, container: ContainerDep) -> LinkOut:
    device, token = mobile.do_link_device(container.db, body.username, body.code, body.device_name)
    return LinkOut(
        token=token,
        device=LinkedDeviceOut(
            id=device.id,
            name=device.name,
            username=device.username,
            worker_name=device.worker_name,
            linked_at=device.linked_at,
        ),
    )


@device_router.get("/sync", summary="Pull the next page of this device's feed")
def sync(
    device: DeviceCaller,
    container: ContainerDep,
    response: Response,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH, pattern=NO_NUL)] = None,
    days: Annotated[int | None, Query(description="days ahead, 0 to 14 (default 14; larger values are capped)")] = None,
    limit: Annotated[int | None, Query(description="visit rows per page, 1 to 1000 (default 200)")] = None,
) -> FeedOut:
    page = mobile.pull(container.db, device, cursor, days, limit=limit)
    response.headers["Cache-Control"] = "no-store"
    return FeedOut.model_validate(page.as_dict())


# --------------------------------------------------------------------------- staff routes


@staff_router.get("/devices", summary="Linked devices and their last successful sync")
def devices(
    actor: ApiActor,
    container: ContainerDep,
    include_revoked: Annotated[bool, Query(description="also list unlinked devices")] = False,
) -> DevicesOut:
    mobile.require_staff(actor)
    env = environment_for(container.db, actor)
    now = utc_now()
    found = mobile.list_devices(container.db, env.id, include_revoked=include_revoked, branch_ids=actor.branch_ids)
    return DevicesOut(
        items=[DeviceOut.model_validate(d.as_dict(now)) for d in found],
        stale_after_minutes=int(mobile.STALE_AFTER.total_seconds() // 60),
    )


@staff_router.get("/devices/{device_id}/syncs", summary="A device's recent syncs, newest first")
def device_syncs(
    device_id: Annotated[int, Path(ge=1, le=MAX_ID)], actor: ApiActor, container: ContainerDep
) -> list[SyncOut]:
    mobile.require_staff(actor)
    env = environment_for(container.db, actor)
    if actor.branch_ids is not None:  # a device of another branch's worker is not found
        visible = mobile.list_devices(container.db, env.id, include_revoked=True, branch_ids=actor.branch_ids)
        if all(d.id != device_id for d in visible):
            raise NotFound(f"no device {device_id}")
    return [SyncOut.model_validate(s) for s in mobile.sync_history(container.db, env.id, device_id)]


@staff_router.post("/devices/{device_id}/revoke", summary="Unlink a device; its token stops working at once")
def revoke(device_id: Annotated[int, Path(ge=1, le=MAX_ID)], actor: ApiActor, container: ContainerDep) -> DeviceOut:
    mobile.require_staff(actor)
    env = environment_for(container.db, actor)
    device = mobile.do_revoke_device(container.db, actor, env.id, device_id)
    return DeviceOut.model_validate(device.as_dict(utc_now()))


@staff_router.post("/link-codes", status_code=201, summary="Issue a one-time link code for a worker")
def issue_link_code(body: LinkCodeIn, actor: ApiActor, container: ContainerDep, response: Response) -> LinkCodeOut:
    mobile.require_staff(actor)
    env = environment_for(container.db, actor)
    issued = mobile.do_issue_link_code(container.db, actor, env.id, body.worker_id)
    response.headers["Cache-Control"] = "no-store"
    return LinkCodeOut.model_validate(issued.as_dict())
