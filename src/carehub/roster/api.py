"""The roster REST API for rostering systems: ``/api/v1``.

Thin: each route parses input, resolves the caller's environment and calls
one service function. Batches accept any JSON per record so that one bad
record is reported on its own instead of failing the request.
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response, UploadFile
from pydantic import BaseModel, Field, WithJsonSchema

from carehub.platform.auth import permissions
from carehub.platform.errors import InvalidInput, RecordError
from carehub.platform.web.deps import ApiActor, ContainerDep
from carehub.roster.domain.kinds import RecordKind
from carehub.roster.domain.rules import Outcome
from carehub.roster.schemas import MAX_VERSION, NO_NUL, SCHEMAS, BatchResultOut, HistoryOut, RecordResultOut
from carehub.roster.service import changes, queries
from carehub.roster.service.imports import do_import_file
from carehub.roster.service.results import RecordResult
from carehub.roster.service.upsert import do_upsert_batch
from carehub.tenancy.service import environment_for

router = APIRouter(prefix="/api/v1")

# Identifiers in paths and text in queries: bounded, and never a NUL (PostgreSQL cannot compare one).
IdPath = Annotated[str, Path(min_length=1, max_length=100, pattern=NO_NUL)]
TextQuery = Annotated[str | None, Query(max_length=200, pattern=NO_NUL)]
MAX_PAGE = 1_000_000
EnvironmentQuery = Annotated[
    int | None,
    Query(ge=1, le=2_147_483_647, description="For signed-in users: an environment of their tenant (default: primary)"),
]


class CancelIn(BaseModel):
    """Why a visit is cancelled."""

    reason: str | None = Field(default=None, max_length=200, pattern=NO_NUL)


class AllocateIn(BaseModel):
    """The worker to allocate."""

    worker_id: str = Field(min_length=1, max_length=100, pattern=NO_NUL)


def _single(result: RecordResult, response: Response) -> RecordResultOut:
    if result.outcome is Outcome.REJECTED:
        raise InvalidInput(
            f"record {result.id!r} refused: " + "; ".join(f"{v.field}: {v.reason}" for v in result.errors),
            errors=[RecordError(0, result.id, v.field, v.value, v.reason, v.code) for v in result.errors],
        )
    if result.outcome is Outcome.CREATED:
        response.status_code = 201
    return RecordResultOut.model_validate(result.as_dict())


def _add_kind_routes(kind: RecordKind) -> None:  # noqa: C901 - one closure per route
    schema = SCHEMAS[kind]
    plural = kind.plural
    tag = plural.replace("-", " ").capitalize()
    one_schema = WithJsonSchema({"$ref": f"#/components/schemas/{schema.__name__}"})
    batch_schema = WithJsonSchema(
        {"type": "array", "maxItems": 5000, "items": {"$ref": f"#/components/schemas/{schema.__name__}"}}
    )

    @router.put(
        f"/{plural}/{{external_id}}", tags=[tag], summary=f"Create or update one {kind.value.replace('_', ' ')}"
    )
    def put_one(
        external_id: IdPath,
        record: Annotated[Annotated[dict[str, Any], one_schema], Body()],
        actor: ApiActor,
        container: ContainerDep,
        response: Response,
    ) -> RecordResultOut:
        env = environment_for(container.db, actor)
        record = {**record, "id": record.get("id", external_id)}
        if str(record["id"]) != external_id:
            raise InvalidInput(
                "the id in the body differs from the id in the URL",
                errors=[RecordError(0, external_id, "id", record["id"], f"the URL's id {external_id!r}")],
            )
        return _single(changes.do_upsert_record(container.db, actor, env.id, kind, record), response)

    @router.post(f"/{plural}/batch", tags=[tag], summary=f"Create or update up to 5,000 {plural}")
    def post_batch(
        records: Annotated[Annotated[list[Any], batch_schema], Body(embed=True)],
        actor: ApiActor,
        container: ContainerDep,
    ) -> BatchResultOut:
        env = environment_for(container.db, actor)
        result = do_upsert_batch(
            container.db, actor, env.id, kind, records, max_records=container.settings.max_batch_records
        )
        return BatchResultOut.model_validate(result.as_dict())

    @router.get(f"/{plural}/{{external_id}}", tags=[tag], summary=f"Read one {kind.value.replace('_', ' ')}")
    def get_one(
        external_id: IdPath, actor: ApiActor, container: ContainerDep, environment: EnvironmentQuery = None
    ) -> dict[str, Any]:
        permissions.require_staff(actor)
        env = environment_for(container.db, actor, environment)
        item = queries.do_view_record(container.db, actor, env.id, kind, external_id)
        item.pop("_pk", None)
        return item

    @router.get(f"/{plural}", tags=[tag], summary=f"List {plural}")
    def list_all(
        actor: ApiActor,
        container: ContainerDep,
        q: TextQuery = None,
        status: TextQuery = None,
        start_from: datetime | None = None,
        start_to: datetime | None = None,
        page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
        per_page: Annotated[int, Query(ge=1, le=queries.MAX_PER_PAGE)] = 50,
        environment: EnvironmentQuery = None,
    ) -> dict[str, Any]:
        permissions.require_staff(actor)
        env = environment_for(container.db, actor, environment)
        for name, value in (("start_from", start_from), ("start_to", start_to)):
            if value is not None and value.tzinfo is None:
                raise InvalidInput(
                    f"{name} needs a UTC offset",
                    errors=[RecordError(None, None, name, value.isoformat(), "an ISO 8601 time with offset")],
                )
        result = queries.list_records(
            container.db,
            env.id,
            kind,
            q=q,
            status=status,
            start_from=start_from,
            start_to=start_to,
            page=page,
            per_page=per_page,
            branch_ids=actor.branch_ids,
        )
        for item in result.items:
            item.pop("_pk", None)
        return {"items": result.items, "total": result.total, "page": result.page, "per_page": result.per_page}

    @router.delete(f"/{plural}/{{external_id}}", tags=[tag], summary=f"Delete one {kind.value.replace('_', ' ')}")
    def delete_one(
        external_id: IdPath,
        actor: ApiActor,
        container: ContainerDep,
        version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
    ) -> RecordResultOut:
        env = environment_for(container.db, actor)
        result = changes.do_delete_record(container.db, actor, env.id, kind, external_id, version)
        if result.outcome is Outcome.REJECTED:
            raise InvalidInput(
                result.errors[0].reason,
                errors=[RecordError(0, external_id, v.field, v.value, v.reason, v.code) for v in result.errors],
            )
        return RecordResultOut.model_validate(result.as_dict())

    @router.get(
        f"/{plural}/{{external_id}}/history",
        tags=[tag],
        summary=f"Audit trail of one {kind.value.replace('_', ' ')}: who changed what, when, newest first",
    )
    def history(
        external_id: IdPath,
        actor: ApiActor,
        container: ContainerDep,
        views: Annotated[bool, Query(description="Also list who opened the record (action 'view').")] = False,
        environment: EnvironmentQuery = None,
    ) -> HistoryOut:
        permissions.require_staff(actor)
        env = environment_for(container.db, actor, environment)
        entries = queries.record_history(
            container.db, env.id, kind, external_id, include_views=views, branch_ids=actor.branch_ids
        )
        return HistoryOut.model_validate(
            {"kind": kind.value, "id": external_id, "entries": [e.as_dict() for e in entries]}
        )

    _ = (put_one, post_batch, get_one, list_all, delete_one, history)


for _kind in RecordKind:
    _add_kind_routes(_kind)


@router.post("/visits/{visit_id}/allocations", tags=["Visits"], summary="Allocate a worker to a visit")
def allocate(visit_id: IdPath, body: AllocateIn, actor: ApiActor, container: ContainerDep) -> RecordResultOut:
    env = environment_for(container.db, actor)
    result = changes.do_allocate_worker(container.db, actor, env.id, visit_id, body.worker_id)
    return RecordResultOut.model_validate(result.as_dict())


@router.delete("/visits/{visit_id}/allocations/{worker_id}", tags=["Visits"], summary="De-allocate a worker")
def deallocate(visit_id: IdPath, worker_id: IdPath, actor: ApiActor, container: ContainerDep) -> RecordResultOut:
    env = environment_for(container.db, actor)
    result = changes.do_deallocate_worker(container.db, actor, env.id, visit_id, worker_id)
    return RecordResultOut.model_validate(result.as_dict())


@router.post("/visits/{visit_id}/confirm", tags=["Visits"], summary="Confirm a visit manually")
def confirm(visit_id: IdPath, actor: ApiActor, container: ContainerDep) -> RecordResultOut:
    env = environment_for(container.db, actor)
    return RecordResultOut.model_validate(changes.do_confirm_visit(container.db, actor, env.id, visit_id).as_dict())


@router.post("/visits/{visit_id}/cancel", tags=["Visits"], summary="Cancel a visit")
def cancel(visit_id: IdPath, actor: ApiActor, container: ContainerDep, body: CancelIn | None = None) -> RecordResultOut:
    env = environment_for(container.db, actor)
    result = changes.do_cancel_visit(container.db, actor, env.id, visit_id, body.reason if body else None)
    return RecordResultOut.model_validate(result.as_dict())


@router.post("/imports/{plural}", tags=["Imports"], summary="Import a CSV or JSON-lines file of one record kind")
def import_file(plural: IdPath, file: UploadFile, actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    try:
        kind = RecordKind.from_plural(plural)
    except ValueError as exc:
        raise InvalidInput(str(exc), errors=[RecordError(None, None, "kind", plural, str(exc))]) from exc
    env = environment_for(container.db, actor)
    report = do_import_file(container.db, actor, env.id, kind, file.file, file.filename or "upload")
    return report.as_dict()
