"""The clients browser: live search, filters and paging (htmx), and a client's case file."""

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


def rows(page: Page) -> list[str]:
    return page.get_by_test_id("clients-table").locator("tbody tr").all_inner_texts()


def test_clients_are_listed_by_last_name_and_paged_in_place(signed_in: Page, roster: Roster) -> None:
    page = signed_in
    page.goto("/roster/clients")
    summary = page.get_by_test_id("result-summary")
    expect(summary).to_have_text(re.compile(rf"Showing 1–25 of {roster.clients} clients"))
    names = page.get_by_test_id("clients-table").locator("a.rowlink")
    expect(names.first).to_have_text("Astor, Nancy")
    expect(names.nth(1)).to_have_text("Ayrton, Hertha")
    screenshot(page, "clients-laptop")
    mark_page(page)
    page.get_by_role("link", name="Next page").click()
    expect(summary).to_have_text(re.compile(rf"Showing 26–{roster.clients} of {roster.clients} clients"))
    expect(page.get_by_test_id("pager-position")).to_have_text("Page 2 of 2")
    expect(page).to_have_url(re.compile(r"/roster/clients\?page=2$"))
    assert_not_reloaded(page)
    page.get_by_role("link", name="Previous page").click()
    expect(page.get_by_test_id("pager-position")).to_have_text("Page 1 of 2")
    assert_not_reloaded(page)


def test_search_finds_clients_by_name_id_ssref_and_postcode_as_you_type(signed_in: Page, roster: Roster) -> None:
    page = signed_in
    page.goto("/roster/clients")
    mark_page(page)
    search = page.get_by_label("Search")
    summary = page.get_by_test_id("result-summary")
    for text, expected in (("lovelace", "Lovelace, Ada"), ("C002", "Seacole, Mary"), ("SS-10403", "Nightingale")):
        search.fill(text)
        expect(summary).to_have_text(re.compile(r"Showing 1–1 of 1 client$"))
        expect(page.get_by_test_id("clients-table")).to_contain_text(expected)
    search.fill("bs8 1th")  # Ada's new postcode, typed in lower case
    expect(summary).to_have_text(re.compile(r"of 1 client$"))
    expect(page).to_have_url(re.compile(r"q=bs8\+1th"))
    search.fill("nobody by this name")
    expect(page.get_by_test_id("empty-state")).to_contain_text("No clients match")
    assert_not_reloaded(page)
    screenshot(page, "clients-empty-laptop")
    page.get_by_test_id("empty-state").get_by_role("link", name="Clear filters").click()
    expect(summary).to_have_text(re.compile(rf"of {roster.clients} clients"))


def test_filters_by_status_and_branch(signed_in: Page, roster: Roster) -> None:
    page = signed_in
    page.goto("/roster/clients")
    mark_page(page)
    summary = page.get_by_test_id("result-summary")
    page.get_by_label("Status").select_option("inactive")
    expect(summary).to_have_text(re.compile(r"of 3 clients$"))
    for line in rows(page):
        assert "Inactive" in line
    page.get_by_label("Status").select_option("")
    page.get_by_label("Branch").select_option(label="Bath")
    expect(summary).to_have_text(re.compile(r"of 8 clients$"))
    for line in rows(page):
        assert "Bath" in line
    expect(page).to_have_url(re.compile(r"branch=B2"))
    assert_not_reloaded(page)


def test_a_bad_filter_in_the_address_gets_a_message_not_an_error(signed_in: Page, roster: Roster) -> None:
    page = signed_in
    response = page.goto("/roster/clients?status=archived&page=abc&branch=ZZ")
    assert response is not None
    assert response.status == 200
    problems = page.get_by_test_id("problems")
    expect(problems).to_contain_text("Status “archived” is not one of: active, inactive. Showing all.")
    expect(problems).to_contain_text("Branch “ZZ” is not one of: B2, B1. Showing all.")
    expect(problems).to_contain_text("Page “abc” is not a page number; showing the first page.")
    page.goto("/roster/clients?page=7")
    expect(page.get_by_test_id("problems")).to_contain_text("There is no page 7; showing page 2 of 2.")


def test_a_client_case_file_shows_details_plans_visits_and_history(
    signed_in: Page, roster: Roster, container: bootstrap.Container
) -> None:
    page = signed_in
    page.goto("/roster/clients?q=lovelace")
    page.get_by_role("link", name="Lovelace, Ada").click()
    expect(page).to_have_url(re.compile(r"/roster/clients/C001$"))
    expect(page.get_by_role("heading", name="Ada Lovelace", level=1)).to_be_visible()
    facts = page.get_by_test_id("client-facts")
    for text in ("Bristol", "Bristol North run", "Active", "BS8 1TH", "SS-10401", "C001"):
        expect(facts).to_contain_text(text)
    plans = page.get_by_test_id("plan-visits")
    expect(plans).to_contain_text("Morning call: personal care and breakfast")
    expect(plans).to_contain_text("Tea call with hoist transfer")
    expect(plans.locator("tr").filter(has_text="Tea call")).to_contain_text(re.compile(r"2\s*Double-up"))
    expect(plans).to_contain_text("Every day")
    upcoming = page.get_by_test_id("upcoming-visits")
    expect(upcoming).to_contain_text("V-ADA-AM-1")  # tomorrow's morning call
    expect(upcoming.locator("tbody tr")).to_have_count(10)
    expect(page.get_by_text(re.compile(r"Showing the next 10 of \d+\."))).to_be_visible()
    history = page.get_by_test_id("history")
    update = history.locator("li").filter(has_text="Updated").first
    expect(update).to_contain_text("Rostering system")
    expect(update.locator("tr").filter(has_text="Postcode")).to_contain_text(re.compile(r"BS2 2DJ\s+BS8 1TH"))
    expect(history.locator("li").filter(has_text="Created")).to_have_count(1)
    expect(page.get_by_test_id("access-log")).to_contain_text("admin")
    screenshot(page, "client-detail-laptop")

    with container.db.read() as session:
        views = session.scalars(
            select(AuditEntry).where(AuditEntry.entity == "client", AuditEntry.action == "view")
        ).all()
    assert [(v.external_id, v.actor_kind, v.actor_label, v.changes) for v in views] == [("C001", "user", "admin", {})]
    assert views[0].environment_id == roster_environment(container)


def roster_environment(container: bootstrap.Container) -> int:
    from carehub.tenancy import service as tenancy  # noqa: PLC0415 - only this helper needs it

    tenant = tenancy.find_tenant(container.db, "Sunrise Care")
    assert tenant is not None
    return tenancy.primary_environment(container.db, tenant.id).id


def test_screen_readers_hear_how_many_clients_a_search_found(signed_in: Page, roster: Roster) -> None:
    page = signed_in
    page.goto("/roster/clients")
    live = page.locator("#results-announce")
    expect(live).to_have_attribute("aria-live", "polite")
    expect(live).to_have_text("")
    page.get_by_label("Search").fill("pankhurst")
    expect(live).to_have_text("2 clients found, showing 1 to 2.")
    page.get_by_label("Search").fill("zzz")
    expect(live).to_have_text("No clients match.")
