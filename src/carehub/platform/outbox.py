"""The transactional outbox: events written in the same transaction as the change.

A service that changes state calls :func:`emit_many` before its transaction
commits; delivery (``carehub worker``) reads the outbox afterwards, so an event
exists if and only if its change was committed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from carehub.platform.audit import append_rows
from carehub.platform.clock import utc_now
from carehub.platform.db import Base, UTCDateTime, core_table


class OutboxEvent(Base):
    """One durable event, in commit order per record."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_record", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    topic: Mapped[str] = mapped_column(String(80))
    environment_id: Mapped[int | None]
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


@dataclass(frozen=True, slots=True)
class Event:
    """An event to emit: ``topic`` is past tense, e.g. ``roster.visit.cancelled``."""

    topic: str
    entity: str
    entity_id: int
    payload: dict[str, Any]
    environment_id: int | None = None
    # Records of other kinds this record was linked to before the change and may have left
    # (kind -> primary keys), for in-transaction listeners; not stored. None: not reported.
    left: Mapping[str, frozenset[int]] | None = None


OUTBOX_COLUMNS = ("created_at", "topic", "environment_id", "entity", "entity_id", "payload")


@dataclass(frozen=True, slots=True)
class Touched:
    """Records of one kind that a transaction changed, for in-transaction listeners."""

    environment_id: int
    entity: str
    ids: frozenset[int]
    # Records of other kinds that ``ids`` were linked to before the change (kind -> primary
    # keys). None when the writer did not report them: a listener must then find them itself.
    left: Mapping[str, frozenset[int]] | None = None


Listener = Callable[[Session, Touched], None]
_listeners: dict[str, list[Listener]] = {}


def listen(topic_prefix: str, listener: Listener) -> None:
    """Run ``listener`` inside every transaction that emits events whose topic starts with ``topic_prefix``.

    Listeners let a capability react to another's changes at once and atomically
    (publishing follows roster changes this way) without either importing the
    other's tables. Registering the same listener twice has no effect.
    """
    registered = _listeners.setdefault(topic_prefix, [])
    if listener not in registered:
        registered.append(listener)


def touched(session: Session, topic_prefix: str, changed: Touched) -> None:
    """Tell the listeners of ``topic_prefix`` that ``changed`` records changed in this transaction.

    Bulk writers that insert outbox rows in SQL call this themselves;
    :func:`emit_many` calls it for the events it is given.
    """
    if not changed.ids:
        return
    for prefix, listeners in _listeners.items():
        if topic_prefix.startswith(prefix):
            for listener in listeners:
                listener(session, changed)


def emit_many(session: Session, events: Iterable[Event]) -> int:
    """Add events to the outbox in the caller's transaction, then tell the listeners. Returns the count."""
    now = utc_now()
    batch = list(events)
    rows = [(now, e.topic, e.environment_id, e.entity, e.entity_id, e.payload) for e in batch]
    append_rows(session, core_table(OutboxEvent), OUTBOX_COLUMNS, rows)
    if _listeners:
        groups: dict[tuple[str, int, str], set[int]] = defaultdict(set)
        left: dict[tuple[str, int, str], dict[str, set[int]] | None] = {}
        for e in batch:
            if e.environment_id is not None:
                key = (e.topic.rsplit(".", 1)[0] + ".", e.environment_id, e.entity)
                groups[key].add(e.entity_id)
                known = left.setdefault(key, {})
                if e.left is None or known is None:
                    left[key] = None
                else:
                    for kind, linked in e.left.items():
                        known.setdefault(kind, set()).update(linked)
        for key, ids in groups.items():
            prefix, env, entity = key
            was = left[key]
            reported = None if was is None else {kind: frozenset(i) for kind, i in was.items()}
            touched(session, prefix, Touched(env, entity, frozenset(ids), reported))
    return len(rows)
