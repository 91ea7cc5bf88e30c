"""Pattern expansion: requested weekdays, local wall-clock times kept across daylight saving, UTC round trips.

The oracle for "which UTC instant is 08:00 local" is built from zoneinfo's
UTC-to-local conversion (``fromutc``), a different path from the local-to-UTC
conversion the code under test uses.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carehub.roster.domain.patterns import DAY_CODES, local_to_utc, occurrences, parse_clock, parse_days

PROPERTY = settings(max_examples=300, database=None, deadline=None)
LONDON = ZoneInfo("Europe/London")
SYDNEY = ZoneInfo("Australia/Sydney")
ZONES = st.sampled_from([LONDON, SYDNEY, ZoneInfo("America/New_York"), ZoneInfo("UTC")])

# Days around the changes in both zones are drawn often.
CHANGE_DAYS = [
    date(2026, 3, 29),  # London spring forward, 01:00 -> 02:00
    date(2026, 10, 25),  # London fall back, 02:00 -> 01:00
    date(2026, 4, 5),  # Sydney fall back, 03:00 -> 02:00
    date(2026, 10, 4),  # Sydney spring forward, 02:00 -> 03:00
]
days_near_changes = st.sampled_from(CHANGE_DAYS).flatmap(
    lambda d: st.integers(-3, 3).map(lambda n: d + timedelta(days=n))
)
any_day = st.one_of(days_near_changes, st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)))
clock = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45, 59]))
weekday_sets = st.frozensets(st.integers(0, 6), min_size=1)


def utc_instants_showing(day: date, at: time, zone: ZoneInfo) -> list[datetime]:
    """Every UTC instant whose local wall clock in ``zone`` reads ``day at``, found via fromutc."""
    naive = datetime.combine(day, at)
    # Every offset the zone uses within a day either side is a candidate; fromutc decides.
    offsets = {(naive + timedelta(hours=h)).replace(tzinfo=UTC).astimezone(zone).utcoffset() for h in range(-26, 27, 2)}
    candidates = {(naive - offset).replace(tzinfo=UTC) for offset in offsets if offset is not None}
    return sorted(c for c in candidates if c.astimezone(zone).replace(tzinfo=None) == naive)


@PROPERTY
@given(day=any_day, at=clock, zone=ZONES)
def test_local_to_utc_is_the_instant_showing_that_wall_clock_or_the_first_of_two(
    day: date, at: time, zone: ZoneInfo
) -> None:
    result = local_to_utc(day, at, zone)
    assert result.tzinfo is UTC
    showing = utc_instants_showing(day, at, zone)
    if showing:
        # Existing time: that instant; ambiguous autumn time: the first occurrence.
        assert result == showing[0]
        assert result.astimezone(zone).time() == at
    else:
        # Skipped by the spring change: the same instant the wall clock would show had it not jumped,
        # so the local time is later by the size of the gap.
        local = result.astimezone(zone)
        gap = local.utcoffset() - (local - timedelta(hours=3)).utcoffset()  # type: ignore[operator]
        assert gap > timedelta(0)
        assert local.replace(tzinfo=None) == datetime.combine(day, at) + gap


@pytest.mark.parametrize(
    ("day", "at", "zone", "utc"),
    [
        (date(2026, 3, 28), time(8), LONDON, datetime(2026, 3, 28, 8, tzinfo=UTC)),
        (date(2026, 3, 29), time(8), LONDON, datetime(2026, 3, 29, 7, tzinfo=UTC)),
        (date(2026, 3, 29), time(1, 30), LONDON, datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),  # skipped: 02:30 BST
        (date(2026, 10, 25), time(1, 30), LONDON, datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),  # first of two
        (date(2026, 4, 5), time(2, 30), SYDNEY, datetime(2026, 4, 4, 15, 30, tzinfo=UTC)),  # first of two (AEDT)
        (date(2026, 4, 5), time(8), SYDNEY, datetime(2026, 4, 4, 22, tzinfo=UTC)),  # AEST from today
        (date(2026, 10, 4), time(2, 30), SYDNEY, datetime(2026, 10, 3, 16, 30, tzinfo=UTC)),  # skipped: 03:30 AEDT
        (date(2026, 10, 4), time(8), SYDNEY, datetime(2026, 10, 3, 21, tzinfo=UTC)),
    ],
)
def test_local_to_utc_examples_around_the_changes(day: date, at: time, zone: ZoneInfo, utc: datetime) -> None:
    assert local_to_utc(day, at, zone) == utc


@PROPERTY
@given(days=weekday_sets, at=clock, first=days_near_changes, span=st.integers(0, 40), zone=ZONES)
def test_occurrences_fall_on_exactly_the_requested_weekdays(
    days: frozenset[int], at: time, first: date, span: int, zone: ZoneInfo
) -> None:
    last = first + timedelta(days=span)
    found = list(occurrences(days, at, 30, first, last, zone))
    expected = [first + timedelta(days=n) for n in range(span + 1) if (first + timedelta(days=n)).weekday() in days]
    assert [o.day for o in found] == expected


@PROPERTY
@given(
    days=weekday_sets,
    at=clock,
    first=days_near_changes,
    span=st.integers(0, 21),
    duration=st.integers(5, 1440),
    zone=st.sampled_from([LONDON, SYDNEY]),
)
def test_occurrences_keep_the_local_wall_clock_across_daylight_saving(
    days: frozenset[int], at: time, first: date, span: int, duration: int, zone: ZoneInfo
) -> None:
    for occ in occurrences(days, at, duration, first, first + timedelta(days=span), zone):
        assert occ.start_at.tzinfo is UTC
        assert occ.end_at - occ.start_at == timedelta(minutes=duration)
        local = occ.start_at.astimezone(zone)
        if utc_instants_showing(occ.day, at, zone):
            assert (local.date(), local.time()) == (occ.day, at)
        else:  # a skipped time moves forward by the gap, on the same day
            assert local.date() == occ.day
            assert local.time() > at


@PROPERTY
@given(days=weekday_sets, at=clock, first=any_day, zone=ZONES)
def test_occurrences_round_trip_through_utc(days: frozenset[int], at: time, first: date, zone: ZoneInfo) -> None:
    for occ in occurrences(days, at, 60, first, first + timedelta(days=7), zone):
        assert occ.start_at.astimezone(zone).astimezone(UTC) == occ.start_at
        assert datetime.fromisoformat(occ.start_at.isoformat()) == occ.start_at


def test_an_8am_call_stays_at_8am_local_on_both_sides_of_the_london_spring_change() -> None:
    week = list(occurrences(frozenset(range(7)), time(8), 30, date(2026, 3, 27), date(2026, 3, 31), LONDON))
    assert [o.start_at.astimezone(LONDON).time() for o in week] == [time(8)] * 5
    assert [o.start_at.hour for o in week] == [8, 8, 7, 7, 7]


def test_an_8am_call_stays_at_8am_local_on_both_sides_of_the_sydney_changes() -> None:
    autumn = list(occurrences(frozenset(range(7)), time(8), 30, date(2026, 4, 4), date(2026, 4, 6), SYDNEY))
    assert [o.start_at.astimezone(SYDNEY).time() for o in autumn] == [time(8)] * 3
    assert [o.start_at.hour for o in autumn] == [21, 22, 22]
    spring = list(occurrences(frozenset(range(7)), time(8), 30, date(2026, 10, 3), date(2026, 10, 5), SYDNEY))
    assert [o.start_at.hour for o in spring] == [22, 21, 21]


def test_no_occurrences_when_the_range_is_empty_or_misses_the_days() -> None:
    assert list(occurrences(frozenset({0}), time(8), 30, date(2026, 3, 3), date(2026, 3, 2), LONDON)) == []
    # 3 March 2026 is a Tuesday to 7 March, a Saturday: no Monday.
    assert list(occurrences(frozenset({0}), time(8), 30, date(2026, 3, 3), date(2026, 3, 7), LONDON)) == []


# parse_days and parse_clock


@PROPERTY
@given(chosen=st.lists(st.sampled_from(DAY_CODES), min_size=1, unique=True), lower=st.booleans(), spaces=st.booleans())
def test_parse_days_reads_any_case_and_spacing(chosen: list[str], lower: bool, spaces: bool) -> None:
    text = (", " if spaces else ",").join(c.lower() if lower else c for c in chosen)
    assert parse_days(text) == frozenset(DAY_CODES.index(c) for c in chosen)


@PROPERTY
@given(chosen=st.lists(st.sampled_from(DAY_CODES), min_size=1, unique=True), data=st.data())
def test_rule_a_day_given_twice_is_refused_naming_it(chosen: list[str], data: st.DataObject) -> None:
    """Repeated days mean nothing and could outgrow the stored column: refused, naming the day."""
    twice = data.draw(st.sampled_from(chosen))
    text = ",".join([*chosen, twice.lower()])
    with pytest.raises(ValueError, match=f"day {twice} is given twice"):
        parse_days(text)


@pytest.mark.parametrize("bad", ["", "MON,", "MONDAY", "MON;TUE", "FUNDAY", "M O N"])
def test_parse_days_names_the_bad_code(bad: str) -> None:
    with pytest.raises(ValueError, match="unknown day"):
        parse_days(bad)


@PROPERTY
@given(at=st.builds(time, st.integers(0, 23), st.integers(0, 59)))
def test_parse_clock_reads_every_hh_mm(at: time) -> None:
    assert parse_clock(at.strftime("%H:%M")) == at


@PROPERTY
@given(text=st.one_of(st.text(max_size=6), st.from_regex(r"\A[0-9]{2}:[0-9]{2}\Z")))
def test_parse_clock_accepts_only_two_ascii_digits_colon_two_ascii_digits(text: str) -> None:
    if re.fullmatch(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]", text):
        assert parse_clock(text).strftime("%H:%M") == text
    else:
        with pytest.raises(ValueError, match="is not a 24-hour time HH:MM"):
            parse_clock(text)


@pytest.mark.parametrize("bad", ["24:00", "8:00", "08:60", "0800", "08:00:00", "٠٨:٠٠", "²3:00", " 8:00", ""])
def test_parse_clock_refuses(bad: str) -> None:
    with pytest.raises(ValueError, match="24-hour time"):
        parse_clock(bad)
