"""The shape of roster records as rostering systems send them (API and files).

Identifiers are the rostering system's own (``id``, ``client_id`` ...); Carehub
resolves them within the sending environment. Every record is complete and
carries a ``version`` that must grow when its content changes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from carehub.platform.errors import json_safe
from carehub.roster.domain.kinds import RecordKind
from carehub.roster.domain.patterns import parse_clock, parse_days

# Versions are stored as 64-bit integers on every database.
MAX_VERSION = 2**63 - 1
# No NUL characters: PostgreSQL cannot store them in text (checked in Rust by pydantic-core, so it costs nothing).
NO_NUL = r"^[^\x00]*$"

# Visit times as sent (in their own offset): later or earlier ones are mistakes, and outside years 1-9999
# a time cannot be converted to UTC at all.
FIRST_YEAR, LAST_YEAR = 1900, 2999


def _addressable(value: str) -> str:
    """An id every per-record URL (``/api/v1/clients/{id}``) can address: no ``/``, not ``.`` or ``..``."""
    if "/" in value:
        msg = f"an id cannot contain '/': the record's own URL could not address it (got {value!r})"
        raise ValueError(msg)
    if value in {".", ".."}:
        msg = f"{value!r} cannot be an id: the record's own URL could not address it"
        raise ValueError(msg)
    return value


ExternalId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=NO_NUL),
    AfterValidator(_addressable),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)]
PersonName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=NO_NUL)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40, pattern=NO_NUL)]
Reference = Annotated[str, StringConstraints(strip_whitespace=True, max_length=40, pattern=NO_NUL)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200, pattern=NO_NUL)]
Postcode = Annotated[
    str,
    # The pattern is checked before the upper-casing, so it admits either case: "bs1 4dj" is stored "BS1 4DJ".
    StringConstraints(
        strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{1,2}[0-9][A-Za-z0-9]? ?[0-9][A-Za-z]{2}$"
    ),
]


def _days(value: str) -> str:
    parse_days(value)
    return ",".join(part.strip().upper() for part in value.split(","))


def _clock(value: str) -> str:
    parse_clock(value)
    return value


def _utc(value: datetime) -> datetime:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        msg = f"the year {value.year} is out of range: expected a year from {FIRST_YEAR} to {LAST_YEAR}"
        raise ValueError(msg)
    return value.astimezone(UTC)


Days = Annotated[str, AfterValidator(_days)]
Clock = Annotated[str, AfterValidator(_clock)]
UtcTime = Annotated[AwareDatetime, AfterValidator(_utc)]


class RecordIn(BaseModel):
    """Fields every roster record has."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    id: ExternalId = Field(description="The rostering system's identifier, unique per kind and environment.")
    version: int = Field(ge=1, le=MAX_VERSION, description="Grows with every change; an older version is refused.")


class BranchIn(RecordIn):
    """An office of the provider."""

    name: Name


class GroupIn(RecordIn):
    """A publish group (run)."""

    name: Name
    branch_id: ExternalId | None = None


class ContractIn(RecordIn):
    """A funding contract."""

    name: Name
    funder: Literal["council", "private", "other"]
    branch_id: ExternalId | None = None
    active: bool = True


class ClientIn(RecordIn):
    """A service user."""

    branch_id: ExternalId
    group_id: ExternalId | None = None
    first_name: PersonName
    last_name: PersonName
    ssref: Reference | None = Field(default=None, description="The council's social-services reference.")
    postcode: Postcode | None = None
    status: Literal["active", "inactive"] = "active"


class WorkerIn(RecordIn):
    """A care worker."""

    branch_id: ExternalId
    first_name: PersonName
    last_name: PersonName
    status: Literal["active", "inactive", "left"] = "active"
    mobile_enabled: bool = False


class PlanVisitIn(RecordIn):
    """A service requirement: the pattern of a client's visits."""

    client_id: ExternalId
    contract_id: ExternalId
    visit_type_code: Code
    visit_type_description: Description | None = None
    days: Days = Field(description="Comma-separated days, e.g. MON,WED,FRI.")
    start_time: Clock = Field(description="Local wall-clock start, HH:MM in the tenant's zone.")
    duration_minutes: int = Field(ge=5, le=1440)
    carers_needed: int = Field(default=1, ge=1, le=4)
    starts_on: date
    ends_on: date | None = None


class VisitIn(RecordIn):
    """A visit; ``start`` and ``end`` need a UTC offset (e.g. ``2026-03-29T08:00:00+01:00``)."""

    client_id: ExternalId
    contract_id: ExternalId
    plan_visit_id: ExternalId | None = None
    kind: Literal["planned", "unplanned", "adhoc"] = "planned"
    start: UtcTime
    end: UtcTime
    carers_needed: int = Field(default=1, ge=1, le=4)
    worker_ids: list[ExternalId] = Field(default_factory=list, max_length=4)


SCHEMAS: dict[RecordKind, type[RecordIn]] = {
    RecordKind.BRANCH: BranchIn,
    RecordKind.GROUP: GroupIn,
    RecordKind.CONTRACT: ContractIn,
    RecordKind.CLIENT: ClientIn,
    RecordKind.WORKER: WorkerIn,
    RecordKind.PLAN_VISIT: PlanVisitIn,
    RecordKind.VISIT: VisitIn,
}

# API field -> table column, where they differ.
COLUMN_NAMES: dict[str, str] = {"start": "start_at", "end": "end_at"}


class RecordErrorOut(BaseModel):
    """Why a record (or a field of it) was refused."""

    field: str | None
    value: Any
    reason: str
    code: str

    @field_validator("field", "value", "reason", mode="before")
    @classmethod
    def _echo_safely(cls, value: Any) -> Any:
        return json_safe(value)


class RecordResultOut(BaseModel):
    """The outcome of one record of a batch."""

    index: int
    id: str | None
    outcome: Literal["created", "updated", "unchanged", "deleted", "rejected"]
    version: int | None
    errors: list[RecordErrorOut] = Field(default_factory=list)

    @field_validator("id", mode="before")
    @classmethod
    def _echo_safely(cls, value: Any) -> Any:
        return json_safe(value)


class BatchResultOut(BaseModel):
    """The outcome of a batch: totals and one row per record, in order."""

    kind: str
    received: int
    created: int
    updated: int
    unchanged: int
    rejected: int
    results: list[RecordResultOut]


class FieldChangeOut(BaseModel):
    """One field's value before and after a change (``null`` where it had none)."""

    before: Any
    after: Any


class ActorOut(BaseModel):
    """Who made a change: a user, an API token, a device or Carehub itself."""

    kind: str
    label: str = Field(description="The username, or ``token:<prefix>`` for an API token.")


class HistoryEntryOut(BaseModel):
    """One audited change of a record."""

    at: datetime = Field(description="When, in UTC.")
    action: str = Field(description="create, update, delete, allocate, deallocate, confirm or cancel.")
    actor: ActorOut
    changes: dict[str, FieldChangeOut]


class HistoryOut(BaseModel):
    """The audit trail of one record, newest change first."""

    kind: str
    id: str
    entries: list[HistoryEntryOut]
