"""Roster tables.

Every record belongs to one environment and is keyed there by the rostering
system's own identifier (``external_id``), with a version.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from carehub.platform.db import Base, UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class RosterRecord:
    """Columns every roster record has."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    external_id: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:  # noqa: N805 - SQLAlchemy passes the class
        return (UniqueConstraint("environment_id", "external_id"),)


class Branch(RosterRecord, Base):
    """An office of the provider; staff access is granted per branch."""

    __tablename__ = "branches"

    name: Mapped[str] = mapped_column(String(200))


class Group(RosterRecord, Base):
    """A publish group (a run); publish schedules are set per group."""

    __tablename__ = "roster_groups"

    name: Mapped[str] = mapped_column(String(200))
    branch_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("branches.id"))


class Contract(RosterRecord, Base):
    """A funding contract: council-funded, private, or other."""

    __tablename__ = "contracts"

    name: Mapped[str] = mapped_column(String(200))
    funder: Mapped[str] = mapped_column(String(20))
    branch_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("branches.id"))
    active: Mapped[bool] = mapped_column(default=True)


class Client(RosterRecord, Base):
    """A service user."""

    __tablename__ = "clients"

    branch_id: Mapped[int] = mapped_column(BigId, ForeignKey("branches.id"), index=True)
    group_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("roster_groups.id"), index=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    ssref: Mapped[str | None] = mapped_column(String(40))
    postcode: Mapped[str | None] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(16))


class Worker(RosterRecord, Base):
    """A care worker (carer)."""

    __tablename__ = "workers"

    branch_id: Mapped[int] = mapped_column(BigId, ForeignKey("branches.id"), index=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    mobile_enabled: Mapped[bool] = mapped_column(default=False)


class PlanVisit(RosterRecord, Base):
    """A service requirement: the pattern a client's visits follow."""

    __tablename__ = "plan_visits"

    client_id: Mapped[int] = mapped_column(BigId, ForeignKey("clients.id"), index=True)
    contract_id: Mapped[int] = mapped_column(BigId, ForeignKey("contracts.id"), index=True)
    visit_type_code: Mapped[str] = mapped_column(String(40))
    visit_type_description: Mapped[str | None] = mapped_column(String(200))
    days: Mapped[str] = mapped_column(String(40))
    start_time: Mapped[str] = mapped_column(String(5))
    duration_minutes: Mapped[int]
    carers_needed: Mapped[int] = mapped_column(default=1)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)


class Visit(RosterRecord, Base):
    """A visit: planned, unplanned or ad-hoc; start and end stored in UTC."""

    __tablename__ = "visits"
    __table_args__ = (
        UniqueConstraint("environment_id", "external_id"),
        Index("ix_visits_environment_start", "environment_id", "start_at"),
    )

    client_id: Mapped[int] = mapped_column(BigId, ForeignKey("clients.id"), index=True)
    contract_id: Mapped[int] = mapped_column(BigId, ForeignKey("contracts.id"), index=True)
    plan_visit_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("plan_visits.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime] = mapped_column(UTCDateTime())
    carers_needed: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_reason: Mapped[str | None] = mapped_column(String(200))


class VisitAllocation(Base):
    """A worker allocated to a visit; a double-up has two."""

    __tablename__ = "visit_allocations"

    visit_id: Mapped[int] = mapped_column(BigId, ForeignKey("visits.id", ondelete="CASCADE"), primary_key=True)
    worker_id: Mapped[int] = mapped_column(BigId, ForeignKey("workers.id"), primary_key=True, index=True)


TABLES: dict[str, type[RosterRecord]] = {
    "branch": Branch,
    "group": Group,
    "contract": Contract,
    "client": Client,
    "worker": Worker,
    "plan_visit": PlanVisit,
    "visit": Visit,
}
