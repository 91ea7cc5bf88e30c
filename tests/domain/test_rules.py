"""Roster rules as pure functions: unit and property tests (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carehub.roster.domain.rules import (
    Outcome,
    Violation,
    allocation_fits,
    changed_fields,
    end_after_start,
    ends_not_before_starts,
    version_outcome,
)

PROPERTY = settings(max_examples=300, database=None, deadline=None)
versions = st.integers(min_value=1, max_value=2**63 - 1)


# version_outcome


@PROPERTY
@given(incoming=versions, same=st.booleans())
def test_version_outcome_without_a_stored_record_creates(incoming: int, same: bool) -> None:
    assert version_outcome(None, incoming, same_content=same) is Outcome.CREATED


@PROPERTY
@given(stored=versions, data=st.data(), same=st.booleans())
def test_version_outcome_older_than_stored_is_refused_whatever_the_content(
    stored: int, data: st.DataObject, same: bool
) -> None:
    incoming = data.draw(st.integers(min_value=0, max_value=stored - 1) if stored > 0 else st.nothing())
    decided = version_outcome(stored, incoming, same_content=same)
    assert decided == Violation(
        "version", incoming, f"older than current: stored version is {stored}", "older_than_current"
    )


@PROPERTY
@given(stored=versions)
def test_version_outcome_same_version_same_content_is_an_idempotent_resend(stored: int) -> None:
    assert version_outcome(stored, stored, same_content=True) is Outcome.UNCHANGED


@PROPERTY
@given(stored=versions)
def test_version_outcome_same_version_other_content_is_a_conflict(stored: int) -> None:
    decided = version_outcome(stored, stored, same_content=False)
    assert isinstance(decided, Violation)
    assert (decided.field, decided.value, decided.code) == ("version", stored, "version_conflict")
    assert "send a higher version" in decided.reason


@PROPERTY
@given(stored=versions, gap=st.integers(min_value=1, max_value=10**12), same=st.booleans())
def test_version_outcome_newer_applies_with_any_gap_even_without_content_change(
    stored: int, gap: int, same: bool
) -> None:
    assert version_outcome(stored, stored + gap, same_content=same) is Outcome.UPDATED


@PROPERTY
@given(stored=st.none() | versions, incoming=versions, same=st.booleans())
def test_version_outcome_is_total_and_refuses_only_older_or_conflicting(
    stored: int | None, incoming: int, same: bool
) -> None:
    decided = version_outcome(stored, incoming, same_content=same)
    refused = isinstance(decided, Violation)
    expected = stored is not None and (incoming < stored or (incoming == stored and not same))
    assert refused == expected


# changed_fields

flat = st.dictionaries(
    st.sampled_from(["a", "b", "c", "d", "e"]),
    st.none() | st.integers(-3, 3) | st.text(max_size=3) | st.booleans(),
)


@PROPERTY
@given(before=flat, after=flat)
def test_changed_fields_lists_exactly_the_differing_fields_of_after(
    before: dict[str, Any], after: dict[str, Any]
) -> None:
    changes = changed_fields(before, after)
    assert set(changes) == {k for k, v in after.items() if before.get(k) != v}
    for k, (was, now) in changes.items():
        assert was == before.get(k)
        assert now == after[k]
        assert was != now


@PROPERTY
@given(before=flat, after=flat)
def test_changed_fields_applied_to_before_gives_after(before: dict[str, Any], after: dict[str, Any]) -> None:
    patched = {**before, **{k: now for k, (_, now) in changed_fields(before, after).items()}}
    assert all(patched.get(k) == v for k, v in after.items())


@PROPERTY
@given(record=flat)
def test_changed_fields_of_a_record_with_itself_is_empty(record: dict[str, Any]) -> None:
    assert changed_fields(record, dict(record)) == {}


def test_changed_fields_examples() -> None:
    assert changed_fields({}, {"name": "Ada", "postcode": None}) == {"name": [None, "Ada"]}
    assert changed_fields({"name": "Ada", "gone": 1}, {"name": "Bea"}) == {"name": ["Ada", "Bea"]}
    # 1 == True in Python; the rule compares values, so a flag stored as 1 reads as unchanged.
    assert changed_fields({"active": True}, {"active": True}) == {}


# end_after_start

aware = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=10, minutes=30))]),
)


@PROPERTY
@given(start=aware, end=aware)
def test_end_after_start_holds_exactly_when_end_is_a_later_instant(start: datetime, end: datetime) -> None:
    violation = end_after_start(start, end)
    assert (violation is None) == (end > start)
    if violation is not None:
        assert (violation.field, violation.value, violation.code) == ("end", end.isoformat(), "end_before_start")
        assert start.isoformat() in violation.reason


def test_end_after_start_compares_instants_not_wall_clocks() -> None:
    start = datetime(2026, 3, 29, 8, 0, tzinfo=timezone(timedelta(hours=1)))  # 07:00 UTC
    assert end_after_start(start, datetime(2026, 3, 29, 7, 30, tzinfo=UTC)) is None
    assert end_after_start(start, datetime(2026, 3, 29, 7, 0, tzinfo=UTC)) is not None
    assert end_after_start(start, start, field="finish") == Violation(
        "finish", start.isoformat(), f"must be after start ({start.isoformat()})", "end_before_start"
    )


@PROPERTY
@given(first=st.dates(), last=st.none() | st.dates())
def test_ends_not_before_starts(first: Any, last: Any) -> None:
    violation = ends_not_before_starts(first, last)
    assert (violation is None) == (last is None or last >= first)
    if violation:
        assert (violation.field, violation.code) == ("ends_on", "end_before_start")


# allocation_fits

worker_lists = st.lists(st.sampled_from(["W1", "W2", "W3", "W4", "W5"]), max_size=6)


@PROPERTY
@given(workers=worker_lists, needed=st.integers(min_value=1, max_value=4))
def test_allocation_fits_unique_workers_up_to_the_carers_needed(workers: list[str], needed: int) -> None:
    violation = allocation_fits(workers, needed)
    if len(set(workers)) != len(workers):
        assert violation is not None
        assert violation.code == "duplicate_worker"
    elif len(workers) > needed:
        assert violation is not None
        assert violation.code == "too_many_workers"
        assert f"needs {needed}" in violation.reason
    else:
        assert violation is None


@pytest.mark.parametrize(
    ("workers", "needed", "code"),
    [
        ([], 1, None),
        (["W1"], 1, None),
        (["W1", "W2"], 2, None),
        (["W1", "W2"], 1, "too_many_workers"),
        (["W1", "W1"], 2, "duplicate_worker"),
    ],
)
def test_allocation_fits_examples(workers: list[str], needed: int, code: str | None) -> None:
    violation = allocation_fits(workers, needed)
    assert (violation.code if violation else None) == code
    if violation:
        assert (violation.field, violation.value) == ("worker_ids", workers)
