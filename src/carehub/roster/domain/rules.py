"""Rules every incoming roster record must satisfy, as pure functions.

Each rule returns ``None`` when it holds, or a :class:`Violation` saying which
field, which value and what was expected. The service layer turns violations
into per-record rejections; one bad record never blocks the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    """What happened to one record of a batch."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Violation:
    """A broken rule: the field, the value, the reason, and a stable code."""

    field: str | None
    value: Any
    reason: str
    code: str


def version_outcome(stored_version: int | None, incoming_version: int, *, same_content: bool) -> Outcome | Violation:
    """Decide by version: newer applies, an identical re-send is unchanged, older is refused.

    - no stored record: created;
    - incoming older than stored: refused, "older than current";
    - same version and same content: unchanged (an idempotent re-send);
    - same version, different content: refused, a version must change with the content;
    - newer: updated, even when only the version changed. The stored version must
      move on, or a stale record still in flight (say version 2 arriving after
      version 3 whose content happened to equal version 1) would later apply.
    """
    if stored_version is None:
        return Outcome.CREATED
    if incoming_version < stored_version:
        return Violation(
            "version",
            incoming_version,
            f"older than current: stored version is {stored_version}",
            "older_than_current",
        )
    if incoming_version == stored_version:
        if same_content:
            return Outcome.UNCHANGED
        return Violation(
            "version",
            incoming_version,
            f"same version {stored_version} with different content; send a higher version",
            "version_conflict",
        )
    return Outcome.UPDATED


def end_after_start(start: datetime, end: datetime, *, field: str = "end") -> Violation | None:
    """A visit's end must be after its start."""
    if end <= start:
        return Violation(field, end.isoformat(), f"must be after start ({start.isoformat()})", "end_before_start")
    return None


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{field: [before, after]}`` for every field whose value differs."""
    return {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}


def ends_not_before_starts(starts_on: Any, ends_on: Any) -> Violation | None:
    """A pattern's last day cannot be before its first."""
    if ends_on is not None and ends_on < starts_on:
        return Violation("ends_on", str(ends_on), f"must be on or after starts_on ({starts_on})", "end_before_start")
    return None


def allocation_fits(worker_ids: list[str], carers_needed: int) -> Violation | None:
    """A visit lists each worker once and no more workers than it needs."""
    if len(set(worker_ids)) != len(worker_ids):
        return Violation("worker_ids", worker_ids, "a worker is listed more than once", "duplicate_worker")
    if len(worker_ids) > carers_needed:
        return Violation(
            "worker_ids",
            worker_ids,
            f"{len(worker_ids)} workers allocated but the visit needs {carers_needed}",
            "too_many_workers",
        )
    return None
