"""Webhook subscriptions, one delivery row per (event, subscription), and every attempt.

Subscriptions are never deleted (only disabled), so deliveries and attempts
refer to their subscription and delivery by id without foreign keys, which
would cost a lookup per row on the hot path.

In order per record: of the pending deliveries of one record (entity and
entity id) for one subscription, only the oldest is the ``head``, and only a
head is claimed. When it is delivered or dead, the next one becomes the head
(``fanout.ensure_heads``). Every change of which deliveries are pending
happens while holding the fan-out cursor's row lock, so two workers never
disagree about a record's head.

A delivery moves ``pending`` → ``delivered``, or ``pending`` → ``dead`` after
``max_attempts`` failures in a row; a manual retry or a replay puts it back to
``pending``. While a worker sends it, a pending delivery holds a lease
(``locked_by`` / ``locked_until``): when the lease runs out (the worker was
killed), another worker may claim it again. See docs/delivery.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from carehub.platform.db import Base, UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
STATUSES = (PENDING, DELIVERED, DEAD)

# Predicates of the partial indexes, written the same way in the queries that use them.
PENDING_ONLY = "status = 'pending'"
DUE_HEADS = "status = 'pending' AND head = true"
DEAD_ONLY = "status = 'dead'"


class Subscription(Base):
    """A tenant's webhook: where events whose topic starts with one of ``topics`` are sent."""

    __tablename__ = "webhook_subscriptions"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))  # signs every request; never logged, never shown again
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    max_attempts: Mapped[int]
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Delivery(Base):
    """One event for one subscription, and where its delivery stands."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        # Claiming: a subscription's due heads (the oldest pending delivery of each record), soonest first.
        Index(
            "ix_deliveries_due",
            "subscription_id",
            "next_attempt_at",
            postgresql_where=text(DUE_HEADS),
            sqlite_where=text(DUE_HEADS),
        ),
        # In order per record: the pending deliveries of one record of one subscription, oldest event first.
        Index(
            "ix_deliveries_pending_record",
            "subscription_id",
            "entity",
            "entity_id",
            "event_id",
            postgresql_where=text(PENDING_ONLY),
            sqlite_where=text(PENDING_ONLY),
        ),
        # The dead-letter list (the other statuses are read through the primary key or the indexes above).
        Index(
            "ix_deliveries_dead",
            "subscription_id",
            "id",
            postgresql_where=text(DEAD_ONLY),
            sqlite_where=text(DEAD_ONLY),
        ),
        # Room on each page: a claim changes no indexed column, so PostgreSQL can update the row in place (HOT).
        {"postgresql_with": {"fillfactor": 85}},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscription_id: Mapped[int]  # no foreign key: checking one per row costs a quarter of fan-out's time
    event_id: Mapped[int] = mapped_column(BigInteger)
    topic: Mapped[str] = mapped_column(String(80))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(default=0)  # every attempt ever made
    failures: Mapped[int] = mapped_column(default=0)  # failed attempts in a row: the backoff and dead-letter count
    head: Mapped[bool] = mapped_column(default=False)  # the oldest pending delivery of its record: may be sent
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DeliveryAttempt(Base):
    """One HTTP attempt of one delivery, kept with its outcome and why it failed."""

    __tablename__ = "delivery_attempts"
    __table_args__ = (Index("ix_delivery_attempts_delivery", "delivery_id", "number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(BigInteger)  # no foreign key, as for deliveries
    number: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    duration_ms: Mapped[int]
    outcome: Mapped[str] = mapped_column(String(16))  # delivered, failed, dead
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(String(500))
    worker: Mapped[str] = mapped_column(String(100))


class FanOutCursor(Base):
    """How far the outbox has been turned into deliveries, and the ids not yet seen below that point.

    One row (``name`` = ``outbox``). ``gaps`` lists ``[event id, noticed at]``
    for ids under ``last_event_id`` that were not committed when the cursor
    passed them (see ``fanout.py``).
    """

    __tablename__ = "delivery_fanout"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigInteger)
    gaps: Mapped[list[Any]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
