"""On a phone (390x844): the navigation collapses, tables become stacked cards, filters fold away."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import assert_not_reloaded, mark_page, screenshot
from tests.web.seed import Roster

pytestmark = pytest.mark.browser


def page_width(page: Page) -> int:
    width: int = page.evaluate("document.documentElement.scrollWidth")
    return width


def test_the_phone_layout_stacks_tables_and_folds_filters(signed_in_phone: Page, roster: Roster) -> None:
    page = signed_in_phone
    nav = page.get_by_role("navigation", name="Main")
    for name in ("Visits", "Clients", "Workers"):
        expect(nav.get_by_role("link", name=name)).to_be_visible()
    expect(page.get_by_test_id("signed-in-user")).to_be_hidden()  # only the avatar shows
    assert page_width(page) <= 390

    table = page.get_by_test_id("visits-table")
    first_visit = table.locator("tbody tr:not(.group-row)").first
    assert first_visit.evaluate("tr => getComputedStyle(tr).display") == "grid"  # a card, not a table row
    expect(table.locator("thead")).not_to_be_in_viewport()

    status = page.get_by_label("Allocation")
    expect(status).to_be_hidden()
    page.locator("label.filters-toggle-btn").click()
    expect(status).to_be_visible()
    mark_page(page)
    status.select_option("unallocated")
    expect(page.get_by_test_id("result-summary")).to_contain_text(f"of {roster.unallocated_in_week} visits")
    assert_not_reloaded(page)
    assert page_width(page) <= 390


def test_a_client_on_a_phone_shows_details_first(signed_in_phone: Page, roster: Roster) -> None:
    page = signed_in_phone
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Clients").click()
    ssref = page.get_by_test_id("clients-table").locator("tbody td").nth(1)
    assert ssref.evaluate("td => getComputedStyle(td, '::before').content") == '"SSRef"'  # labelled values
    assert page_width(page) <= 390
    page.get_by_label("Search").fill("lovelace")
    expect(page.get_by_test_id("result-summary")).to_contain_text("of 1 client")
    page.get_by_role("link", name="Lovelace, Ada").click()
    facts = page.locator(".section-facts").bounding_box()
    plans = page.get_by_test_id("plan-visits").bounding_box()
    assert facts is not None
    assert plans is not None
    assert facts["y"] < plans["y"]
    assert facts["width"] > 350  # the whole width, not a side column
    assert page_width(page) <= 390
    screenshot(page, "client-detail-phone", full_page=False)


def test_the_phone_navigation_shows_whole_labels_and_the_current_section(signed_in_phone: Page, roster: Roster) -> None:
    page = signed_in_phone  # an administrator: nine sections, more than a phone's width
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Forms").click()
    nav = page.get_by_role("navigation", name="Main")
    clipped = nav.evaluate(
        "n => [...n.querySelectorAll('a span')].filter(s => s.scrollWidth > s.clientWidth + 1).length"
    )
    assert clipped == 0  # no label cut short with an ellipsis
    assert nav.evaluate("n => n.scrollWidth > n.clientWidth")  # the bar scrolls sideways ...
    assert page_width(page) <= 390  # ... and the page does not
    current = page.locator(".mainnav a[aria-current='page']")
    box, bar = current.bounding_box(), nav.bounding_box()
    assert box is not None
    assert bar is not None
    assert bar["x"] <= box["x"]
    assert box["x"] + box["width"] <= bar["x"] + bar["width"] + 1  # the current section is in view
    screenshot(page, "navigation-phone", full_page=False)


def test_signing_out_on_a_phone(signed_in_phone: Page, roster: Roster) -> None:
    page = signed_in_phone
    page.locator("details.account summary").click()
    menu = page.locator(".account-menu")
    expect(menu).to_contain_text("admin")
    expect(menu).to_contain_text("Sunrise Care")
    screenshot(page, "account-menu-phone", full_page=False)
    menu.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
