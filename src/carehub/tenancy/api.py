"""The environments REST API: list, connect (with a dry run), pause, resume, staff login changes.

Thin: each route parses input and calls one service function of
:mod:`carehub.tenancy.connect`. Tenant administrators only; an environment of
another tenant is not found.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from carehub.platform.web.deps import ApiActor, ContainerDep
from carehub.tenancy import connect
from carehub.tenancy.domain.naming import DEFAULT_BRANCH_FORMAT, DEFAULT_USERNAME_FORMAT, DEFAULT_VISIT_ID_FORMAT

router = APIRouter(prefix="/api/v1/environments", tags=["Environments"])
NO_NUL = r"^[^\x00]*$"
EnvPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="The environment's id")]


class ConnectIn(BaseModel):
    """A rostering environment to connect; ``dry_run`` (the default) only reports what would happen."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=NO_NUL, examples=["SouthWest"])
    prefix: str = Field(min_length=1, max_length=40, examples=["SouthWest"], description="letters and digits")
    branch_format: str = Field(DEFAULT_BRANCH_FORMAT, max_length=100)
    username_format: str = Field(DEFAULT_USERNAME_FORMAT, max_length=100)
    visit_id_format: str = Field(DEFAULT_VISIT_ID_FORMAT, max_length=100)
    source_tenant: str | None = Field(
        None, max_length=200, pattern=NO_NUL, description="the standalone tenant this environment had, if any"
    )
    dry_run: StrictBool = Field(default=True)
    create_token: StrictBool = Field(default=False, description="create the environment's first API token (shown once)")


@router.get("", summary="The tenant's environments, primary first")
def list_environments(actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    return {"environments": [connect.environment_dict(e) for e in connect.list_for(container.db, actor)]}


@router.post("", summary="Connect an environment: a dry run by default, then apply with dry_run false")
def connect_environment(body: ConnectIn, actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    plan = connect.do_connect_environment(
        container.db,
        actor,
        name=body.name,
        prefix=body.prefix,
        branch_format=body.branch_format,
        username_format=body.username_format,
        visit_id_format=body.visit_id_format,
        source_tenant=body.source_tenant,
        dry_run=body.dry_run,
        create_token=body.create_token,
    )
    return plan.as_dict()


@router.post("/{environment_id}/pause", summary="Pause publishing for an environment (roster writes still stored)")
def pause(environment_id: EnvPath, actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    return connect.environment_dict(connect.do_pause_environment(container.db, actor, environment_id))


@router.post("/{environment_id}/resume", summary="Resume: a reconcile catches up and reports what it published")
def resume(environment_id: EnvPath, actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    return connect.do_resume_environment(container.db, actor, environment_id).as_dict()


@router.get(
    "/{environment_id}/login-changes",
    summary="Staff login changes as CSV: name, old username, new username, branch",
    response_class=Response,
)
def login_changes(environment_id: EnvPath, actor: ApiActor, container: ContainerDep) -> Response:
    text = connect.login_changes_csv(connect.login_changes(container.db, actor, environment_id))
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="login-changes-{environment_id}.csv"'},
    )
