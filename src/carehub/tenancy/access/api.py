"""The users and roles REST API: ``/api/v1/users``. Tenant administrators (and API tokens) only.

Thin: each route parses input and calls one function of :mod:`carehub.tenancy.access.service`.
A user or branch of another tenant is not found.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from carehub.platform.auth.actor import Role
from carehub.platform.web.deps import ApiActor, ContainerDep
from carehub.tenancy.access import service as access

router = APIRouter(prefix="/api/v1/users", tags=["Users and roles"])
NO_NUL = r"^[^\x00]*$"
UserPath = Annotated[str, Path(min_length=1, max_length=150, pattern=NO_NUL, description="The username")]
BranchPath = Annotated[str, Path(min_length=1, max_length=100, pattern=NO_NUL, description="The roster branch id")]
EnvironmentQuery = Annotated[
    int | None, Query(ge=1, le=2**31 - 1, description="The branch's environment (default: the primary)")
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserIn(_In):
    """A user to create; they see no branch until one is granted."""

    username: str = Field(min_length=1, max_length=150, pattern=NO_NUL)
    password: str = Field(min_length=1, max_length=200)
    role: Role
    display_name: str | None = Field(None, max_length=200, pattern=NO_NUL)


class UserPatch(_In):
    """A new role, or ``active: false`` to deactivate; omitted fields stay as they are."""

    role: Role | None = None
    active: StrictBool | None = None


class GrantIn(_In):
    """A roster branch to grant, by the rostering system's id."""

    branch_id: str = Field(min_length=1, max_length=100, pattern=NO_NUL, examples=["B1"])
    environment_id: int | None = Field(None, ge=1, le=2**31 - 1, description="default: the primary environment")


@router.get("", summary="Users with their roles and branches")
def list_users(actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    return {"users": [u.as_dict() for u in access.list_users(container.db, actor)]}


@router.get("/{username}", summary="One user with their role and branches")
def get_user(username: UserPath, actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    return access.get_user(container.db, actor, username).as_dict()


@router.post("", status_code=201, summary="Create a user")
def create_user(body: UserIn, actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    made = access.do_create_user(
        container.db,
        actor,
        username=body.username,
        password=body.password,
        role=body.role,
        display_name=body.display_name,
    )
    return access.get_user(container.db, actor, made.username).as_dict()


@router.patch("/{username}", summary="Change a user's role, or deactivate or reactivate them")
def patch_user(username: UserPath, body: UserPatch, actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    if body.role is not None:
        access.do_set_role(container.db, actor, username, body.role)
    if body.active is not None:
        access.do_set_active(container.db, actor, username, active=body.active)
    return access.get_user(container.db, actor, username).as_dict()


@router.post("/{username}/branches", status_code=201, summary="Grant a branch to a user")
def grant(username: UserPath, body: GrantIn, actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    found = access.do_grant_branch(container.db, actor, username, body.branch_id, environment_id=body.environment_id)
    return found.as_dict()


@router.delete("/{username}/branches/{branch_id}", summary="Take a branch away from a user")
def revoke(
    username: UserPath,
    branch_id: BranchPath,
    actor: ApiActor,
    container: ContainerDep,
    environment: EnvironmentQuery = None,
) -> Response:
    access.do_revoke_branch(container.db, actor, username, branch_id, environment_id=environment)
    return Response(status_code=204)
