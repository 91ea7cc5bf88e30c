"""The workers browser: search, status and mobile filters, paging, and a worker's record."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from carehub import bootstrap
from carehub.platform.audit import AuditEntry
from tests.web.conftest import assert_not_reloaded, mark_page, screenshot
from tests.web.seed import Roster

pytestmark = pytest.mark.browser


def test_workers_are_searched_filtered_and_paged_in_place(signed_in: Page, roster: Roster) -> None:
    page = signed_in
    page.goto("/roster/workers")
    summary = page.get_by_test_id("result-summary")
    expect(summary).to_have_text(f"Showing 1–25 of {roster.workers} workers")
    screenshot(page, "workers-laptop")
    mark_page(page)

    page.get_by_role("link", name="Next page").click()
    expect(summary).to_have_text(f"Showing 26–{roster.workers} of {roster.workers} workers")
    expect(page).to_have_url(re.compile(r"/roster/workers\?page=2$"))

    page.get_by_label("Search").fill("turing")
    expect(summary).to_have_text("Showing 1–1 of 1 worker")
    row = page.get_by_test_id("workers-table").locator("tbody tr")
    expect(row).to_contain_text("Turing, Alan")
    expect(row).to_contain_text("Enabled")
    page.get_by_label("Search").fill("")

    page.get_by_label("Mobile app").select_option("no")
    expect(summary).to_have_text("Showing 1–9 of 9 workers")
    expect(page.get_by_test_id("workers-table")).not_to_contain_text("Enabled")
    page.get_by_label("Status").select_option("left")
    expect(summary).to_have_text("Showing 1–1 of 1 worker")
    expect(page.get_by_test_id("workers-table")).to_contain_text("Cliff, Dave")
    expect(page).to_have_url(re.compile(r"/roster/workers\?status=left&mobile=no$"))
    page.get_by_label("Mobile app").select_option("yes")
    expect(page.get_by_test_id("empty-state")).to_contain_text("No workers match")
    assert_not_reloaded(page)


def test_a_worker_record_shows_allocated_visits_and_history(
    signed_in: Page, roster: Roster, container: bootstrap.Container
) -> None:
    page = signed_in
    page.goto("/roster/workers?q=W02")
    page.get_by_role("link", name="Turing, Alan").click()
    expect(page).to_have_url(re.compile(r"/roster/workers/W02$"))
    expect(page.get_by_role("heading", name="Alan Turing", level=1)).to_be_visible()
    facts = page.get_by_test_id("worker-facts")
    expect(facts).to_contain_text("Bristol")
    expect(facts).to_contain_text("Enabled")
    visits = page.get_by_test_id("upcoming-visits")
    expect(visits).to_contain_text("V-ADA-PM-7")
    expect(visits).to_contain_text("Ada Lovelace")
    expect(visits.locator("[data-badge=partly]").first).to_have_text("1 of 2")
    created = page.get_by_test_id("history").locator("li").filter(has_text="Created")
    expect(created.locator("tr").filter(has_text="Mobile enabled")).to_contain_text("Yes")
    screenshot(page, "worker-detail-laptop")
    visits.get_by_role("link", name="Ada Lovelace").first.click()
    expect(page.get_by_role("heading", name="Ada Lovelace", level=1)).to_be_visible()

    with container.db.read() as session:
        views = session.scalars(select(AuditEntry.external_id).where(AuditEntry.action == "view")).all()
    assert sorted(v or "" for v in views) == ["C001", "W02"]
