"""Retention of the sync record: ``mobile_device_syncs`` keeps one row per successful device sync.

Without pruning it grows forever (a phone syncing every few minutes adds
thousands of rows a month). :func:`prune_syncs` deletes the rows older than the
retention period (``CAREHUB_MOBILE_SYNC_RETENTION_DAYS``, 30 days by default)
but always keeps, per device, its latest sync and its latest *complete* sync
(the last page of a sync, when the device had everything), however old: what a
device last did stays visible for support.

Health does not read this table (it reads each device's ``last_sync_at``), but
the sync history does. The delete is set-wise, in batches of at most
``batch`` rows, each batch its own short transaction, so a large backlog never
holds locks for long and a concurrent sync is never blocked for more than one
batch. It is housekeeping of an operational log, not a change of a record, so
it writes no audit row; the job's last result (``carehub worker``, the
``job_runs`` table) says what it deleted.

``carehub worker`` runs it hourly (:data:`JOB`); ``carehub mobile prune-syncs``
runs it on demand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, or_, select

from carehub.platform import jobs
from carehub.platform.clock import utc_now
from carehub.platform.db import Database, core_table
from carehub.platform.errors import InvalidInput, RecordError
from carehub.publishing.mobile.tables import MobileDeviceSync

JOB = "mobile.prune_syncs"
EVERY = timedelta(hours=1)
BATCH = 5000
MAX_BATCH = 100_000
MAX_DAYS = 3650
SYNCS = core_table(MobileDeviceSync)


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What one prune did."""

    deleted: int
    batches: int
    retention_days: int
    older_than: datetime

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of ``carehub mobile prune-syncs --json``."""
        return {
            "deleted": self.deleted,
            "batches": self.batches,
            "retention_days": self.retention_days,
            "older_than": self.older_than,
        }

    def line(self) -> str:
        """One line for people (and the job's last result)."""
        return (
            f"deleted {self.deleted} device sync row(s) older than {self.retention_days} day(s) "
            f"(before {self.older_than.isoformat(timespec='seconds')}) in {self.batches} batch(es)"
        )


def _check(retention_days: int, batch: int) -> None:
    errors = []
    if not 1 <= retention_days <= MAX_DAYS:
        errors.append(RecordError(None, None, "retention_days", retention_days, f"expected 1 to {MAX_DAYS} days"))
    if not 1 <= batch <= MAX_BATCH:
        errors.append(RecordError(None, None, "batch", batch, f"expected 1 to {MAX_BATCH} rows"))
    if errors:
        raise InvalidInput("invalid sync retention", errors=errors)


def _one_batch(cutoff: datetime, batch: int) -> Any:
    """``DELETE`` of at most ``batch`` prunable rows: older than ``cutoff``, and neither latest of its device.

    A row goes when a newer complete sync of the same device exists (so it is not
    the latest complete one, nor the latest), or when it is itself incomplete and
    any newer sync exists (so it is not the latest). "Newer" is by ``at``, on the
    ``(device_id, at)`` index; two rows of a device at the very same instant both
    stay (more is kept, never less).
    """
    s = SYNCS.alias("s")
    n = SYNCS.alias("n")
    newer = select(n.c.id).where(n.c.device_id == s.c.device_id, n.c.at > s.c.at)
    prunable = (
        select(s.c.id)
        .where(
            s.c.at < cutoff,
            or_(
                exists(newer.where(n.c.complete.is_(True))),
                and_(s.c.complete.is_(False), exists(newer)),
            ),
        )
        .limit(batch)
    )
    return delete(SYNCS).where(SYNCS.c.id.in_(prunable.scalar_subquery()))


def prune_syncs(db: Database, retention_days: int, *, batch: int = BATCH, now: datetime | None = None) -> PruneResult:
    """Delete sync rows older than ``retention_days``, keeping each device's latest (and latest complete) sync.

    Batches of at most ``batch`` rows, one transaction each, until a batch finds
    fewer than ``batch`` rows to delete.
    """
    _check(retention_days, batch)
    cutoff = (now or utc_now()) - timedelta(days=retention_days)
    stmt = _one_batch(cutoff, batch)
    deleted = batches = 0
    while True:
        with db.transaction() as session:
            gone = int(getattr(session.execute(stmt), "rowcount", 0))
        batches += 1
        deleted += gone
        if gone < batch:
            return PruneResult(deleted, batches, retention_days, cutoff)


def install(retention_days: int) -> None:
    """Register the hourly prune with ``carehub worker`` (called once by the composition root)."""
    _check(retention_days, BATCH)
    jobs.register(JOB, EVERY, lambda db: prune_syncs(db, retention_days).line())
