"""The forms and services REST API: administrators write, staff read what their branches see.

Thin: each route parses input and calls one function of
:mod:`carehub.tenancy.forms.service`. Forms and services outside the caller's
branches are not found (404); a branch manager or coordinator who tries to
edit gets 403. Field definitions are checked by the service, which names each
problem (form, field, value, expectation).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from carehub.platform.web.deps import ApiActor, ContainerDep
from carehub.tenancy.forms import service as forms

router = APIRouter(tags=["Forms and services"])
NO_NUL = r"^[^\x00]*$"
KeyPath = Annotated[str, Path(min_length=1, max_length=60, description="The form's key")]
ServicePath = Annotated[int, Path(ge=1, le=2**31 - 1, description="The service's id")]
VersionPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="A version number")]
BranchIds = list[Annotated[int, Field(ge=1, le=2**63 - 1)]]


class FormIn(BaseModel):
    """A form definition: key (new forms only), title and ordered fields."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(max_length=200, examples=["daily-notes"])
    title: str = Field(max_length=400, examples=["Daily notes"])
    fields: list[Any] = Field(
        max_length=1000,
        examples=[[{"key": "mood", "label": "Mood", "type": "choice", "required": True, "choices": ["Good", "Low"]}]],
        description="each: key, label, type (text, number, yes-no, choice, date, signature), required, choices",
    )


class FormEdit(BaseModel):
    """A new version of a form; ``expected_version`` refuses an edit over someone else's newer one."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(max_length=400)
    fields: list[Any] = Field(max_length=1000)
    expected_version: int | None = Field(None, ge=1, le=2**31 - 1)


class ImportIn(BaseModel):
    """Many forms at once, all or nothing."""

    model_config = ConfigDict(extra="forbid")

    forms: list[Any] = Field(max_length=forms.MAX_IMPORT)


class ServiceIn(BaseModel):
    """A service: its name, forms (keys) and branches (roster branch ids)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=400, pattern=NO_NUL, examples=["Home care"])
    forms: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list, max_length=1000)
    branch_ids: BranchIds = Field(default_factory=list, max_length=10_000)


class ServicePatch(BaseModel):
    """What to change: a new name, the complete list of forms, or the complete list of branches."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=400, pattern=NO_NUL)
    forms: list[Annotated[str, Field(max_length=200)]] | None = Field(None, max_length=1000)
    branch_ids: BranchIds | None = Field(None, max_length=10_000)


class DedicatedIn(BaseModel):
    """A service dedicated to one branch; starts with the forms the branch sees now."""

    model_config = ConfigDict(extra="forbid")

    branch_id: int = Field(ge=1, le=2**63 - 1)
    name: str | None = Field(None, max_length=400, pattern=NO_NUL)


@router.get("/api/v1/forms", summary="The forms the caller sees (one branch's with ?branch_id=)")
def list_forms(
    actor: ApiActor,
    container: ContainerDep,
    branch_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    archived: Annotated[bool, Query(description="include archived forms (administrators)")] = False,
) -> dict[str, Any]:
    found = forms.list_forms(container.db, actor, include_archived=archived, branch_id=branch_id)
    return {"forms": [f.as_dict() for f in found]}


@router.post("/api/v1/forms", summary="Define a form for the whole tenant (version 1)", status_code=201)
def create_form(body: FormIn, actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    return forms.do_create_form(container.db, actor, key=body.key, title=body.title, fields=body.fields).as_dict(
        detail=True
    )


@router.post("/api/v1/forms/import", summary="Create or edit many forms at once, all or nothing")
def import_forms(body: ImportIn, actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    return {"forms": [o.as_dict() for o in forms.do_import_forms(container.db, actor, {"forms": body.forms})]}


@router.get("/api/v1/forms/{key}", summary="A form with its current fields and every version")
def get_form(key: KeyPath, actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    return forms.get_form(container.db, actor, key).as_dict(detail=True)


@router.put("/api/v1/forms/{key}", summary="Edit a form: a new version every branch seeing it gets at once")
def update_form(key: KeyPath, body: FormEdit, actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    return forms.do_update_form(
        container.db, actor, key, title=body.title, fields=body.fields, expected_version=body.expected_version
    ).as_dict(detail=True)


@router.get("/api/v1/forms/{key}/versions/{version}", summary="One version of a form")
def get_form_version(key: KeyPath, version: VersionPath, actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    return forms.get_form_version(container.db, actor, key, version).as_dict()


@router.post("/api/v1/forms/{key}/archive", summary="Archive a form (kept, seen by no branch)")
def archive_form(key: KeyPath, actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    return forms.do_archive_form(container.db, actor, key).as_dict()


@router.post("/api/v1/forms/{key}/restore", summary="Restore an archived form")
def restore_form(key: KeyPath, actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    return forms.do_restore_form(container.db, actor, key).as_dict()


@router.get("/api/v1/services", summary="The services the caller sees, with their forms and branches")
def list_services(
    actor: ApiActor,
    container: ContainerDep,
    archived: Annotated[bool, Query(description="include archived services (administrators)")] = False,
) -> dict[str, Any]:
    found = forms.list_services(container.db, actor, include_archived=archived and actor.is_admin)
    return {"services": [s.as_dict() for s in found]}


@router.post("/api/v1/services", summary="Create a service with its forms and branches", status_code=201)
def create_service(body: ServiceIn, actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    return forms.do_create_service(
        container.db, actor, name=body.name, form_keys=body.forms, branch_ids=body.branch_ids
    ).as_dict()


@router.post(
    "/api/v1/services/dedicated",
    summary="Give a branch its own forms: a service dedicated to it, starting from the forms it sees now",
    status_code=201,
)
def create_dedicated(body: DedicatedIn, actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    return forms.do_create_dedicated_service(container.db, actor, body.branch_id, name=body.name).as_dict()


@router.get("/api/v1/services/branches", summary="The branches the caller sees, with their services")
def list_branches(actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    return {"branches": [b.as_dict() for b in forms.list_branches(container.db, actor)]}


@router.get("/api/v1/services/{service_id}", summary="One service")
def get_service(service_id: ServicePath, actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    return forms.get_service(container.db, actor, service_id).as_dict()


@router.patch("/api/v1/services/{service_id}", summary="Rename a service or replace its forms or branches")
def update_service(
    service_id: ServicePath, body: ServicePatch, actor: ApiActor, container: ContainerDep
) -> dict[str, Any]:
    return forms.do_update_service(
        container.db, actor, service_id, name=body.name, form_keys=body.forms, branch_ids=body.branch_ids
    ).as_dict()


@router.post("/api/v1/services/{service_id}/archive", summary="Archive a service (its branches stop seeing its forms)")
def archive_service(service_id: ServicePath, actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    return forms.do_archive_service(container.db, actor, service_id).as_dict()


@router.post("/api/v1/services/{service_id}/restore", summary="Restore an archived service")
def restore_service(service_id: ServicePath, actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    return forms.do_restore_service(container.db, actor, service_id).as_dict()
