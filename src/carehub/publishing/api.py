"""The publishing REST API: explain, monitored contracts, publish schedules, reconcile, settings, status.

Thin: each route parses input, resolves the caller's environment and calls one
service function. Changes take ``"preview": true`` to be rehearsed and rolled
back, reporting exactly what they would publish, update, cancel or deactivate.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from carehub.platform.auth import permissions
from carehub.platform.web.deps import ApiActor, ContainerDep
from carehub.publishing.service import config, explain, status
from carehub.publishing.service.runs import RunResult
from carehub.tenancy.service import environment_for

NO_NUL = r"^[^\x00]*$"
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_IDS = 5000

router = APIRouter(prefix="/api/v1")

ExternalId = Annotated[str, Field(min_length=1, max_length=100, pattern=NO_NUL)]
IdPath = Annotated[str, Path(min_length=1, max_length=100, pattern=NO_NUL, description="The rostering system's id")]
KindPath = Annotated[
    Literal["client", "worker", "visit", "plan-visit"], Path(description="client, worker, visit or plan-visit")
]


class _In(BaseModel):
    """Request bodies: unknown fields are refused by name, values are never coerced from another type."""

    model_config = ConfigDict(extra="forbid")


class CheckOut(BaseModel):
    """One rule for one record."""

    rule: str = Field(examples=["visit.in_window"])
    passed: bool
    detail: str = Field(description="the actual values: which contract, which window, which workers")
    fix: str | None = Field(description="what to do, naming the screen or command; null when the rule passed")


class ExplanationOut(BaseModel):
    """Does the record publish now, and every rule with its outcome."""

    kind: str = Field(examples=["visit"])
    id: str
    publishes: bool
    checks: list[CheckOut]
    published_state: str | None = Field(description="its state in care planning now, if it ever published")
    notes: list[str] = Field(description="facts besides the rules that stop it publishing (deleted, cancelled)")
    info: list[str] = Field(description="more facts, such as a worker's care-planning username")


class ContractOut(BaseModel):
    """A contract, and whether records on it publish."""

    id: str
    name: str
    funder: str
    monitored: bool
    ticked_by: str | None
    ticked_at: datetime | None


class ContractsIn(_In):
    """Contracts to tick (monitored: true) or untick (false)."""

    contract_ids: list[ExternalId] = Field(min_length=1, max_length=MAX_IDS, examples=[["K1"]])
    monitored: StrictBool
    preview: StrictBool = False


class ScheduleOut(BaseModel):
    """A group's publish schedule."""

    group_id: str
    name: str
    publish_until: date | None = Field(description="set by a publish schedule; null: the default window")
    last_day: date = Field(description="the last day whose visits publish (the later of the schedule and default)")
    set_by: str | None
    set_at: datetime | None


class ScheduleIn(_In):
    """Publish groups' visits up to a date at most 14 days ahead."""

    group_ids: list[ExternalId] = Field(min_length=1, max_length=MAX_IDS, examples=[["G1"]])
    publish_until: date = Field(description="YYYY-MM-DD, today to 14 days ahead (tenant's zone)")
    preview: StrictBool = False

    @field_validator("publish_until", mode="before")
    @classmethod
    def _iso_day(cls, value: Any) -> Any:
        """Only a ``YYYY-MM-DD`` string: no numbers, no times."""
        if not isinstance(value, str) or not ISO_DAY.fullmatch(value):
            raise ValueError("Input should be a valid date in the format YYYY-MM-DD")
        return value


class ReconcileIn(_In):
    """A full run over the environment."""

    preview: StrictBool = False


class SettingsIn(_In):
    """Publishing settings to change; omitted ones stay as they are."""

    default_days_ahead: StrictInt | None = Field(default=None, description="0 to 14 days")
    reconcile_every_minutes: StrictInt | None = Field(default=None, description="15 to 10080 minutes")


class SettingsOut(BaseModel):
    """An environment's publishing settings."""

    default_days_ahead: int
    reconcile_every_minutes: int
    last_export_at: datetime | None
    last_reconcile_at: datetime | None


class ChangeOut(BaseModel):
    """One change of a run."""

    kind: str
    id: str
    change: str = Field(description="published, updated, cancelled, deactivated or ended")
    state: str


class RunOut(BaseModel):
    """What a run changed (or, previewed, would change)."""

    preview: bool
    changes: int
    counts: dict[str, dict[str, int]] = Field(
        description="per kind (visit, care_plan, client, worker): change → count",
        examples=[{"visit": {"published": 3}, "care_plan": {}, "client": {"published": 1}, "worker": {}}],
    )
    sample: list[ChangeOut] = Field(description="the first 200 changes")


def _run_out(result: RunResult, *, preview: bool) -> RunOut:
    return RunOut.model_validate({"preview": preview, **result.as_dict()})


@router.get("/explain/{kind}/{external_id}", tags=["Publishing"], summary="Does a record publish, and why not")
def explain_record(kind: KindPath, external_id: IdPath, actor: ApiActor, container: ContainerDep) -> ExplanationOut:
    status.require_staff(actor)
    env = environment_for(container.db, actor)
    answer = explain.do_explain(container.db, actor, env.id, kind, external_id)
    return ExplanationOut.model_validate(answer.as_dict())


@router.get("/publishing/contracts", tags=["Publishing"], summary="Contracts and whether they are monitored")
def list_contracts(actor: ApiActor, container: ContainerDep) -> list[ContractOut]:
    permissions.require_admin(actor, "see monitored contracts (tenant configuration)")
    env = environment_for(container.db, actor)
    return [
        ContractOut(
            id=c.id, name=c.name, funder=c.funder, monitored=c.monitored, ticked_by=c.ticked_by, ticked_at=c.ticked_at
        )
        for c in config.list_contracts(container.db, env.id)
    ]


@router.post("/publishing/contracts", tags=["Publishing"], summary="Tick or untick monitored contracts (admin)")
def set_contracts(body: ContractsIn, actor: ApiActor, container: ContainerDep) -> RunOut:
    env = environment_for(container.db, actor)
    result = config.do_set_monitored(
        container.db, actor, env.id, body.contract_ids, monitored=body.monitored, preview=body.preview
    )
    return _run_out(result, preview=body.preview)


@router.get("/publishing/schedules", tags=["Publishing"], summary="Groups and their publish schedules")
def list_schedules(actor: ApiActor, container: ContainerDep) -> list[ScheduleOut]:
    permissions.require_admin(actor, "see publish schedules (tenant configuration)")
    env = environment_for(container.db, actor)
    return [
        ScheduleOut(
            group_id=s.group_id,
            name=s.name,
            publish_until=s.publish_until,
            last_day=s.last_day,
            set_by=s.set_by,
            set_at=s.set_at,
        )
        for s in config.list_schedules(container.db, env.id)
    ]


@router.post("/publishing/schedules", tags=["Publishing"], summary="Publish groups up to a date (≤ 14 days)")
def publish_schedule(body: ScheduleIn, actor: ApiActor, container: ContainerDep) -> RunOut:
    env = environment_for(container.db, actor)
    result = config.do_publish_schedule(
        container.db, actor, env.id, body.group_ids, body.publish_until, preview=body.preview
    )
    return _run_out(result, preview=body.preview)


@router.post("/publishing/reconcile", tags=["Publishing"], summary="Run a full reconcile now")
def reconcile(actor: ApiActor, container: ContainerDep, body: ReconcileIn | None = None) -> RunOut:
    preview = body.preview if body else False
    env = environment_for(container.db, actor)
    return _run_out(config.do_reconcile(container.db, actor, env.id, preview=preview), preview=preview)


@router.get("/publishing/settings", tags=["Publishing"], summary="Publishing settings")
def get_settings(actor: ApiActor, container: ContainerDep) -> SettingsOut:
    permissions.require_admin(actor, "see publishing settings (tenant configuration)")
    env = environment_for(container.db, actor)
    return SettingsOut.model_validate(status.settings_of(container.db, env.id).as_dict())


@router.patch("/publishing/settings", tags=["Publishing"], summary="Change publishing settings (admin)")
def patch_settings(body: SettingsIn, actor: ApiActor, container: ContainerDep) -> SettingsOut:
    env = environment_for(container.db, actor)
    config.do_set_publish_settings(
        container.db,
        actor,
        env.id,
        default_days_ahead=body.default_days_ahead,
        reconcile_every_minutes=body.reconcile_every_minutes,
    )
    return SettingsOut.model_validate(status.settings_of(container.db, env.id).as_dict())


@router.get("/publishing/status", tags=["Publishing"], summary="Integration health with reasons, and its facts")
def get_status(actor: ApiActor, container: ContainerDep) -> dict[str, Any]:
    env = environment_for(container.db, actor)
    if actor.kind == "token":
        # A rostering system monitors its own environment's integration, read only (docs/access.md).
        permissions.require(actor, permissions.Permission.READ_STATUS)
        return status.status_of(container.db, env.id).as_dict()
    return status.read_status(container.db, actor, env.id).as_dict()
