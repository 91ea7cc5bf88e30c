"""Delivery fixtures: a real local receiver, events in the outbox, subscriptions, a fast worker."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from carehub.platform import outbox
from carehub.platform.auth.actor import SYSTEM
from carehub.platform.db import Database
from carehub.platform.delivery import service
from carehub.platform.delivery.worker import Stats, WorkerConfig, run_once
from tests.conftest import World
from tests.delivery.receiver import Receiver, running_receiver

# Retries after 0.05 s, 0.1 s, ... so tests need not wait; short lease for the kill tests.
FAST = WorkerConfig(timeout=2.0, lease=5.0, retry_base=0.05, retry_max=0.2, poll=0.05)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as r:
        yield r


def emit(
    db: Database,
    environment_id: int | None,
    records: Sequence[int],
    *,
    topic: str = "publishing.visit.updated",
    entity: str = "visit",
    extra: dict[str, Any] | None = None,
) -> list[int]:
    """One event per record id, in one transaction; their outbox ids."""
    with db.transaction() as session:
        before = session.query(outbox.OutboxEvent.id).order_by(outbox.OutboxEvent.id.desc()).limit(1).scalar() or 0
        outbox.emit_many(
            session,
            [outbox.Event(topic, entity, rid, {"record": rid, **(extra or {})}, environment_id) for rid in records],
        )
        return [
            i
            for (i,) in session.query(outbox.OutboxEvent.id)
            .filter(outbox.OutboxEvent.id > before)
            .order_by(outbox.OutboxEvent.id)
        ]


def subscribe(
    db: Database, world: World, url: str, *, name: str = "hooks", topics: Sequence[str] | None = None, **kw: Any
) -> service.CreatedSubscription:
    return service.do_create_subscription(
        db, SYSTEM, tenant_id=world.tenant.id, name=name, url=url, topics=topics, **kw
    )


def deliver(db: Database, config: WorkerConfig = FAST) -> Stats:
    return run_once(db, config)


def deliver_until(db: Database, done: Any, *, config: WorkerConfig = FAST, rounds: int = 200) -> Stats:
    """Run the worker pass after pass (waiting out backoffs) until ``done()`` is true."""
    import time  # noqa: PLC0415

    total = Stats()
    for _ in range(rounds):
        stats = run_once(db, config)
        total.delivered += stats.delivered
        total.failed += stats.failed
        total.dead += stats.dead
        if done():
            return total
        time.sleep(0.05)
    pytest.fail("the deliveries did not settle")
