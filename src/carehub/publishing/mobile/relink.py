"""Devices that must be linked again: when a worker's login changes because their environment moved tenant.

Revoking a device here is what unlinking does (``revoked_at``, ``revoked_by``),
with the reason recorded in the audit trail; the worker links the device again
with a new code and their new username.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from carehub.platform import audit
from carehub.platform.auth.actor import Actor
from carehub.publishing.mobile.tables import MobileDevice


@dataclass(frozen=True, slots=True)
class LinkedDevice:
    """A linked (unrevoked) device of a worker."""

    id: int
    environment_id: int
    worker_id: int
    username: str
    name: str
    linked_at: datetime
    last_sync_at: datetime | None


def linked_devices(
    session: Session, environment_id: int, worker_ids: Collection[int] | None = None
) -> list[LinkedDevice]:
    """The environment's unrevoked devices (of these workers, if given), by username and name."""
    stmt = select(MobileDevice).where(MobileDevice.environment_id == environment_id, MobileDevice.revoked_at.is_(None))
    if worker_ids is not None:
        stmt = stmt.where(MobileDevice.worker_id.in_(sorted(worker_ids)))
    return [
        LinkedDevice(d.id, d.environment_id, d.worker_id, d.username, d.name, d.linked_at, d.last_sync_at)
        for d in session.scalars(stmt.order_by(MobileDevice.username, MobileDevice.name, MobileDevice.id))
    ]


def revoke_for_relink(
    session: Session, actor: Actor, devices: Collection[LinkedDevice], reason: str, now: datetime
) -> int:
    """Revoke these devices, in the caller's transaction; each gets an audit row saying why."""
    ids = sorted(d.id for d in devices)
    if not ids:
        return 0
    session.execute(
        update(MobileDevice)
        .where(MobileDevice.id.in_(ids), MobileDevice.revoked_at.is_(None))
        .values(revoked_at=now, revoked_by=actor.label[:200])
    )
    audit.record_many(session, actor, (revoked(d.id, d.username, d.environment_id, reason) for d in devices))
    return len(ids)


def revoked(device_id: int, username: str, environment_id: int, reason: str | None = None) -> audit.Change:
    """The audit row of a device revoked (by a manager, or for re-linking with the reason)."""
    changes: dict[str, list[object]] = {"revoked": [False, True]}
    if reason is not None:
        changes["reason"] = [None, reason]
    return audit.Change(
        "mobile_device", device_id, "revoke", changes, external_id=username, environment_id=environment_id
    )
