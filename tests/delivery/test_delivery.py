"""Delivery end to end on SQLite and PostgreSQL: a real worker pass POSTing to a real local receiver."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from carehub.platform.audit import AuditEntry
from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import SYSTEM, Role
from carehub.platform.clock import utc_now
from carehub.platform.db import Database
from carehub.platform.delivery import service
from carehub.platform.delivery.signing import verify
from carehub.platform.delivery.tables import Delivery
from carehub.platform.delivery.worker import WorkerConfig
from carehub.platform.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from carehub.tenancy import service as tenancy
from tests.conftest import World
from tests.delivery.conftest import FAST, deliver, deliver_until, emit, subscribe
from tests.delivery.receiver import Received, Receiver


def statuses(db: Database, tenant_id: int) -> Counter[str]:
    found = service.list_deliveries(db, tenant_id, per_page=500)
    return Counter(d.status for d in found.items)


def delivery_of(
    db: Database, tenant_id: int, event_id: int, subscription_id: int | None = None
) -> service.DeliveryInfo:
    found = service.list_deliveries(db, tenant_id, event_id=event_id, subscription_id=subscription_id).items
    assert len(found) == 1, found
    return service.get_delivery(db, tenant_id, found[0].id)


def test_requests_are_signed_and_keep_their_idempotency_key_across_retries(
    db: Database, world: World, receiver: Receiver
) -> None:
    sub = subscribe(db, world, receiver.url + "/hook")
    receiver.fail_first(2, status=503)
    [event] = emit(db, world.env.id, [11], extra={"name": "Ada"})
    deliver_until(db, lambda: statuses(db, world.tenant.id) == Counter(delivered=1))
    got = receiver.received()
    assert len(got) == 3
    assert {r.headers["idempotency-key"] for r in got} == {f"evt-{event}"}
    assert [r.headers["carehub-attempt"] for r in got] == ["1", "2", "3"]
    for r in got:
        verify(sub.secret, r.body, r.headers["carehub-signature"])
        assert r.headers["content-type"] == "application/json"
        assert r.headers["carehub-event-id"] == str(event)
        assert r.headers["carehub-event-topic"] == "publishing.visit.updated"
    assert got[0].body == got[2].body
    assert got[0].event == {
        "id": event,
        "topic": "publishing.visit.updated",
        "created_at": got[0].event["created_at"],
        "environment_id": world.env.id,
        "entity": "visit",
        "entity_id": 11,
        "data": {"record": 11, "name": "Ada"},
    }


def test_retries_back_off_then_succeed_and_every_attempt_is_kept(
    db: Database, world: World, receiver: Receiver
) -> None:
    subscribe(db, world, receiver.url + "/hook")
    receiver.fail_first(2, status=503)
    [event] = emit(db, world.env.id, [1])
    stats = deliver(db, WorkerConfig(timeout=2, lease=5, retry_base=0.5, retry_max=1, poll=0.05))
    assert (stats.delivered, stats.failed) == (0, 1)  # the retry is not due yet: the pass ends
    d = delivery_of(db, world.tenant.id, event)
    assert (d.status, d.attempts, d.failures, d.last_status_code) == ("pending", 1, 1, 503)
    assert d.last_error == "HTTP 503: refused by test receiver (503)"
    assert d.next_attempt_at is not None
    assert d.next_attempt_at > d.attempt_log[0].started_at
    deliver_until(db, lambda: statuses(db, world.tenant.id) == Counter(delivered=1))
    d = delivery_of(db, world.tenant.id, event)
    assert [(a.number, a.outcome, a.status_code) for a in d.attempt_log] == [
        (1, "failed", 503),
        (2, "failed", 503),
        (3, "delivered", 204),
    ]
    assert all(a.duration_ms >= 0 and a.worker for a in d.attempt_log)
    times = [r.at for r in receiver.received()]
    # Backoff 0.5 s after the first failure, then (the fast test schedule) 0.1 s after the second, each ±20%.
    assert times[1] - times[0] >= 0.4
    assert times[2] - times[1] >= 0.08


def test_dead_after_max_attempts_then_a_manual_retry_delivers(db: Database, world: World, receiver: Receiver) -> None:
    subscribe(db, world, receiver.url + "/hook", max_attempts=3)
    receiver.fail_always(500)
    [event] = emit(db, world.env.id, [5])
    deliver_until(db, lambda: statuses(db, world.tenant.id) == Counter(dead=1))
    d = delivery_of(db, world.tenant.id, event)
    assert [a.outcome for a in d.attempt_log] == ["failed", "failed", "dead"]
    assert d.last_error == "HTTP 500: refused by test receiver (500)"
    deliver(db)
    assert len(receiver.received()) == 3  # a dead delivery is not sent again by itself
    receiver.succeed()
    assert service.do_retry(db, SYSTEM, tenant_id=world.tenant.id, delivery_id=d.id).status == "pending"
    with pytest.raises(Conflict, match="pending, not dead"):
        service.do_retry(db, SYSTEM, tenant_id=world.tenant.id, delivery_id=d.id)
    with pytest.raises(Conflict, match="is pending"):
        service.do_replay_delivery(db, SYSTEM, tenant_id=world.tenant.id, delivery_id=d.id)
    deliver(db)
    d = delivery_of(db, world.tenant.id, event)
    assert d.status == "delivered"
    assert [a.number for a in d.attempt_log] == [1, 2, 3, 4]
    with db.read() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.entity == "delivery", AuditEntry.entity_id == d.id)
        ).all()
    assert list(actions) == ["retry"]


def test_retry_of_every_dead_delivery_of_a_subscription(db: Database, world: World, receiver: Receiver) -> None:
    sub = subscribe(db, world, receiver.url + "/hook", max_attempts=1)
    receiver.fail_always(502)
    emit(db, world.env.id, [1, 2, 3])
    deliver(db)
    assert statuses(db, world.tenant.id) == Counter(dead=3)
    assert service.get_subscription(db, world.tenant.id, sub.subscription.id).counts == {"dead": 3}
    receiver.succeed()
    assert service.do_retry_dead(db, SYSTEM, tenant_id=world.tenant.id, subscription_id=sub.subscription.id) == 3
    deliver(db)
    assert statuses(db, world.tenant.id) == Counter(delivered=3)


def test_replay_sends_delivered_events_again_from_an_event_or_a_time(
    db: Database, world: World, receiver: Receiver
) -> None:
    sub = subscribe(db, world, receiver.url + "/hook")
    first, second, third = emit(db, world.env.id, [1, 2, 3])
    deliver(db)
    assert sorted(receiver.event_ids()) == [first, second, third]
    result = service.do_replay(
        db, SYSTEM, tenant_id=world.tenant.id, subscription_id=sub.subscription.id, from_event_id=second
    )
    assert (result.events, result.requeued, result.created) == (2, 2, 0)
    deliver(db)
    assert Counter(receiver.event_ids()) == {first: 1, second: 2, third: 2}
    assert {r.headers["idempotency-key"] for r in receiver.received()[3:]} == {f"evt-{second}", f"evt-{third}"}
    result = service.do_replay(
        db, SYSTEM, tenant_id=world.tenant.id, subscription_id=sub.subscription.id, since=utc_now() - timedelta(hours=1)
    )
    assert result.events == 3
    deliver(db)
    assert Counter(receiver.event_ids()) == {first: 2, second: 3, third: 3}
    with pytest.raises(InvalidInput, match="exactly one"):
        service.do_replay(db, SYSTEM, tenant_id=world.tenant.id, subscription_id=sub.subscription.id)


def test_events_from_before_a_subscription_are_reached_only_by_replay(
    db: Database, world: World, receiver: Receiver
) -> None:
    [early] = emit(db, world.env.id, [1])
    deliver(db)
    sub = subscribe(db, world, receiver.url + "/hook")
    [late] = emit(db, world.env.id, [2])
    deliver(db)
    assert receiver.event_ids() == [late]
    result = service.do_replay(
        db, SYSTEM, tenant_id=world.tenant.id, subscription_id=sub.subscription.id, from_event_id=early
    )
    assert (result.events, result.requeued, result.created) == (2, 1, 1)
    deliver(db)
    assert sorted(receiver.event_ids()) == sorted([late, early, late])


def test_events_of_one_record_go_in_order_and_other_records_do_not_wait(
    db: Database, world: World, receiver: Receiver
) -> None:
    subscribe(db, world, receiver.url + "/hook")
    a1, b1, a2, a3 = (
        emit(db, world.env.id, [100])[0],
        *emit(db, world.env.id, [200]),
        *emit(db, world.env.id, [100, 100]),
    )
    fails = {a1: 2}

    def rule(r: Received) -> int | None:
        event_id = r.event_id
        if fails.get(event_id, 0) > 0:
            fails[event_id] -= 1
            return 503
        return None

    receiver.rule = rule
    deliver_until(db, lambda: statuses(db, world.tenant.id) == Counter(delivered=4))
    got = receiver.received()
    order = [r.event_id for r in got]
    assert order.count(a1) == 3
    # Record 100: a2 only after a1 got through, a3 only after a2; record 200 did not wait for a1's retries.
    first_ok_a1 = max(i for i, e in enumerate(order) if e == a1)
    assert order.index(a2) > first_ok_a1
    assert order.index(a3) > order.index(a2)
    assert order.index(b1) < first_ok_a1


def test_a_dead_event_does_not_hold_up_the_later_events_of_its_record(
    db: Database, world: World, receiver: Receiver
) -> None:
    subscribe(db, world, receiver.url + "/hook", max_attempts=1)
    first, second = emit(db, world.env.id, [7, 7])
    receiver.rule = lambda r: 500 if r.event_id == first else None
    deliver_until(db, lambda: statuses(db, world.tenant.id) == Counter(dead=1, delivered=1))
    assert receiver.event_ids() == [first, second]


def test_a_failing_or_slow_subscriber_does_not_hold_up_another(db: Database, world: World, receiver: Receiver) -> None:
    good = subscribe(db, world, receiver.url + "/good", name="good", max_attempts=8)
    subscribe(db, world, receiver.url + "/bad", name="bad", max_attempts=8)
    subscribe(db, world, receiver.url + "/slow", name="slow", max_attempts=8)
    receiver.fail_always(500, path="/bad")
    receiver.delays["/slow"] = 1.0
    events = emit(db, world.env.id, list(range(1, 31)))
    config = WorkerConfig(timeout=0.3, lease=5.0, retry_base=30, retry_max=60, per_subscription=2, poll=0.05)
    deliver(db, config)
    good_times = [r.at for r in receiver.received("/good")]
    assert sorted(receiver.event_ids("/good")) == events
    slow_first = min(r.at for r in receiver.received("/slow"))
    assert max(good_times) - slow_first < 2.0  # 30 slow requests take 4.5 s at two at a time
    found = service.list_deliveries(db, world.tenant.id, subscription_id=good.subscription.id, status="delivered")
    assert found.total == 30
    slow = service.list_deliveries(db, world.tenant.id, status="pending", per_page=100).items
    assert {d.subscription_name for d in slow} == {"bad", "slow"}
    reasons = {d.subscription_name: d.last_error for d in slow}
    assert reasons["bad"] == "HTTP 500: refused by test receiver (500)"
    assert reasons["slow"] == "no answer within 0.3 s"


def test_topic_prefixes_choose_the_events(db: Database, world: World, receiver: Receiver) -> None:
    subscribe(db, world, receiver.url + "/visits", name="visits", topics=["publishing.visit."])
    subscribe(db, world, receiver.url + "/default", name="default")
    subscribe(db, world, receiver.url + "/all", name="all", topics=["*"])
    [visit] = emit(db, world.env.id, [1], topic="publishing.visit.updated")
    [client] = emit(db, world.env.id, [2], topic="publishing.client.updated", entity="client")
    [roster] = emit(db, world.env.id, [3], topic="roster.x_y.updated", entity="x_y")
    emit(db, None, [4], topic="publishing.visit.updated")  # no environment: no tenant, sent nowhere
    deliver(db)
    assert receiver.event_ids("/visits") == [visit]
    assert sorted(receiver.event_ids("/default")) == [visit, client]
    assert sorted(receiver.event_ids("/all")) == [visit, client, roster]


def test_a_tenant_sees_and_receives_only_its_own_events(db: Database, world: World, receiver: Receiver) -> None:
    other, other_env = tenancy.do_create_tenant(db, SYSTEM, name="Other Care", timezone="Europe/London")
    mine = subscribe(db, world, receiver.url + "/a", name="hooks")
    theirs = service.do_create_subscription(db, SYSTEM, tenant_id=other.id, name="hooks", url=receiver.url + "/b")
    [a] = emit(db, world.env.id, [1])
    [b] = emit(db, other_env.id, [1])
    deliver(db)
    assert receiver.event_ids("/a") == [a]
    assert receiver.event_ids("/b") == [b]
    assert [d.event_id for d in service.list_deliveries(db, world.tenant.id).items] == [a]
    theirs_delivery = service.list_deliveries(db, other.id).items[0]
    with pytest.raises(NotFound):
        service.get_delivery(db, world.tenant.id, theirs_delivery.id)
    with pytest.raises(NotFound):
        service.get_subscription(db, world.tenant.id, theirs.subscription.id)
    admin = auth.authenticate(db, world.admin_username, "correct horse battery")
    with pytest.raises(NotFound):
        service.do_retry(db, admin, tenant_id=other.id, delivery_id=theirs_delivery.id)
    assert mine.subscription.tenant_id == world.tenant.id


def test_only_administrators_change_subscriptions_and_deliveries(db: Database, world: World) -> None:
    auth.do_create_user(
        db, SYSTEM, tenant_id=world.tenant.id, username="coord", password="a long password", role=Role.COORDINATOR
    )
    coordinator = auth.authenticate(db, "coord", "a long password")
    with pytest.raises(PermissionDenied):
        service.do_create_subscription(db, coordinator, tenant_id=world.tenant.id, name="x", url="https://e.org/")
    sub = subscribe(db, world, "https://example.org/hook")
    with pytest.raises(PermissionDenied):
        service.do_disable_subscription(db, coordinator, tenant_id=world.tenant.id, subscription_id=sub.subscription.id)
    with pytest.raises(PermissionDenied):
        service.do_replay(
            db, coordinator, tenant_id=world.tenant.id, subscription_id=sub.subscription.id, from_event_id=1
        )
    assert service.list_subscriptions(db, world.tenant.id)[0].name == "hooks"  # reading is for everyone


def test_a_disabled_subscription_gets_nothing_and_changes_are_audited(
    db: Database, world: World, receiver: Receiver
) -> None:
    sub = subscribe(db, world, receiver.url + "/hook")
    service.do_disable_subscription(db, SYSTEM, tenant_id=world.tenant.id, subscription_id=sub.subscription.id)
    emit(db, world.env.id, [1])
    deliver(db)
    assert receiver.received() == []
    info = service.do_update_subscription(
        db, SYSTEM, tenant_id=world.tenant.id, subscription_id=sub.subscription.id, active=True, max_attempts=3
    )
    assert (info.active, info.max_attempts) == (True, 3)
    with db.read() as session:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.entity == "subscription").order_by(AuditEntry.id)
        ).all()
    assert [r.action for r in rows] == ["create", "disable", "update"]
    assert rows[2].changes == {
        "active": {"before": False, "after": True},
        "max_attempts": {"before": 8, "after": 3},
    }
    assert all(sub.secret not in str(r.changes) for r in rows)


def test_subscription_input_is_checked_field_by_field(db: Database, world: World) -> None:
    def refused(**kw: object) -> str:
        with pytest.raises(InvalidInput) as caught:
            service.do_create_subscription(db, SYSTEM, tenant_id=world.tenant.id, **kw)  # type: ignore[arg-type]
        return str(caught.value.errors[0].field)

    assert refused(name="a", url="ftp://example.org/") == "url"
    assert refused(name="", url="https://example.org/") == "name"
    assert refused(name="a", url="https://example.org/", topics=["Bad Topic"]) == "topics"
    assert refused(name="a", url="https://example.org/", max_attempts=0) == "max_attempts"
    assert refused(name="a", url="https://example.org/", secret="short") == "secret"
    subscribe(db, world, "https://example.org/", name="a")
    with pytest.raises(Conflict, match="exists already"):
        subscribe(db, world, "https://example.org/", name="a")


def test_the_secret_is_stored_for_signing_but_never_handed_out_again(db: Database, world: World) -> None:
    created = subscribe(db, world, "https://example.org/hook")
    assert created.secret.startswith("whsec_")
    sub_id = created.subscription.id
    for info in (
        service.list_subscriptions(db, world.tenant.id)[0],
        service.get_subscription(db, world.tenant.id, sub_id),
    ):
        assert created.secret not in repr(info)
        assert "secret" not in info.as_dict()


def test_a_claimed_delivery_of_a_killed_worker_is_sent_after_its_lease(
    db: Database, world: World, receiver: Receiver
) -> None:
    from carehub.platform.delivery import fanout, store  # noqa: PLC0415

    sub = subscribe(db, world, receiver.url + "/hook").subscription
    [event] = emit(db, world.env.id, [1])
    fanout.fan_out(db)
    now = utc_now()
    claimed = store.claim(db, [(sub.id, 10)], "dead-worker", now, timedelta(seconds=60))
    assert [c.event_id for c in claimed[sub.id]] == [event]
    assert store.claim(db, [(sub.id, 10)], "other", now, timedelta(seconds=60)) == {}  # leased: not claimed twice
    deliver(db)
    assert receiver.received() == []  # the lease still holds
    later = now + timedelta(seconds=61)
    again = store.claim(db, [(sub.id, 10)], "other", later, timedelta(seconds=60))
    assert [c.event_id for c in again[sub.id]] == [event]


def test_a_graceful_stop_gives_back_what_was_claimed(db: Database, world: World) -> None:
    from carehub.platform.delivery import fanout, store  # noqa: PLC0415

    sub = subscribe(db, world, "http://127.0.0.1:9/hook").subscription
    emit(db, world.env.id, [1, 2])
    fanout.fan_out(db)
    store.claim(db, [(sub.id, 10)], "w1", utc_now(), timedelta(seconds=60))
    assert store.release(db, "w1", utc_now()) == 2
    with db.read() as session:
        assert session.scalars(select(Delivery.locked_by)).all() == [None, None]


def test_the_worker_config_used_by_tests_is_fast() -> None:
    assert FAST.retry_base < 0.1


def test_a_graceful_stop_finishes_requests_in_flight_and_gives_back_the_rest(
    db: Database, world: World, receiver: Receiver
) -> None:
    import asyncio  # noqa: PLC0415

    from carehub.platform.delivery.worker import Worker  # noqa: PLC0415

    subscribe(db, world, receiver.url + "/hook")
    receiver.delay = 0.3
    emit(db, world.env.id, list(range(1, 21)))

    async def main() -> int:
        stop = asyncio.Event()
        worker = Worker(db, WorkerConfig(concurrency=2, per_subscription=2, timeout=2, lease=10, poll=0.05))

        async def stop_once_sending() -> None:
            while not receiver.received():  # noqa: ASYNC110 - the receiver is another thread's
                await asyncio.sleep(0.01)
            stop.set()

        stopper = asyncio.create_task(stop_once_sending())
        try:
            return (await worker.run(stop=stop)).delivered
        finally:
            await stopper
            worker.close()

    delivered_count = asyncio.run(main())
    assert delivered_count == len(receiver.received()) == 2  # the two in flight finished, nothing else was sent
    assert statuses(db, world.tenant.id) == Counter(delivered=2, pending=18)
    with db.read() as session:
        assert session.scalars(select(Delivery.locked_by).where(Delivery.locked_by.is_not(None))).all() == []
