"""Times are stored in UTC and returned timezone-aware, the same instant that was sent. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from carehub.platform.db import Database
from carehub.roster.tables import Visit
from tests.roster.test_api_basics import batch, seed_people, visit_rec


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    assert value.utcoffset() is not None, f"{text} is not timezone-aware"
    return value


def test_rule_an_offset_time_round_trips_to_the_same_instant(api: TestClient, db: Database) -> None:
    seed_people(api)
    sent = visit_rec(1, start="2026-03-29T08:00:00+01:00", end="2026-03-29T08:45:00+01:00")
    assert api.put("/api/v1/visits/V1", json=sent).status_code == 201
    got = api.get("/api/v1/visits/V1").json()
    assert _instant(got["start"]) == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    assert _instant(got["start"]) == _instant(sent["start"])
    assert _instant(got["end"]) == _instant(sent["end"])
    assert _instant(got["start"]).utcoffset() == timedelta(0), "returned in UTC"
    with db.read() as session:
        stored = session.scalar(select(Visit.start_at).where(Visit.external_id == "V1"))
    assert stored == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    assert stored is not None
    assert stored.utcoffset() == timedelta(0)


def test_rule_times_are_stored_as_utc_in_the_database_itself(api: TestClient, db: Database, backend: str) -> None:
    seed_people(api)
    batch(api, "visits", [visit_rec(1, start="2026-06-01T09:00:00+10:00", end="2026-06-01T10:00:00+10:00")])
    with db.engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT start_at FROM visits").scalar_one()
    if backend == "sqlite":
        # Stored without a zone, and the value is UTC: 09:00 +10:00 is 23:00 the day before.
        assert str(raw).startswith("2026-05-31 23:00:00")
    else:
        assert raw == datetime(2026, 5, 31, 23, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "same_instant",
    ["2026-03-29T07:00:00Z", "2026-03-29T07:00:00+00:00", "2026-03-29T03:00:00-04:00", "2026-03-29T17:00:00+10:00"],
)
def test_rule_the_same_instant_in_another_offset_is_the_same_record(api: TestClient, same_instant: str) -> None:
    seed_people(api)
    batch(api, "visits", [visit_rec(1, start="2026-03-29T08:00:00+01:00", end="2026-03-29T08:30:00+01:00")])
    again = visit_rec(1, start=same_instant, end="2026-03-29T07:30:00Z")
    assert batch(api, "visits", [again])["results"][0]["outcome"] == "unchanged"


def test_rule_a_visit_across_the_spring_change_keeps_its_real_duration(api: TestClient) -> None:
    """On 29 March 2026 UK clocks go from 01:00 GMT to 02:00 BST: 00:30 GMT to 03:00 BST is 90 minutes."""
    seed_people(api)
    batch(api, "visits", [visit_rec(1, start="2026-03-29T00:30:00+00:00", end="2026-03-29T03:00:00+01:00")])
    got = api.get("/api/v1/visits/V1").json()
    assert _instant(got["end"]) - _instant(got["start"]) == timedelta(minutes=90)


def test_rule_an_autumn_visit_at_the_repeated_hour_is_told_apart_by_its_offset(api: TestClient) -> None:
    """On 25 October 2026 01:30 happens twice in London: +01:00 first, then +00:00."""
    seed_people(api)
    batch(
        api,
        "visits",
        [
            visit_rec(1, start="2026-10-25T01:30:00+01:00", end="2026-10-25T01:45:00+01:00"),
            visit_rec(2, start="2026-10-25T01:30:00+00:00", end="2026-10-25T01:45:00+00:00"),
        ],
    )
    first = _instant(api.get("/api/v1/visits/V1").json()["start"])
    second = _instant(api.get("/api/v1/visits/V2").json()["start"])
    assert second - first == timedelta(hours=1)
    assert [i["id"] for i in api.get("/api/v1/visits").json()["items"]] == ["V1", "V2"]


def test_rule_extreme_offsets_are_kept_as_instants(api: TestClient) -> None:
    seed_people(api)
    batch(
        api,
        "visits",
        [
            visit_rec(1, start="2026-01-01T00:00:00+14:00", end="2026-01-01T01:00:00+14:00"),
            visit_rec(2, start="2025-12-31T00:00:00-12:00", end="2025-12-31T01:00:00-12:00"),
        ],
    )
    assert _instant(api.get("/api/v1/visits/V1").json()["start"]) == datetime(2025, 12, 31, 10, tzinfo=UTC)
    assert _instant(api.get("/api/v1/visits/V2").json()["start"]) == datetime(2025, 12, 31, 12, tzinfo=UTC)


def test_rule_audit_times_are_utc(api: TestClient) -> None:
    seed_people(api)
    batch(api, "visits", [visit_rec(1)])
    [entry] = api.get("/api/v1/visits/V1/history").json()["entries"]
    at = _instant(entry["at"])
    assert at.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - at) < timedelta(minutes=5)
    assert entry["changes"]["start"] == {"before": None, "after": "2026-03-29T07:00:00+00:00"}
