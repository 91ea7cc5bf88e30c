"""The sync feed: first sync, paging by cursor, changes and drops, clients and care plans, the window, records."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from carehub.platform.clock import utc_now
from carehub.platform.db import Database
from carehub.platform.errors import InvalidInput
from carehub.publishing.mobile import service as mobile
from carehub.publishing.mobile.cursor import Cursor
from carehub.publishing.mobile.tables import MobileDeviceSync
from tests.conftest import World
from tests.publishing.mobile.conftest import Published, day_at, drain

Device = tuple[mobile.DeviceInfo, str]


def _ids(items: list[dict[str, Any]]) -> list[int]:
    return [int(i["id"]) for i in items]


def _drops(page: mobile.FeedPage, kind: str = "visit") -> dict[object, object]:
    return {d["id"]: d["reason"] for d in page.drops if d["kind"] == kind}


def test_first_sync_sends_the_workers_visits_their_clients_and_care_plans(
    db: Database, published: Published, device: Device
) -> None:
    info, _ = device
    published.client(501, "Ada", address="1 Clifton Road")
    published.client(502, "Mary")
    published.client(503, "Edith")
    published.care_plan(801, 501, "Morning call: personal care")
    published.care_plan(802, 501, "Old plan", state="ended")
    published.visit(1, 501, day_at(1, 8), ["W01"], plan_visit_id=801, notes="Key safe 1234")
    published.visit(2, 502, day_at(2, 9), ["W01", "W02"])
    published.visit(3, 503, day_at(1, 10), ["W02"])  # someone else's
    published.visit(4, 501, day_at(3, 8), ["W01"], state="cancelled")  # not to hold

    page = mobile.pull(db, info, None)
    assert not page.has_more
    assert _ids(page.visits) == [1, 2]
    first = page.visits[0]
    assert first["external_id"] == "V1"
    assert first["client_id"] == 501
    assert first["plan_visit_id"] == 801
    assert first["notes"] == "Key safe 1234"
    assert first["start_at"] == day_at(1, 8)
    assert [w["username"] for w in first["workers"]] == ["jo.bloggs"]
    assert [w["username"] for w in page.visits[1]["workers"]] == ["jo.bloggs", "sam.smith"]
    assert _ids(page.clients) == [501, 502]
    assert page.clients[0]["address"] == "1 Clifton Road"
    assert page.clients[0]["branch"] == "Bristol"
    assert [(p["plan_visit_id"], p["description"]) for p in page.care_plans] == [(801, "Morning call: personal care")]
    assert page.drops == []
    assert page.window.days == 14


def test_another_workers_visits_never_appear(db: Database, published: Published, device: Device) -> None:
    info, _ = device
    published.client(501)
    published.visit(10, 501, day_at(1, 8), ["W02"])
    cursor, pages = drain(db, info, None)
    assert all(p.visits == [] and p.drops == [] and p.clients == [] for p in pages)
    published.visit(10, 501, day_at(1, 9), ["W02"], state="cancelled")
    published.client(501, "Ada", address="changed")
    _, pages = drain(db, info, cursor)
    assert all(p.visits == [] and p.drops == [] and p.clients == [] for p in pages)


def test_paging_by_cursor(db: Database, published: Published, device: Device) -> None:
    info, _ = device
    published.client(501)
    for i in range(1, 6):
        published.visit(i, 501, day_at(1, 6 + i), ["W01"])
    pages = []
    cursor = None
    for _ in range(10):
        page = mobile.pull(db, info, cursor, limit=2)
        pages.append(page)
        cursor = page.cursor
        if not page.has_more:
            break
    assert [_ids(p.visits) for p in pages] == [[1, 2], [3, 4], [5]]
    assert [p.has_more for p in pages] == [True, True, False]
    assert len({p.cursor for p in pages}) == 3
    # The client comes with the first visit of it sent in each page.
    assert [_ids(p.clients) for p in pages] == [[501], [501], [501]]
    # Nothing changed: an empty page, and the cursor stays where it was.
    again = mobile.pull(db, info, cursor, limit=2)
    assert (again.visits, again.drops, again.clients, again.has_more) == ([], [], [], False)
    assert again.cursor == cursor
    # Changes page the same way, in the order they were made.
    for i in (5, 3, 1):
        published.visit(i, 501, day_at(2, 6 + i), ["W01"])
    first = mobile.pull(db, info, cursor, limit=2)
    second = mobile.pull(db, info, first.cursor, limit=2)
    assert (_ids(first.visits), first.has_more) == ([3, 5], True)
    assert (_ids(second.visits), second.has_more) == ([1], False)


def test_paging_splits_changes_made_together(db: Database, world: World, published: Published, device: Device) -> None:
    """Rows that share one seq (one publishing change) page by visit id without loss or repeat."""
    info, _ = device
    published.client(501)
    for i in range(1, 6):
        published.visit(i, 501, day_at(1, 6 + i), ["W01"])
    cursor, _ = drain(db, info, None)
    from sqlalchemy import update  # noqa: PLC0415 - one test needs a shared seq

    from carehub.publishing.tables import PublishedVisitWorker, PublishSettings  # noqa: PLC0415

    with db.transaction() as session:
        settings = session.get(PublishSettings, world.env.id)
        assert settings is not None
        settings.seq += 1
        session.execute(update(PublishedVisitWorker).values(seq=settings.seq))
    seen: list[int] = []
    while True:
        page = mobile.pull(db, info, cursor, limit=2)
        seen += _ids(page.visits)
        cursor = page.cursor
        if not page.has_more:
            break
    assert sorted(seen) == [1, 2, 3, 4, 5]
    assert len(seen) == 5


def test_changes_and_drops_with_their_reasons(db: Database, published: Published, device: Device) -> None:
    info, _ = device
    published.client(501)
    for i in range(1, 6):
        published.visit(i, 501, day_at(1, 6 + i), ["W01", "W02"])
    cursor, _ = drain(db, info, None)

    published.visit(1, 501, day_at(1, 15), ["W01", "W02"], notes="moved to the afternoon")
    published.visit(2, 501, day_at(1, 8), ["W01", "W02"], state="cancelled")
    published.visit(3, 501, day_at(1, 9), ["W02"])  # W01 taken off
    published.visit(4, 501, day_at(1, 10), ["W01", "W02"], state="ended")
    published.visit(5, 501, day_at(1, 11), ["W01", "W02"], state="deactivated")
    page = mobile.pull(db, info, cursor)
    assert [(v["id"], v["start_at"], v["notes"]) for v in page.visits] == [(1, day_at(1, 15), "moved to the afternoon")]
    assert _drops(page) == {2: "cancelled", 3: "unassigned", 4: "ended", 5: "deactivated"}
    cancelled = next(d for d in page.drops if d["id"] == 2)
    assert cancelled["cancelled_at"] is not None
    assert cancelled["external_id"] == "V2"

    # Put back on a visit: it comes back.
    published.visit(3, 501, day_at(1, 9), ["W01", "W02"])
    again = mobile.pull(db, info, page.cursor)
    assert (_ids(again.visits), again.drops) == ([3], [])
    # A co-worker taken off changes the visit: it is sent again, with who is on it now.
    published.visit(3, 501, day_at(1, 9), ["W01"])
    third = mobile.pull(db, info, again.cursor)
    assert [[w["username"] for w in v["workers"]] for v in third.visits] == [["jo.bloggs"]]


def test_the_days_window(db: Database, published: Published, device: Device) -> None:
    info, _ = device
    now = utc_now()
    published.client(501)
    published.visit(1, 501, day_at(0, 0, 1, now=now), ["W01"])  # today, early
    published.visit(2, 501, day_at(-1, 23, now=now), ["W01"])  # yesterday: never sent
    published.visit(3, 501, day_at(3, 12, now=now), ["W01"])
    published.visit(4, 501, day_at(7, 12, now=now), ["W01"])
    published.visit(5, 501, day_at(14, 23, now=now), ["W01"])  # the last day of the longest window

    first = mobile.pull(db, info, None, 3, now=now)
    assert _ids(first.visits) == [1, 3]
    assert first.window.start == day_at(0, 0, now=now)
    assert first.window.end == day_at(4, 0, now=now)
    assert first.window.days == 3

    # Asking for more days sends the visits that came into the window, though they did not change.
    wider = mobile.pull(db, info, first.cursor, 7, now=now)
    assert (_ids(wider.visits), wider.drops) == ([4], [])
    # Capped at 14 days.
    widest = mobile.pull(db, info, wider.cursor, 90, now=now)
    assert (_ids(widest.visits), widest.window.days) == ([5], 14)
    # A visit moved out of the window the device asked for is dropped.
    published.visit(3, 501, day_at(10, 12, now=now), ["W01"])
    narrow = mobile.pull(db, info, widest.cursor, 7, now=now)
    assert (narrow.visits, _drops(narrow)) == ([], {3: "out_of_window"})


def test_the_window_moves_on_with_the_days(db: Database, published: Published, device: Device) -> None:
    info, _ = device
    now = utc_now()
    published.client(501)
    published.visit(1, 501, day_at(2, 12, now=now), ["W01"])
    published.visit(2, 501, day_at(3, 12, now=now), ["W01"])
    today = mobile.pull(db, info, None, 1, now=now)
    assert _ids(today.visits) == []
    tomorrow = mobile.pull(db, info, today.cursor, 1, now=now + timedelta(days=1))
    assert _ids(tomorrow.visits) == [1]
    assert _ids(tomorrow.clients) == [501]
    later = mobile.pull(db, info, tomorrow.cursor, 1, now=now + timedelta(days=2))
    assert _ids(later.visits) == [2]
    assert mobile.pull(db, info, later.cursor, 1, now=now + timedelta(days=2)).visits == []


def test_clients_and_care_plans_that_change(db: Database, published: Published, device: Device) -> None:
    info, _ = device
    published.client(501, "Ada")
    published.client(502, "Mary")
    published.client(503, "Edith")
    published.care_plan(801, 501, "Morning call")
    published.visit(1, 501, day_at(1, 8), ["W01"], plan_visit_id=801)
    published.visit(2, 502, day_at(20, 8), ["W01"])  # beyond the window
    published.visit(3, 503, day_at(1, 8), ["W02"])  # someone else's client
    cursor, _ = drain(db, info, None)

    published.client(501, "Ada", phone="0117 496 0000")
    published.client(502, "Mary", phone="changed")
    published.client(503, "Edith", phone="changed")
    published.care_plan(801, 501, "Morning call: breakfast too")
    published.care_plan(802, 501, "Evening call")
    page = mobile.pull(db, info, cursor)
    assert page.visits == []
    assert [(c["id"], c["phone"]) for c in page.clients] == [(501, "0117 496 0000")]
    assert [(p["plan_visit_id"], p["description"]) for p in page.care_plans] == [
        (801, "Morning call: breakfast too"),
        (802, "Evening call"),
    ]

    published.care_plan(801, 501, "Morning call: breakfast too", state="deactivated")
    published.client(501, "Ada", state="deactivated")
    page = mobile.pull(db, info, page.cursor)
    assert (page.clients, page.care_plans) == ([], [])
    assert list(_drops(page, "care_plan").values()) == ["deactivated"]
    assert _drops(page, "client") == {501: "deactivated"}
    care_plan_drop = next(d for d in page.drops if d["kind"] == "care_plan")
    assert care_plan_drop["plan_visit_id"] == 801


def test_each_successful_sync_is_recorded(db: Database, published: Published, device: Device) -> None:
    info, _ = device
    published.client(501)
    for i in range(1, 4):
        published.visit(i, 501, day_at(1, 6 + i), ["W01"])
    start = utc_now()
    first = mobile.pull(db, info, None, limit=2, now=start)
    assert mobile.list_devices(db, info.environment_id)[0].last_sync_at is None  # not up to date yet
    done_at = start + timedelta(seconds=5)
    second = mobile.pull(db, info, first.cursor, limit=2, now=done_at)
    listed = mobile.list_devices(db, info.environment_id)[0]
    assert listed.last_sync_at == done_at
    assert listed.last_cursor == published.seq
    with db.read() as session:
        rows = session.scalars(select(MobileDeviceSync).order_by(MobileDeviceSync.id)).all()
    assert [(r.cursor_from, r.complete, r.counts["visits"]) for r in rows] == [(None, False, 2), (None, True, 1)]
    assert rows[-1].cursor_to == published.seq
    third = mobile.pull(db, info, second.cursor, now=done_at + timedelta(minutes=1))
    history = mobile.sync_history(db, info.environment_id, info.id)
    assert history[0]["cursor_from"] == Cursor.parse(second.cursor).seq
    assert history[0]["complete"]
    assert len(history) == 3
    assert third.server_time == done_at + timedelta(minutes=1)


def test_bad_sync_requests_are_refused_field_by_field(db: Database, published: Published, device: Device) -> None:
    info, _ = device
    for cursor in ("nonsense", "1.5.*.-.20260230", "1.9.*.3.20260101", "x" * 500):
        with pytest.raises(InvalidInput) as refused:
            mobile.pull(db, info, cursor)
        assert refused.value.errors[0].field == "cursor"
    ahead = Cursor(published.seq + 100, None, None, day_at(15, 0).date()).encode()
    with pytest.raises(InvalidInput, match="ahead"):
        mobile.pull(db, info, ahead)
    with pytest.raises(InvalidInput) as refused:
        mobile.pull(db, info, None, -1, limit=0)
    assert [e.field for e in refused.value.errors] == ["days", "limit"]
    assert mobile.pull(db, info, None, limit=10**9).has_more is False
    with db.read() as session:
        assert len(session.scalars(select(MobileDeviceSync)).all()) == 1  # refused requests record nothing
