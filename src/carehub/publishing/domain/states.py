"""What the published copy of a record should become, given its rules and its current state.

Published states: ``active`` (in care planning and on phones), ``cancelled``
(a visit de-allocated or cancelled in the roster), ``deactivated`` (no longer
meets its rules, or deleted in the roster) and ``ended`` (a visit whose start
has passed; a care plan replaced by the next one for a new service
requirement). A record that never published stays unpublished (``None``) until
it first meets every rule.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    """The state of a published record."""

    ACTIVE = "active"
    CANCELLED = "cancelled"
    DEACTIVATED = "deactivated"
    ENDED = "ended"


class Change(StrEnum):
    """What a publishing run does to one record; also the last word of its event topic."""

    PUBLISHED = "published"
    UPDATED = "updated"
    CANCELLED = "cancelled"
    DEACTIVATED = "deactivated"
    ENDED = "ended"


_TO_CHANGE = {
    State.CANCELLED: Change.CANCELLED,
    State.DEACTIVATED: Change.DEACTIVATED,
    State.ENDED: Change.ENDED,
}


@dataclass(frozen=True, slots=True)
class VisitSituation:
    """The facts that decide a visit's published state besides its rules."""

    eligible: bool
    current: State | None
    deleted: bool
    cancelled_in_roster: bool
    started_before_window: bool
    allocated: bool


def visit_state(s: VisitSituation) -> State | None:  # noqa: PLR0911 - one return per case, in order
    """The state a visit's published copy should have.

    De-allocating a published visit cancels it; cancelling it in the roster
    cancels it; a published visit whose start has passed ends; any other lost
    rule (or deletion) deactivates it.
    """
    if s.eligible:
        return State.ACTIVE
    if s.current is not State.ACTIVE:
        return s.current
    if s.deleted:
        return State.DEACTIVATED
    if s.cancelled_in_roster:
        return State.CANCELLED
    if s.started_before_window:
        return State.ENDED
    if not s.allocated:
        return State.CANCELLED
    return State.DEACTIVATED


def record_state(*, eligible: bool, current: State | None) -> State | None:
    """Clients, workers and care plans: active while eligible, deactivated when they stop being."""
    if eligible:
        return State.ACTIVE
    if current is State.ACTIVE:
        return State.DEACTIVATED
    return current


def needs_change(*, eligible: bool, current: State | None, same_content: bool) -> bool:
    """Whether a run must touch a record's published copy.

    It must when the record's eligibility disagrees with being published as
    active, or when it is eligible and its content differs. This equals, for
    every visit and every other record, ``change_of(...) is not None`` of
    :func:`visit_state` and :func:`record_state` (a test checks every case).
    Full runs put this condition into SQL, so that only records that change
    leave the database.
    """
    active = current is State.ACTIVE
    return eligible != active or (eligible and not same_content)


def change_of(before: State | None, after: State | None, *, content_changed: bool) -> Change | None:
    """The change a run makes, or None when the published copy is already right."""
    if after is None or (before == after and not (after is State.ACTIVE and content_changed)):
        return None
    if after is State.ACTIVE:
        return Change.UPDATED if before is State.ACTIVE else Change.PUBLISHED
    return _TO_CHANGE[after]


def requirement_changed(before: tuple[object, ...], after: tuple[object, ...]) -> bool:
    """A new service requirement (contract, visit type, days, time, duration, carers) ends the care plan."""
    return before != after


_NOT_LETTERS = re.compile(r"[^a-z]")
MAX_USERNAME = 30


def username_base(first_name: str, last_name: str) -> str:
    """First initial and last name, lower-case ASCII letters only: ``Ann O'Neil`` gives ``aoneil``."""

    def ascii_letters(text: str) -> str:
        plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
        return _NOT_LETTERS.sub("", plain)

    base = (ascii_letters(first_name)[:1] + ascii_letters(last_name))[: MAX_USERNAME - 4]
    return base or "worker"


def new_username(first_name: str, last_name: str, taken: Collection[str]) -> str:
    """A username not in ``taken``: the base, else the base with the lowest free number from 2."""
    base = username_base(first_name, last_name)
    if base not in taken:
        return base
    n = 2
    while f"{base}{n}" in taken:
        n += 1
    return f"{base}{n}"
