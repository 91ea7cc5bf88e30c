"""``carehub deliveries ...``: webhook subscriptions, deliveries, their attempts, retry and replay.

Commands act as Carehub itself (the operator with database access), like the
other administration commands; every change is audited under that name.
``--json`` prints what scripts read. ``carehub worker`` (in ``carehub.cli``)
does the delivering.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from carehub.platform.auth.actor import SYSTEM
from carehub.platform.cli_support import console, emit_json, emit_table, fail, run
from carehub.platform.db import Database, make_engine
from carehub.platform.delivery import service
from carehub.platform.settings import Settings

deliveries_app = typer.Typer(
    help="Webhook deliveries: subscriptions, attempts, retry and replay.", no_args_is_help=True
)
subscriptions_app = typer.Typer(help="Webhook subscriptions of a tenant.", no_args_is_help=True)
deliveries_app.add_typer(subscriptions_app, name="subscriptions")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
TenantOpt = Annotated[str | None, typer.Option("--tenant", help="Tenant name (default: the only tenant).")]
SubOpt = Annotated[str, typer.Option("--subscription", help="Subscription name or id.")]


@contextmanager
def _database() -> Iterator[Database]:
    db = Database(make_engine(Settings().resolved_database_url))
    try:
        yield db
    finally:
        db.engine.dispose()


def _tenant(db: Database, name: str | None, *, as_json: bool) -> int:
    return run(lambda: service.tenant_by_name(db, name), as_json=as_json).id


def _time(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


# ---------------------------------------------------------------- subscriptions


@subscriptions_app.command("add")
def subscription_add(
    name: Annotated[str, typer.Argument(help="A name for people, unique in the tenant.")],
    url: Annotated[str, typer.Argument(help="Where events are POSTed: http:// or https://.")],
    topic: Annotated[
        list[str] | None,
        typer.Option("--topic", help="Topic prefix to send (repeatable); default 'publishing.'; '*' for all."),
    ] = None,
    max_attempts: Annotated[int, typer.Option(help="Failures in a row before a delivery is dead.")] = (
        service.DEFAULT_MAX_ATTEMPTS
    ),
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a subscription. Its signing secret is shown once: store it where the receiver can read it."""
    with _database() as db:
        tenant_id = _tenant(db, tenant, as_json=as_json)
        created = run(
            lambda: service.do_create_subscription(
                db, SYSTEM, tenant_id=tenant_id, name=name, url=url, topics=topic, max_attempts=max_attempts
            ),
            as_json=as_json,
        )
    sub = created.subscription
    if as_json:
        emit_json({**sub.as_dict(), "secret": created.secret})
        return
    console.print(
        f"Subscription {sub.name!r} (id {sub.id}) sends {', '.join(sub.topics)} to {sub.url}.\n"
        f"Signing secret: [bold]{created.secret}[/]\nStore it now; it is not shown again."
    )


@subscriptions_app.command("list")
def subscription_list(tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """List subscriptions with how many deliveries each has pending and dead."""
    with _database() as db:
        subs = service.list_subscriptions(db, _tenant(db, tenant, as_json=as_json))
    if as_json:
        emit_json([s.as_dict() for s in subs])
        return
    emit_table(
        "Webhook subscriptions",
        ["id", "name", "url", "topics", "max attempts", "active", "pending", "dead"],
        [
            (
                s.id,
                s.name,
                s.url,
                ", ".join(s.topics),
                s.max_attempts,
                "yes" if s.active else "no",
                s.counts.get("pending", 0),
                s.counts.get("dead", 0),
            )
            for s in subs
        ],
    )


def _set_active(name_or_id: str, tenant: str | None, *, active: bool, as_json: bool) -> None:
    with _database() as db:
        tenant_id = _tenant(db, tenant, as_json=as_json)
        sub = run(lambda: service.find_subscription(db, tenant_id, name_or_id), as_json=as_json)
        change = service.do_enable_subscription if active else service.do_disable_subscription
        info = run(lambda: change(db, SYSTEM, tenant_id=tenant_id, subscription_id=sub.id), as_json=as_json)
    if as_json:
        emit_json(info.as_dict())
    else:
        console.print(f"Subscription {info.name!r} {'enabled' if active else 'disabled'}.")


@subscriptions_app.command("disable")
def subscription_disable(
    subscription: Annotated[str, typer.Argument(help="Name or id.")], tenant: TenantOpt = None, as_json: JsonOpt = False
) -> None:
    """Stop sending to a subscription (nothing is queued for it meanwhile; replay to catch up)."""
    _set_active(subscription, tenant, active=False, as_json=as_json)


@subscriptions_app.command("enable")
def subscription_enable(
    subscription: Annotated[str, typer.Argument(help="Name or id.")], tenant: TenantOpt = None, as_json: JsonOpt = False
) -> None:
    """Send to a subscription again."""
    _set_active(subscription, tenant, active=True, as_json=as_json)


# ---------------------------------------------------------------- deliveries


@deliveries_app.command("list")
def delivery_list(
    status: Annotated[str | None, typer.Option(help="pending, delivered or dead")] = None,
    subscription: Annotated[str | None, typer.Option("--subscription", help="Subscription name or id.")] = None,
    event: Annotated[int | None, typer.Option("--event", help="Only this event's deliveries.")] = None,
    page: Annotated[int, typer.Option(min=1)] = 1,
    per_page: Annotated[int, typer.Option(min=1, max=service.MAX_PER_PAGE)] = 50,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List deliveries, newest first, with their last failure."""
    with _database() as db:
        tenant_id = _tenant(db, tenant, as_json=as_json)
        sub_id = None
        if subscription:
            sub_id = run(lambda: service.find_subscription(db, tenant_id, subscription), as_json=as_json).id
        found = run(
            lambda: service.list_deliveries(
                db, tenant_id, status=status, subscription_id=sub_id, event_id=event, page=page, per_page=per_page
            ),
            as_json=as_json,
        )
    if as_json:
        emit_json(found.as_dict())
        return
    emit_table(
        f"Deliveries (page {found.page} of {found.pages}, {found.total} in all)",
        ["id", "event", "topic", "subscription", "status", "attempts", "last try / next", "last failure"],
        [
            (
                d.id,
                d.event_id,
                d.topic,
                d.subscription_name,
                d.status,
                d.attempts,
                _time(d.next_attempt_at if d.status == "pending" else d.updated_at),
                d.last_error or "",
            )
            for d in found.items
        ],
    )


def _print_attempts(d: service.DeliveryInfo) -> None:
    emit_table(
        f"Delivery {d.id}: event {d.event_id} ({d.topic}) to {d.subscription_name} — {d.status}",
        ["#", "started (UTC)", "ms", "outcome", "HTTP", "reason", "worker"],
        [
            (a.number, _time(a.started_at), a.duration_ms, a.outcome, a.status_code or "", a.error or "", a.worker)
            for a in d.attempt_log
        ],
    )


@deliveries_app.command("attempts")
def delivery_attempts(
    delivery_id: Annotated[int | None, typer.Argument(help="Delivery id.")] = None,
    event: Annotated[int | None, typer.Option("--event", help="Every delivery of this event instead.")] = None,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show every attempt of a delivery (or of every delivery of an event), with its outcome and reason."""
    if (delivery_id is None) == (event is None):
        fail("give a delivery id or --event, not both", as_json=as_json)
    with _database() as db:
        tenant_id = _tenant(db, tenant, as_json=as_json)
        if delivery_id is not None:
            found = [run(lambda: service.get_delivery(db, tenant_id, delivery_id), as_json=as_json)]
        else:
            found = service.attempts_for_event(db, tenant_id, event or 0)
            if not found:
                fail(f"event {event} has no deliveries in this tenant", as_json=as_json)
    if as_json:
        out: Any = [d.as_dict() for d in found]
        emit_json(out[0] if delivery_id is not None else out)
        return
    for d in found:
        _print_attempts(d)


def _retry_one(db: Database, tenant_id: int, delivery_id: int, *, as_json: bool) -> service.DeliveryInfo:
    return run(lambda: service.do_retry(db, SYSTEM, tenant_id=tenant_id, delivery_id=delivery_id), as_json=as_json)


@deliveries_app.command("retry")
def delivery_retry(
    delivery_ids: Annotated[list[int] | None, typer.Argument(help="Dead deliveries to send again.")] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="Every dead delivery of --subscription.")] = False,
    subscription: Annotated[str | None, typer.Option("--subscription", help="Subscription name or id.")] = None,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send dead deliveries again (pending at once, with a fresh count of attempts)."""
    if bool(delivery_ids) == all_dead:
        fail("give delivery ids, or --all-dead with --subscription", as_json=as_json)
    with _database() as db:
        tenant_id = _tenant(db, tenant, as_json=as_json)
        if all_dead:
            if not subscription:
                fail("--all-dead needs --subscription", as_json=as_json)
            sub = run(lambda: service.find_subscription(db, tenant_id, subscription), as_json=as_json)
            count = run(
                lambda: service.do_retry_dead(db, SYSTEM, tenant_id=tenant_id, subscription_id=sub.id), as_json=as_json
            )
            if as_json:
                emit_json({"subscription_id": sub.id, "retried": count})
            else:
                console.print(f"{count} dead deliveries of {sub.name!r} are pending again.")
            return
        done = [_retry_one(db, tenant_id, d, as_json=as_json) for d in delivery_ids or []]
    if as_json:
        emit_json([d.as_dict() for d in done])
    else:
        console.print(f"Pending again: {', '.join(str(d.id) for d in done)}.")


@deliveries_app.command("replay")
def delivery_replay(
    subscription: Annotated[str | None, typer.Option("--subscription", help="Subscription name or id.")] = None,
    from_event: Annotated[int | None, typer.Option("--from-event", help="First event id to send again.")] = None,
    since: Annotated[
        datetime | None, typer.Option(help="Send again every event since this time (UTC unless an offset is given).")
    ] = None,
    to_event: Annotated[int | None, typer.Option("--to-event", help="Last event id to send again.")] = None,
    delivery: Annotated[int | None, typer.Option("--delivery", help="Send this one delivery again instead.")] = None,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send events again: a subscription's from an event id or a time (in event order), or one delivery."""
    with _database() as db:
        tenant_id = _tenant(db, tenant, as_json=as_json)
        if delivery is not None:
            one = run(
                lambda: service.do_replay_delivery(db, SYSTEM, tenant_id=tenant_id, delivery_id=delivery),
                as_json=as_json,
            )
            if as_json:
                emit_json(one.as_dict())
            else:
                console.print(f"Delivery {one.id} (event {one.event_id}) is pending again.")
            return
        if not subscription:
            fail("give --subscription (with --from-event or --since), or --delivery", as_json=as_json)
        sub = run(lambda: service.find_subscription(db, tenant_id, subscription), as_json=as_json)
        when = since.replace(tzinfo=since.tzinfo or UTC) if since else None
        result = run(
            lambda: service.do_replay(
                db,
                SYSTEM,
                tenant_id=tenant_id,
                subscription_id=sub.id,
                from_event_id=from_event,
                since=when,
                to_event_id=to_event,
            ),
            as_json=as_json,
        )
    if as_json:
        emit_json(result.as_dict())
    else:
        console.print(
            f"Replay to {sub.name!r}: {result.events} events "
            f"({result.requeued} sent again, {result.created} never sent before) are pending."
        )
