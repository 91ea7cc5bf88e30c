"""Mobile sync tables: linked devices, one-time link codes and the record of each sync.

A device belongs to one published worker (``worker_id`` is the roster primary
key, as in the published tables) in one environment. Only hashes of secrets are
stored: the device token as SHA-256 (a 256-bit random token, like API tokens),
the link code as a salted SHA-256 (it is short, single-use and expires within
minutes; the salt keeps a leaked table from being looked up in a precomputed
list).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from carehub.platform.db import Base, UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class MobileDevice(Base):
    """A worker's phone or tablet, linked with a one-time code; it syncs with its own token."""

    __tablename__ = "mobile_devices"
    __table_args__ = (
        Index("ix_mobile_devices_environment_worker", "environment_id", "worker_id"),
        Index("ix_mobile_devices_token_hash", "token_hash", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    worker_id: Mapped[int] = mapped_column(BigId)
    username: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64))
    display_prefix: Mapped[str] = mapped_column(String(16))
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_cursor: Mapped[int | None] = mapped_column(BigInteger)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(200))


class MobileLinkCode(Base):
    """A one-time code a coordinator issues for a worker; a few wrong attempts lock it."""

    __tablename__ = "mobile_link_codes"
    __table_args__ = (
        Index("ix_mobile_link_codes_username_key", "username_key"),
        Index("ix_mobile_link_codes_environment_worker", "environment_id", "worker_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    worker_id: Mapped[int] = mapped_column(BigId)
    username_key: Mapped[str] = mapped_column(String(60))  # the username, lower case
    code_salt: Mapped[str] = mapped_column(String(32))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    failed_attempts: Mapped[int] = mapped_column(default=0)
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # replaced by a newer code
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    device_id: Mapped[int | None] = mapped_column(ForeignKey("mobile_devices.id"))


class MobileDeviceSync(Base):
    """One successful sync request of a device: the cursor range it covered and what it received."""

    __tablename__ = "mobile_device_syncs"
    __table_args__ = (Index("ix_mobile_device_syncs_device_at", "device_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("mobile_devices.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    cursor_from: Mapped[int | None] = mapped_column(BigInteger)  # None: a first sync (full snapshot)
    cursor_to: Mapped[int] = mapped_column(BigInteger)
    complete: Mapped[bool]  # False: more pages were waiting
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
