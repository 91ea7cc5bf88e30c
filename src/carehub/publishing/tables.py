"""Publishing tables: configuration, and the published copy (the care-planning side).

Published rows refer to roster records by their primary key (``*_id`` columns
named after the roster kind) and keep the roster's external id, but hold no
foreign key into roster tables: the two capabilities meet only through service
calls. Each published row carries ``seq``, the environment's change counter at
its last change, so devices can pull changes by cursor.

Ownership: columns under "owned by care planning" are edited on the care-
planning side and never written by a republish.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from carehub.platform.db import Base, UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class PublishSettings(Base):
    """Per environment: the default window, the reconcile interval, the change counter and last runs."""

    __tablename__ = "publish_settings"

    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"), primary_key=True)
    default_days_ahead: Mapped[int] = mapped_column(default=7)
    reconcile_every_minutes: Mapped[int] = mapped_column(default=1440)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_export_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_reconcile_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MonitoredContract(Base):
    """A contract whose records publish to care planning (tenant configuration)."""

    __tablename__ = "monitored_contracts"

    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"), primary_key=True)
    contract_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticked_by: Mapped[str] = mapped_column(String(200))
    ticked_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PublishSchedule(Base):
    """A group's publish-until date, and the UTC end of its window (end of that day, tenant zone)."""

    __tablename__ = "publish_schedules"

    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"), primary_key=True)
    group_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    publish_until: Mapped[date] = mapped_column(Date)
    window_end_at: Mapped[datetime] = mapped_column(UTCDateTime())
    set_by: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PublishRun(Base):
    """One publishing run (a change, a schedule, a reconcile): what it changed, when."""

    __tablename__ = "publish_runs"
    __table_args__ = (Index("ix_publish_runs_environment_started", "environment_id", "started_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    trigger: Mapped[str] = mapped_column(String(20))  # change | schedule | contracts | reconcile | refresh
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())
    changes: Mapped[int] = mapped_column(default=0)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PublishedBranch(Base):
    """A branch on the care-planning side, matched by exact name: never two of one name per tenant.

    It belongs to one environment (``environment_id``, set by the first record published into it): records
    of another environment whose branch publishes under the same name are refused, never put in it.
    """

    __tablename__ = "published_branches"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The environment whose records it holds; None only for a branch no record was ever published into.
    environment_id: Mapped[int | None] = mapped_column(ForeignKey("environments.id"))


class PublishedRecord:
    """Columns every published row has."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    external_id: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(16))  # active | cancelled | deactivated | ended
    seq: Mapped[int] = mapped_column(BigInteger)
    first_published_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PublishedClient(PublishedRecord, Base):
    """A client in care planning."""

    __tablename__ = "published_clients"
    __table_args__ = (
        UniqueConstraint("client_id"),
        Index("ix_published_clients_environment_seq", "environment_id", "seq"),
    )

    client_id: Mapped[int] = mapped_column(BigId)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    branch_id: Mapped[int] = mapped_column(ForeignKey("published_branches.id"))
    # Owned by care planning.
    phone: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(String(400))
    notes: Mapped[str | None] = mapped_column(Text)


class PublishedWorker(PublishedRecord, Base):
    """A care worker in care planning; the username is generated once and never changes."""

    __tablename__ = "published_workers"
    __table_args__ = (
        UniqueConstraint("worker_id"),
        UniqueConstraint("tenant_id", "username"),
        Index("ix_published_workers_environment_seq", "environment_id", "seq"),
    )

    worker_id: Mapped[int] = mapped_column(BigId)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    username: Mapped[str] = mapped_column(String(60))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    branch_id: Mapped[int] = mapped_column(ForeignKey("published_branches.id"))
    # Owned by care planning.
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(200))


class PublishedCarePlan(PublishedRecord, Base):
    """A care plan from a plan visit; a new service requirement ends it and starts the next revision."""

    __tablename__ = "published_care_plans"
    __table_args__ = (
        UniqueConstraint("plan_visit_id", "revision"),
        Index("ix_published_care_plans_environment_seq", "environment_id", "seq"),
        Index("ix_published_care_plans_client", "client_id"),
    )

    plan_visit_id: Mapped[int] = mapped_column(BigId)
    revision: Mapped[int] = mapped_column(default=1)
    client_id: Mapped[int] = mapped_column(BigId)
    contract_id: Mapped[int] = mapped_column(BigId)
    visit_type_code: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(String(200))
    days: Mapped[str] = mapped_column(String(40))
    start_time: Mapped[str] = mapped_column(String(5))
    duration_minutes: Mapped[int]
    carers_needed: Mapped[int]
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Owned by care planning.
    content: Mapped[str | None] = mapped_column(Text)


class PublishedVisit(PublishedRecord, Base):
    """A visit in care planning, with its state."""

    __tablename__ = "published_visits"
    __table_args__ = (
        UniqueConstraint("visit_id"),
        Index("ix_published_visits_environment_seq", "environment_id", "seq"),
        Index("ix_published_visits_plan_visit", "plan_visit_id"),
        Index("ix_published_visits_client", "client_id"),
    )

    visit_id: Mapped[int] = mapped_column(BigId)
    client_id: Mapped[int] = mapped_column(BigId)
    plan_visit_id: Mapped[int | None] = mapped_column(BigId)
    contract_id: Mapped[int] = mapped_column(BigId)
    kind: Mapped[str] = mapped_column(String(16))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime] = mapped_column(UTCDateTime())
    workers: Mapped[str] = mapped_column(String(400), default="")  # sorted roster ids of its mobile workers
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Owned by care planning.
    notes: Mapped[str | None] = mapped_column(Text)


class PublishedVisitWorker(Base):
    """A worker on a published visit. ``active`` false: taken off it (their device drops the visit)."""

    __tablename__ = "published_visit_workers"
    __table_args__ = (Index("ix_published_visit_workers_worker_seq", "worker_id", "seq"),)

    visit_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    worker_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    active: Mapped[bool]
    seq: Mapped[int] = mapped_column(BigInteger)
