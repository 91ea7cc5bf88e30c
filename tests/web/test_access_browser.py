"""Users and roles in Chromium.

An administrator creates a branch manager and grants them Bristol; the branch manager's roster browser
then holds Bristol only, and a Bath case file is not found.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import PASSWORD, World
from tests.web.conftest import screenshot, sign_in
from tests.web.seed import Roster

pytestmark = pytest.mark.browser


def _sign_out(page: Page) -> None:
    page.locator("details.account > summary").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/sign-in"))


def test_the_users_page_creates_a_user_grants_and_revokes_a_branch(page: Page, roster: Roster, world: World) -> None:
    sign_in(page)
    page.get_by_role("link", name="Users").first.click()
    expect(page).to_have_url(re.compile(r"/users$"))
    expect(page.get_by_test_id("users-table")).to_contain_text("Every branch")
    form = page.get_by_test_id("create-user")
    form.get_by_label("Username").fill("bea")
    form.get_by_label("Display name").fill("Bea Manager")
    form.get_by_label("Password (at least 10 characters)").fill(PASSWORD)
    form.get_by_label("Role").select_option("branch_manager")
    form.get_by_role("button", name="Create user").click()
    expect(page).to_have_url(re.compile(r"/users/bea$"))
    expect(page.get_by_test_id("notice")).to_contain_text("User bea created")
    grant = page.get_by_test_id("grant-form")
    grant.get_by_label("Grant a branch").select_option(value=f"{world.env.id}:B2")
    grant.get_by_role("button", name="Grant").click()
    expect(page.get_by_test_id("granted-branches")).to_contain_text("Bath")
    page.get_by_role("button", name="Revoke Bath").click()
    expect(page.get_by_test_id("notice")).to_contain_text("no longer sees branch B2")
    screenshot(page, "access-user-laptop")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/users")
    expect(page.locator('tr[data-user="bea"] [data-testid="user-branches"]')).to_contain_text("No branch")
    screenshot(page, "access-users-phone")
    _sign_out(page)

    sign_in(page, "bea")
    expect(page.get_by_role("link", name="Users")).to_have_count(0)
    page.goto("/roster/clients")
    expect(page.get_by_test_id("empty-state")).to_be_visible()  # no branch yet: nothing at all
    _sign_out(page)


def test_a_branch_manager_sees_only_their_branch_in_the_roster_browser(
    page: Page, roster: Roster, world: World
) -> None:
    sign_in(page)
    page.goto("/users")
    form = page.get_by_test_id("create-user")
    form.get_by_label("Username").fill("bea")
    form.get_by_label("Password (at least 10 characters)").fill(PASSWORD)
    form.get_by_label("Role").select_option("branch_manager")
    form.get_by_role("button", name="Create user").click()
    page.get_by_test_id("grant-form").get_by_label("Grant a branch").select_option(value=f"{world.env.id}:B1")
    page.get_by_test_id("grant-form").get_by_role("button", name="Grant").click()
    expect(page.get_by_test_id("granted-branches")).to_contain_text("Bristol")
    expect(page.get_by_test_id("granted-branches")).not_to_contain_text("Bath")
    _sign_out(page)

    sign_in(page, "bea")
    page.goto("/roster/clients")
    table = page.get_by_test_id("clients-table")
    expect(table).to_contain_text("Lovelace, Ada")
    expect(table).not_to_contain_text("Bath")
    expect(table).not_to_contain_text("Cavell")  # C004, a Bath client
    page.get_by_label("Search").fill("Cavell")
    expect(page.get_by_test_id("empty-state")).to_be_visible()
    screenshot(page, "access-manager-clients-laptop")
    response = page.goto("/roster/clients/C004")
    assert response is not None
    assert response.status == 404
    page.goto("/roster/workers")
    expect(page.get_by_test_id("workers-table")).not_to_contain_text("Bath")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/roster/visits")
    expect(page.locator("body")).not_to_contain_text("Cavell")
    screenshot(page, "access-manager-visits-phone")
