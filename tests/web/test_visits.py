"""The visits browser: a week in the tenant's zone by default, every filter, paging, and a visit's case file."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from carehub import bootstrap
from carehub.platform.audit import AuditEntry
from tests.web.conftest import assert_not_reloaded, mark_page, screenshot
from tests.web.seed import Roster

pytestmark = pytest.mark.browser


def summary_count(page: Page, count: int) -> None:
    noun = "visit" if count == 1 else "visits"
    expect(page.get_by_test_id("result-summary")).to_have_text(
        re.compile(rf"^Showing 1–{min(count, 25)} of {count} {noun} · ")
    )


def test_visits_default_to_today_and_the_next_seven_days_in_london(signed_in: Page, roster: Roster) -> None:
    page = signed_in
    page.goto("/roster/visits")
    expect(page.get_by_label("From")).to_have_value(roster.today.isoformat())
    expect(page.get_by_label("To")).to_have_value((roster.today + timedelta(days=7)).isoformat())
    summary_count(page, roster.visits_in_week)
    table = page.get_by_test_id("visits-table")
    expect(table.locator("tr.group-row").first).to_contain_text("Today")
    first = table.locator("tbody tr:not(.group-row)").first
    expect(first).to_contain_text("08:00–08:45")  # stored in UTC, shown in London time
    expect(first).to_contain_text("Ada Lovelace")
    expect(table).not_to_contain_text(roster.far_visit)
    screenshot(page, "visits-laptop")

    mark_page(page)
    page.get_by_role("link", name="Next page").click()
    expect(page.get_by_test_id("result-summary")).to_contain_text(f"Showing 26–{roster.visits_in_week} of")
    assert_not_reloaded(page)


def test_the_date_range_finds_visits_further_ahead(signed_in: Page, roster: Roster) -> None:
    page = signed_in
    page.goto("/roster/visits")
    mark_page(page)
    far = roster.today + timedelta(days=10)
    page.get_by_label("From").fill(far.isoformat())
    page.get_by_label("To").fill(far.isoformat())
    summary_count(page, 1)
    expect(page.get_by_test_id("visits-table")).to_contain_text(roster.far_visit)
    expect(page.get_by_test_id("visits-table")).to_contain_text("Adhoc")
    expect(page).to_have_url(re.compile(rf"from={far.isoformat()}&to={far.isoformat()}"))
    assert_not_reloaded(page)


def test_filters_by_status_allocation_confirmation_and_client(signed_in: Page, roster: Roster) -> None:
    page = signed_in
    page.goto("/roster/visits")
    mark_page(page)
    table = page.get_by_test_id("visits-table")

    page.get_by_label("Status").select_option("cancelled")
    summary_count(page, 1)
    expect(table).to_contain_text(roster.cancelled_visit)
    page.get_by_label("Status").select_option("")

    page.get_by_label("Allocation").select_option("unallocated")
    summary_count(page, roster.unallocated_in_week)
    expect(table.locator("[data-badge=unallocated]")).to_have_count(roster.unallocated_in_week)

    page.get_by_label("Allocation").select_option("partly")
    summary_count(page, roster.partly_in_week)
    expect(table.locator("[data-badge=partly]")).to_have_count(roster.partly_in_week)
    expect(table.locator("[data-badge=partly]").first).to_have_text("1 of 2")

    page.get_by_label("Allocation").select_option("allocated")
    expected = roster.visits_in_week - roster.unallocated_in_week - roster.partly_in_week
    summary_count(page, expected)
    page.get_by_label("Allocation").select_option("")

    page.get_by_label("Confirmed").select_option("yes")
    summary_count(page, 1)
    expect(table).to_contain_text(roster.confirmed_visit)
    expect(table.locator("[data-badge=confirmed]")).to_have_count(1)
    page.get_by_label("Confirmed").select_option("")

    page.get_by_label("Client").fill("seacole")
    summary_count(page, 8)
    expect(table).not_to_contain_text("Ada Lovelace")
    expect(page).to_have_url(re.compile(r"client=seacole"))
    assert_not_reloaded(page)


def test_bad_dates_in_the_address_get_messages_and_the_default_week(signed_in: Page, roster: Roster) -> None:
    page = signed_in
    response = page.goto("/roster/visits?from=2026-02-30&to=soon&allocation=most")
    assert response is not None
    assert response.status == 200
    problems = page.get_by_test_id("problems")
    expect(problems).to_contain_text("From “2026-02-30” is not a date like")
    expect(problems).to_contain_text("To “soon” is not a date like")
    expect(problems).to_contain_text("Allocation “most” is not one of: unallocated, partly, allocated.")
    summary_count(page, roster.visits_in_week)
    end, start = roster.today, roster.today + timedelta(days=3)
    page.goto(f"/roster/visits?from={start.isoformat()}&to={end.isoformat()}")
    expect(page.get_by_test_id("problems")).to_contain_text("is before “From”")
    page.goto(f"/roster/visits?from={start.isoformat()}&to={(start + timedelta(days=400)).isoformat()}")
    expect(page.get_by_test_id("problems")).to_contain_text("Choose at most 92 days")


def test_a_double_up_visit_shows_carers_needed_against_allocated(
    signed_in: Page, roster: Roster, container: bootstrap.Container
) -> None:
    page = signed_in
    page.goto(f"/roster/visits/{roster.double_up_visit}")
    expect(page.get_by_role("heading", level=1)).to_have_text("17:30–18:00 · Ada Lovelace")
    expect(page.get_by_test_id("carers-text")).to_contain_text("2 carers needed, 2 allocated (double-up)")
    workers = page.get_by_test_id("allocated-workers")
    expect(workers.get_by_role("link")).to_have_text(["Grace Hopper", "Alan Turing"])
    facts = page.get_by_test_id("visit-facts")
    for text in ("Ada Lovelace", "Bristol City Council framework", "Planned", "17:30–18:00", "Tea call with hoist"):
        expect(facts).to_contain_text(text)
    expect(facts).to_contain_text("Not confirmed")
    screenshot(page, "visit-detail-laptop")

    page.goto("/roster/visits/V-ADA-PM-0")
    expect(page.get_by_test_id("carers-text")).to_contain_text("needs 2 carers; 1 more to allocate")
    expect(page.get_by_test_id("allocated-workers")).to_contain_text("Second carer not allocated yet")

    with container.db.read() as session:
        views = session.scalars(
            select(AuditEntry.external_id).where(AuditEntry.entity == "visit", AuditEntry.action == "view")
        ).all()
    assert sorted(v or "" for v in views) == ["V-ADA-PM-0", roster.double_up_visit]


def test_confirmed_and_cancelled_visits_say_so_with_their_history(signed_in: Page, roster: Roster) -> None:
    page = signed_in
    page.goto(f"/roster/visits/{roster.cancelled_visit}")
    expect(page.locator(".record-head [data-badge=cancelled]")).to_be_visible()
    expect(page.get_by_role("note")).to_contain_text("Client in hospital")
    history = page.get_by_test_id("history")
    cancelled = history.locator("li").filter(has_text="Cancelled")
    expect(cancelled.locator("tr").filter(has_text="Status")).to_contain_text(re.compile(r"scheduled\s+cancelled"))
    expect(cancelled.locator("tr").filter(has_text="Cancel reason")).to_contain_text("Client in hospital")

    page.goto("/roster/visits?confirmed=yes")
    page.get_by_test_id("visits-table").get_by_role("link", name=re.compile(r"11:00–11:30")).click()
    expect(page).to_have_url(re.compile(rf"/roster/visits/{roster.confirmed_visit}$"))
    expect(page.locator(".record-head [data-badge=confirmed]")).to_be_visible()
    expect(page.get_by_test_id("history").locator("li").filter(has_text="Confirmed")).to_have_count(1)
