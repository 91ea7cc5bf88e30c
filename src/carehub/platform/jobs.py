"""Periodic jobs that ``carehub worker`` runs: a small registry and a runner.

A capability registers a job once, at import time::

    jobs.register("publishing.reconcile", timedelta(minutes=5), reconcile)

``run`` gets the database and returns a short text that is kept as the job's
last result (shown by ``carehub worker`` and kept in ``job_runs``). The worker
calls :func:`run_due` every second or so; a job runs when ``every`` has passed
since it last started.

Several workers may run side by side: a job is claimed by one short conditional
``UPDATE`` of its ``job_runs`` row (a row lock: a second worker waits, then
finds the job taken) that sets a lease (``locked_by`` / ``locked_until``), so two workers never run the
same job at once. A worker killed while running a job leaves its lease to run
out (``lease``, 15 minutes by default); then another worker runs the job. A
job that fails is recorded with its error and tried again after ``every``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, Text, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from carehub.platform.clock import utc_now
from carehub.platform.db import Base, Database, UTCDateTime

log = logging.getLogger("carehub.jobs")

MAX_RESULT = 2000


class JobRun(Base):
    """When a periodic job last ran, what it said, and who runs it now."""

    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_result: Mapped[str | None] = mapped_column(Text)
    last_ok: Mapped[bool | None]
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


Every = Callable[[], timedelta] | timedelta
JobFunction = Callable[[Database], str]


@dataclass(frozen=True, slots=True)
class Job:
    """A registered job."""

    name: str
    every: Every
    run: JobFunction
    lease: timedelta

    def period(self) -> timedelta:
        """How often the job runs (read each time, so it may follow a setting)."""
        return self.every() if callable(self.every) else self.every


_registry: dict[str, Job] = {}


def register(name: str, every: Every, run: JobFunction, *, lease: timedelta = timedelta(minutes=15)) -> None:
    """Register (or replace) the job ``name``: ``run(db)`` every ``every``.

    ``lease`` bounds how long a killed worker keeps others from running the job.
    """
    if not name or len(name) > 100:
        raise ValueError("a job name has 1 to 100 characters")
    _registry[name] = Job(name, every, run, lease)


def unregister(name: str) -> None:
    """Forget the job ``name`` (tests use it to clean up)."""
    _registry.pop(name, None)


def registered() -> list[Job]:
    """Every registered job, by name."""
    return [_registry[n] for n in sorted(_registry)]


@dataclass(frozen=True, slots=True)
class RunResult:
    """What one job run did."""

    name: str
    ok: bool
    result: str
    started_at: datetime
    finished_at: datetime


@dataclass(frozen=True, slots=True)
class JobState:
    """A job's row in ``job_runs``, for people."""

    name: str
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_result: str | None
    last_ok: bool | None
    running_on: str | None


def _ensure_rows(session: Session, names: list[str]) -> None:
    rows = [{"name": n} for n in names]
    dialect = session.get_bind().dialect.name
    stmt = pg_insert(JobRun) if dialect == "postgresql" else sqlite_insert(JobRun)
    session.execute(stmt.on_conflict_do_nothing(index_elements=["name"]), rows)


def _claim(db: Database, job: Job, worker: str, now: datetime) -> bool:
    """Take the job's lease when it is due and nobody holds it; True when taken.

    One conditional ``UPDATE``: it locks the row, and a second worker claiming
    at the same moment waits for the first, then finds the job no longer due.
    """
    due_before = now - job.period()
    with db.transaction() as session:
        taken = session.execute(
            update(JobRun)
            .where(
                JobRun.name == job.name,
                or_(JobRun.locked_until.is_(None), JobRun.locked_until <= now),
                or_(JobRun.last_started_at.is_(None), JobRun.last_started_at <= due_before),
            )
            .values(locked_by=worker, locked_until=now + job.lease, last_started_at=now)
        )
        return bool(getattr(taken, "rowcount", 0) == 1)


def _finish(db: Database, name: str, worker: str, result: RunResult) -> None:
    with db.transaction() as session:
        session.execute(
            update(JobRun)
            .where(JobRun.name == name, JobRun.locked_by == worker)
            .values(
                last_finished_at=result.finished_at,
                last_result=result.result[:MAX_RESULT],
                last_ok=result.ok,
                locked_by=None,
                locked_until=None,
            )
        )


def run_due(db: Database, worker: str, now: datetime | None = None) -> list[RunResult]:
    """Run every registered job that is due and not running elsewhere; what each run did.

    ``now`` (default: the clock) is when the runs count as started.

    A job that raises is recorded (``last_ok`` false, the error as its result)
    and does not stop the others.
    """
    jobs = registered()
    if not jobs:
        return []
    with db.transaction() as session:
        _ensure_rows(session, [j.name for j in jobs])
    results = []
    for job in jobs:
        started = now or utc_now()
        if not _claim(db, job, worker, started):
            continue
        clock = time.perf_counter()
        try:
            text, ok = job.run(db), True
        except Exception as exc:
            log.exception("job %s failed", job.name)
            text, ok = f"failed: {type(exc).__name__}: {exc}", False
        finished = started + timedelta(seconds=time.perf_counter() - clock)
        result = RunResult(job.name, ok, str(text), started, finished)
        _finish(db, job.name, worker, result)
        results.append(result)
    return results


def release(db: Database, worker: str) -> None:
    """Give up the leases ``worker`` holds (on a graceful stop)."""
    with db.transaction() as session:
        session.execute(update(JobRun).where(JobRun.locked_by == worker).values(locked_by=None, locked_until=None))


def states(db: Database) -> list[JobState]:
    """Every job's last run, by name."""
    with db.read() as session:
        rows = session.scalars(select(JobRun).order_by(JobRun.name)).all()
        return [
            JobState(r.name, r.last_started_at, r.last_finished_at, r.last_result, r.last_ok, r.locked_by) for r in rows
        ]
