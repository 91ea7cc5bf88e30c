"""Forms and their versions, services, and the branches associated with services (one tenant each).

A branch is a roster branch (its primary key, per environment); it is referenced
by id only, so this module imports no roster table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from carehub.platform.db import Base, UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class Form(Base):
    """A form of a tenant: a stable key, the title and number of its current version; archived, never deleted."""

    __tablename__ = "forms"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    key: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(200))
    current_version: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FormVersion(Base):
    """One immutable version of a form: its title and ordered fields."""

    __tablename__ = "form_versions"
    __table_args__ = (UniqueConstraint("form_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("forms.id"))
    version: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))


class Service(Base):
    """A service: a named set of forms; branches associated with it see its forms.

    ``dedicated_branch_id`` marks a service made for one branch's own form set.
    """

    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    dedicated_branch_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("branches.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ServiceForm(Base):
    """A form of a service."""

    __tablename__ = "service_forms"

    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), primary_key=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("forms.id"), primary_key=True, index=True)


class ServiceBranch(Base):
    """A roster branch associated with a service."""

    __tablename__ = "service_branches"

    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), primary_key=True)
    branch_id: Mapped[int] = mapped_column(BigId, ForeignKey("branches.id"), primary_key=True, index=True)
