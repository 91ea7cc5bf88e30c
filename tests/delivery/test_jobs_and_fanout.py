"""The periodic-job registry the worker runs, and fan-out over ids that commit out of order."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from carehub.platform import jobs, outbox
from carehub.platform.clock import utc_now
from carehub.platform.db import Database
from carehub.platform.delivery import fanout
from carehub.platform.delivery.worker import run_once
from tests.conftest import World
from tests.delivery.conftest import FAST, deliver, emit, subscribe
from tests.delivery.receiver import Receiver


@pytest.fixture
def registry() -> Iterator[list[str]]:
    """Names of jobs a test registers; they are removed afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        jobs.unregister(name)


def mine(results: list[jobs.RunResult], names: list[str]) -> list[jobs.RunResult]:
    return [r for r in results if r.name in names]


def test_a_due_job_runs_once_and_again_when_its_period_has_passed(db: Database, registry: list[str]) -> None:
    calls: list[Database] = []

    def count(database: Database) -> str:
        calls.append(database)
        return f"call {len(calls)}"

    registry.append("test.count")
    jobs.register("test.count", timedelta(hours=1), count)
    first = mine(jobs.run_due(db, "w1"), registry)
    assert [(r.name, r.ok, r.result) for r in first] == [("test.count", True, "call 1")]
    assert mine(jobs.run_due(db, "w1"), registry) == []
    assert mine(jobs.run_due(db, "w2", now=utc_now() + timedelta(minutes=59)), registry) == []
    later = mine(jobs.run_due(db, "w2", now=utc_now() + timedelta(minutes=61)), registry)
    assert [r.result for r in later] == ["call 2"]
    assert calls == [db, db]
    state = next(s for s in jobs.states(db) if s.name == "test.count")
    assert (state.last_result, state.last_ok, state.running_on) == ("call 2", True, None)
    assert state.last_finished_at is not None
    assert state.last_started_at is not None
    assert state.last_finished_at >= state.last_started_at


def test_a_failing_job_is_recorded_and_does_not_stop_the_others(db: Database, registry: list[str]) -> None:
    def broken(_db: Database) -> str:
        raise RuntimeError("the reconcile lost its way")

    registry.extend(["test.broken", "test.fine"])
    jobs.register("test.broken", lambda: timedelta(minutes=5), broken)  # the period may be read each time
    jobs.register("test.fine", timedelta(minutes=5), lambda _db: "fine")
    results = {r.name: r for r in mine(jobs.run_due(db, "w1"), registry)}
    assert results["test.broken"].ok is False
    assert results["test.broken"].result == "failed: RuntimeError: the reconcile lost its way"
    assert results["test.fine"].result == "fine"
    state = next(s for s in jobs.states(db) if s.name == "test.broken")
    assert (state.last_ok, state.running_on) == (False, None)


def test_two_workers_never_run_the_same_job_at_once(db: Database, registry: list[str]) -> None:
    running = []
    overlap = []

    def slow(_db: Database) -> str:
        running.append(1)
        if len(running) > 1:
            overlap.append(1)
        time.sleep(0.5)
        running.pop()
        return "done"

    registry.append("test.slow")
    jobs.register("test.slow", timedelta(hours=1), slow)
    results: list[list[jobs.RunResult]] = []
    threads = [threading.Thread(target=lambda w=w: results.append(jobs.run_due(db, w))) for w in ("w1", "w2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ran = [r for batch in results for r in mine(batch, registry)]
    assert len(ran) == 1
    assert overlap == []


def test_a_killed_workers_job_lease_runs_out(db: Database, registry: list[str]) -> None:
    registry.append("test.leased")
    jobs.register("test.leased", timedelta(seconds=1), lambda _db: "ran", lease=timedelta(minutes=10))
    now = utc_now()
    job = next(j for j in jobs.registered() if j.name == "test.leased")
    jobs.run_due(db, "setup", now=now - timedelta(hours=1))  # its row exists
    assert jobs._claim(db, job, "killed", now)  # a worker took it, then died without finishing
    assert mine(jobs.run_due(db, "w2", now=now + timedelta(minutes=5)), registry) == []  # the lease holds
    assert [r.result for r in mine(jobs.run_due(db, "w2", now=now + timedelta(minutes=11)), registry)] == ["ran"]


def test_the_worker_runs_due_jobs(db: Database, registry: list[str]) -> None:
    registry.append("test.worker")
    jobs.register("test.worker", timedelta(hours=1), lambda _db: "from the worker")
    stats = run_once(db, FAST)
    assert [r.result for r in mine(stats.jobs, registry)] == ["from the worker"]


def test_fan_out_waits_for_ids_committed_out_of_order(
    backend: str, db: Database, world: World, receiver: Receiver
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite has one writer at a time: its ids cannot commit out of order")
    subscribe(db, world, receiver.url + "/hook")
    held = db.sessions()
    held.begin()
    outbox.emit_many(held, [outbox.Event("publishing.visit.updated", "visit", 1, {}, world.env.id)])
    [after] = emit(db, world.env.id, [2])  # takes a later id and commits first
    deliver(db)
    assert receiver.event_ids() == [after]
    with db.read() as session:
        _, gaps = fanout.cursor_state(session)
    assert [(lo, hi) for lo, hi, _ in gaps] == [(after - 1, after - 1)]
    held.commit()
    held.close()
    deliver(db)
    assert receiver.event_ids() == [after, after - 1]
    # An id rolled back never comes: its gap closes once no transaction that may hold it is running.
    lost = db.sessions()
    lost.begin()
    outbox.emit_many(lost, [outbox.Event("publishing.visit.updated", "visit", 3, {}, world.env.id)])
    lost.rollback()
    lost.close()
    [last] = emit(db, world.env.id, [4])
    deliver(db)
    assert receiver.event_ids() == [after, after - 1, last]
    with db.read() as session:
        assert fanout.cursor_state(session) == (last, [])
