"""Service-requirement patterns: which days, at what local time, for how long.

Times in a pattern are wall-clock times in the tenant's zone. Expanding a
pattern into visits converts each local start to UTC on its own date, so a
08:00 call stays at 08:00 on both sides of a daylight-saving change.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAY_CODES = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


def parse_days(days: str) -> frozenset[int]:
    """``"MON,WED"`` to weekday numbers; ValueError naming the bad code."""
    result: set[int] = set()
    for part in days.split(","):
        code = part.strip().upper()
        if code not in DAY_CODES:
            msg = f"unknown day {part.strip()!r}; expected comma-separated {','.join(DAY_CODES)}"
            raise ValueError(msg)
        day = DAY_CODES.index(code)
        if day in result:
            msg = f"day {code} is given twice; expected each day at most once, e.g. MON,WED,FRI"
            raise ValueError(msg)
        result.add(day)
    return frozenset(result)


def parse_clock(value: str) -> time:
    """``"HH:MM"`` (24-hour) to a time; ValueError otherwise."""
    msg = f"{value!r} is not a 24-hour time HH:MM"
    hh, _, mm = value.partition(":")
    # isascii(): str.isdigit() also accepts other scripts' digits ("٠٨") and superscripts.
    if len(hh) != 2 or len(mm) != 2 or not (hh.isascii() and mm.isascii() and hh.isdigit() and mm.isdigit()):
        raise ValueError(msg)
    try:
        return time(int(hh), int(mm))
    except ValueError as exc:
        raise ValueError(msg) from exc


def local_to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    """A wall-clock time on a date in ``zone``, as UTC.

    A time that does not exist (skipped by the spring change) moves forward by
    the gap; an ambiguous one (autumn) takes the first occurrence.
    """
    # zoneinfo gives fold=0 the offset in force before a transition: a skipped
    # time therefore lands the gap later, an ambiguous one on its first occurrence.
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One visit a pattern produces."""

    day: date
    start_at: datetime
    end_at: datetime


def occurrences(
    days: frozenset[int], start: time, duration_minutes: int, first: date, last: date, zone: ZoneInfo
) -> Iterator[Occurrence]:
    """Every visit of a pattern between ``first`` and ``last`` inclusive, in UTC."""
    day = first
    while day <= last:
        if day.weekday() in days:
            start_at = local_to_utc(day, start, zone)
            yield Occurrence(day, start_at, start_at + timedelta(minutes=duration_minutes))
        day += timedelta(days=1)
