"""Tenants and their rostering environments."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from carehub.platform.db import Base, UTCDateTime


class Tenant(Base):
    """A care-planning tenant: one provider organisation."""

    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    timezone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # A standalone tenant replaced by an added environment of another tenant: still readable, never deleted.
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    superseded_by_environment_id: Mapped[int | None]


class Environment(Base):
    """A rostering environment connected to a tenant: one primary, any number added."""

    __tablename__ = "environments"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str | None] = mapped_column(String(40))
    prefix_key: Mapped[str | None] = mapped_column(String(40), unique=True)
    is_primary: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The naming convention set at connection (None for the primary environment: names unchanged).
    branch_format: Mapped[str | None] = mapped_column(String(100))
    username_format: Mapped[str | None] = mapped_column(String(100))
    visit_id_format: Mapped[str | None] = mapped_column(String(100))
    connected_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The standalone tenant this environment replaced, if any.
    source_tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"))


class EnvironmentLogin(Base):
    """A worker's login that changed when their environment was connected: old and new username.

    Written at connection for every worker copied from the standalone tenant; the
    new username is reserved for that worker and published with it.
    """

    __tablename__ = "environment_logins"
    __table_args__ = (
        UniqueConstraint("environment_id", "worker_id"),
        UniqueConstraint("tenant_id", "new_username"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    worker_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    worker_external_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(201))
    old_username: Mapped[str] = mapped_column(String(60))
    new_username: Mapped[str] = mapped_column(String(60))
    branch: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
