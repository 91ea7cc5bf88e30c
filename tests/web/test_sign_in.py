"""Signing in and out, and what a signed-out browser may see."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import PASSWORD
from tests.web.conftest import screenshot, sign_in
from tests.web.seed import Roster

pytestmark = pytest.mark.browser


def test_every_page_sends_a_signed_out_browser_to_sign_in_and_back(page: Page, roster: Roster) -> None:
    for path in ("/", "/roster/visits", "/roster/clients?q=ada", "/roster/workers/W01", "/roster/visits/V-FAR"):
        page.goto(path)
        expect(page).to_have_url(re.compile(r"/sign-in\?next="))
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto("/roster/clients?q=lovelace")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/roster/clients\?q=lovelace$"))
    expect(page.get_by_test_id("result-summary")).to_contain_text("1 client")


def test_a_wrong_password_is_refused_with_a_message_and_keeps_the_username(page: Page, roster: Roster) -> None:
    page.goto("/sign-in")
    screenshot(page, "sign-in-laptop")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Unknown username or wrong password.")
    expect(page.get_by_label("Username")).to_have_value("admin")
    expect(page.get_by_label("Password")).to_have_value("")
    expect(page.get_by_test_id("signed-in-user")).to_have_count(0)
    screenshot(page, "sign-in-error-laptop")


def test_an_empty_form_says_what_is_missing(page: Page, roster: Roster) -> None:
    page.goto("/sign-in")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Enter your username and password.")
    page.get_by_label("Username").fill("admin")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Enter your password.")


def test_signing_in_shows_the_user_and_tenant_and_lands_on_visits(page: Page, roster: Roster) -> None:
    sign_in(page)
    expect(page).to_have_url(re.compile(r"/roster/visits$"))
    expect(page.get_by_test_id("signed-in-user")).to_have_text("admin")
    expect(page.get_by_test_id("tenant-name")).to_have_text("Sunrise Care")
    nav = page.get_by_role("navigation", name="Main")
    for name in ("Visits", "Clients", "Workers"):
        expect(nav.get_by_role("link", name=name)).to_be_visible()
    expect(nav.get_by_role("link", name="Visits")).to_have_attribute("aria-current", "page")
    nav.get_by_role("link", name="Clients").click()
    expect(page.get_by_role("heading", name="Clients", level=1)).to_be_visible()
    expect(nav.get_by_role("link", name="Clients")).to_have_attribute("aria-current", "page")


def test_signing_out_ends_the_session(page: Page, roster: Roster) -> None:
    sign_in(page)
    page.get_by_test_id("signed-in-user").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    expect(page.get_by_role("status")).to_have_text("You have signed out.")
    page.goto("/roster/clients")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=%2Froster%2Fclients$"))


def test_an_unknown_record_gets_the_error_page_not_a_traceback(page: Page, roster: Roster) -> None:
    sign_in(page)
    response = page.goto("/roster/clients/NO-SUCH-CLIENT")
    assert response is not None
    assert response.status == 404
    error = page.get_by_test_id("error-page")
    expect(error.get_by_role("heading", name="Not found")).to_be_visible()
    expect(error).to_contain_text("No client with id 'NO-SUCH-CLIENT'.")
    expect(page.get_by_test_id("signed-in-user")).to_be_visible()
    screenshot(page, "error-laptop")
    error.get_by_role("link", name="Clients").click()
    expect(page.get_by_role("heading", name="Clients", level=1)).to_be_visible()


def test_a_live_search_after_the_session_ended_goes_to_sign_in(page: Page, roster: Roster) -> None:
    sign_in(page)
    page.goto("/roster/clients")
    page.context.clear_cookies()
    page.get_by_label("Search").fill("lovelace")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=%2Froster%2Fclients%3Fq%3Dlovelace"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#results")).to_have_count(0)
