"""``carehub worker`` as real processes on PostgreSQL: killed mid-delivery, and two side by side."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from carehub.platform.db import Database
from carehub.platform.delivery.tables import Delivery, DeliveryAttempt
from tests.conftest import World
from tests.delivery.conftest import emit, subscribe
from tests.delivery.receiver import Receiver

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def only_postgresql(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("several workers, and workers killed mid-delivery, are a PostgreSQL set-up")


class Workers:
    """``carehub worker`` processes started by a test, stopped (or killed) at its end."""

    def __init__(self, db_url: str, tmp_path: Path) -> None:
        self.env = {**os.environ, "CAREHUB_DATABASE_URL": db_url, "CAREHUB_DATA_DIR": str(tmp_path / "data")}
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = (self.tmp_path / f"worker-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [sys.executable, "-m", "carehub", "worker", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=ROOT,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.tmp_path.glob("worker-*.log")))

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def workers(only_postgresql: None, db_url: str, tmp_path: Path) -> Iterator[Workers]:
    started = Workers(db_url, tmp_path)
    yield started
    started.stop_all()


def delivered(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).where(Delivery.status == "delivered")) or 0)


def wait_for(check: object, seconds: float, workers: Workers) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out; worker logs:\n{workers.logs()[-4000:]}")
        time.sleep(0.05)


def test_worker_killed_mid_delivery_loses_nothing(
    db: Database, world: World, receiver: Receiver, workers: Workers
) -> None:
    subscribe(db, world, receiver.url + "/slow")
    receiver.delay = 0.02  # a slow receiver: the kill lands while requests are in flight
    events = emit(db, world.env.id, list(range(1, 601)))
    options = ["--concurrency", "8", "--per-subscription", "8", "--timeout", "2", "--lease", "5"]
    first = workers.start(*options)
    wait_for(lambda: len(receiver.received()) >= 150, 60, workers)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    sent_before_kill = len(receiver.received())
    recorded_before_kill = delivered(db)
    assert recorded_before_kill < len(events), "the kill came too late to test anything"
    workers.start(*options)
    wait_for(lambda: delivered(db) == len(events), 120, workers)
    got = Counter(receiver.event_ids())
    assert set(got) == set(events)  # every event arrived: none lost
    repeats = sum(n - 1 for n in got.values())
    # At-least-once: only requests sent but not yet recorded when the worker died may have been sent twice.
    assert repeats <= sent_before_kill - recorded_before_kill, (repeats, sent_before_kill, recorded_before_kill)
    with db.read() as session:
        assert session.scalar(select(func.count()).where(Delivery.status != "delivered")) == 0
        assert session.scalar(select(func.count()).where(Delivery.locked_by.is_not(None))) == 0


def test_two_workers_side_by_side_deliver_each_event_exactly_once(
    db: Database, world: World, receiver: Receiver, workers: Workers
) -> None:
    subscribe(db, world, receiver.url + "/a", name="a")
    subscribe(db, world, receiver.url + "/b", name="b")
    receiver.delay = 0.002
    events = emit(db, world.env.id, [i % 500 for i in range(1500)])  # three events per record
    options = ["--concurrency", "8", "--per-subscription", "4", "--batch", "20"]
    workers.start(*options)
    workers.start(*options)
    wait_for(lambda: delivered(db) == 2 * len(events), 180, workers)
    for path in ("/a", "/b"):
        got = Counter(receiver.event_ids(path))
        assert set(got) == set(events)
        assert max(got.values()) == 1, [e for e, n in got.items() if n > 1][:10]
        # In order per record: each record's events arrived in event order.
        by_record: dict[int, list[int]] = {}
        for r in receiver.received(path):
            by_record.setdefault(r.event["entity_id"], []).append(r.event_id)
        assert all(ids == sorted(ids) for ids in by_record.values())
    with db.read() as session:
        by_worker = session.execute(select(DeliveryAttempt.worker, func.count()).group_by(DeliveryAttempt.worker)).all()
    assert len(by_worker) == 2, by_worker  # both did their share
    assert sum(n for _, n in by_worker) == 2 * len(events)
