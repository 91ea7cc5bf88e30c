"""The sync cursor and the feed window: plain values and rules, no I/O.

A device's feed is read in the order of the environment's change counter
(``seq``), then visit id, so a position ``(seq, after)`` says "every row up to
this one is done". The cursor a device sends back holds:

- ``seq`` and ``after``: the position. ``after`` is the last visit id done at
  ``seq``, or None when every row at ``seq`` is done.
- ``high``: set while a first sync (a snapshot of the visits in the window) is
  being paged: the snapshot covers changes up to ``high``, and once it is done
  the feed continues with every change after ``high``.
- ``window_end``: the first day (UTC) after the window the device holds. When
  the window moves on (a new day, or more days asked for), the visits that came
  into it are sent even though they did not change.

Its text form is ``1.<seq>.<after|*>.<high|->.<YYYYMMDD>``; devices treat it as
opaque.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

MAX_DAYS = 14
DEFAULT_DAYS = 14
MAX_ID = 2**63 - 1
MAX_CURSOR_LENGTH = 100
_PATTERN = re.compile(r"1\.(\d{1,19})\.(\d{1,19}|\*)\.(\d{1,19}|-)\.(\d{8})")

# Why a device is told to drop a visit (the published visit's state, or the worker's part in it).
CANCELLED = "cancelled"
DEACTIVATED = "deactivated"
ENDED = "ended"
UNASSIGNED = "unassigned"
OUT_OF_WINDOW = "out_of_window"
ACTIVE = "active"


class CursorError(ValueError):
    """A cursor that was not made by Carehub (or was changed on the way)."""


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a device's feed stands; see the module docstring."""

    seq: int
    after: int | None
    high: int | None
    window_end: date

    @property
    def snapshot(self) -> bool:
        """True while a first sync is being paged."""
        return self.high is not None

    def encode(self) -> str:
        """The text a device stores and sends back."""
        after = "*" if self.after is None else str(self.after)
        high = "-" if self.high is None else str(self.high)
        return f"1.{self.seq}.{after}.{high}.{self.window_end:%Y%m%d}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """The cursor of ``text``; CursorError when it is not one Carehub made."""
        if len(text) > MAX_CURSOR_LENGTH or not (m := _PATTERN.fullmatch(text)):
            raise CursorError("not a cursor returned by an earlier sync")
        seq = int(m[1])
        after = None if m[2] == "*" else int(m[2])
        high = None if m[3] == "-" else int(m[3])
        try:
            window_end = datetime.strptime(m[4], "%Y%m%d").replace(tzinfo=UTC).date()
        except ValueError as exc:
            raise CursorError("the cursor's date is not a date") from exc
        if max(seq, after or 0, high or 0) > MAX_ID:
            raise CursorError("the cursor's numbers are out of range")
        if high is not None and seq > high:
            raise CursorError("the cursor's position is past its snapshot")
        return cls(seq, after, high, window_end)


def first_position() -> tuple[int, int]:
    """The position before every row: a first sync starts here."""
    return (0, 0)


@dataclass(frozen=True, slots=True)
class FeedWindow:
    """The visits a device holds: those starting from the start of today (UTC) up to ``days`` days ahead."""

    start: datetime
    end: datetime
    days: int

    @property
    def end_day(self) -> date:
        """The first day after the window."""
        return self.end.date()


def midnight(day: date) -> datetime:
    """The start of ``day`` in UTC."""
    return datetime.combine(day, time(0), tzinfo=UTC)


def feed_window(now: datetime, days: int) -> FeedWindow:
    """Today and the next ``days`` days, whole UTC days: ``start <= start_at < end``."""
    today = now.astimezone(UTC).date()
    return FeedWindow(midnight(today), midnight(today + timedelta(days=days + 1)), days)


def capped_days(days: int | None) -> int:
    """The days asked for, capped at MAX_DAYS (None: the default). ValueError when negative."""
    if days is None:
        return DEFAULT_DAYS
    if days < 0:
        raise ValueError(days)
    return min(days, MAX_DAYS)


def visit_outcome(row_active: bool, visit_state: str | None, start_at: datetime | None, window: FeedWindow) -> str:
    """``active`` when the device should hold the visit, else the reason to drop it.

    The visit's own state comes first (a cancelled visit is "cancelled" for
    everyone on it); then the worker's part in it; then the window.
    """
    if visit_state is None:
        return DEACTIVATED
    if visit_state != ACTIVE:
        return visit_state
    if not row_active:
        return UNASSIGNED
    if start_at is None or not window.start <= start_at < window.end:
        return OUT_OF_WINDOW
    return ACTIVE
