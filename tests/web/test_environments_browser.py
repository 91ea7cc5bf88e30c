"""The connection wizard in Chromium: form, dry run (renames, collisions, devices), apply; pause and resume."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from carehub import bootstrap
from tests.conftest import World
from tests.tenancy.support import standalone
from tests.web.conftest import screenshot

pytestmark = pytest.mark.browser


def test_wizard_from_dry_run_to_apply(signed_in: Page, container: bootstrap.Container, world: World) -> None:
    standalone(container)
    page = signed_in
    page.goto("/environments")
    expect(page.get_by_role("heading", name="Environments", level=1)).to_be_visible()
    page.get_by_test_id("connect-link").click()
    page.get_by_label("Environment name").fill("SouthWest")
    page.get_by_label("Prefix (letters and digits)").fill("SouthWest")
    page.get_by_label("Standalone tenant it replaces (optional)").fill("SouthWest Care")
    page.get_by_role("button", name="Dry run").click()
    expect(page.get_by_test_id("plan")).to_contain_text("Dry run: nothing has changed yet")
    expect(page.get_by_test_id("usernames-table")).to_contain_text("SouthWest.wmobile")
    expect(page.get_by_test_id("branches-table")).to_contain_text("SouthWest - Bristol")
    expect(page.get_by_test_id("devices-table")).to_contain_text("Wren's phone")
    expect(page.get_by_test_id("no-collisions")).to_be_visible()
    screenshot(page, "environments-dry-run-laptop")
    page.get_by_role("button", name="Connect SouthWest").click()
    expect(page.get_by_test_id("connected")).to_contain_text("SouthWest is connected")
    page.goto("/environments")
    row = page.get_by_test_id("environments-table").locator("tbody tr", has_text="SouthWest")
    row.get_by_role("button", name="Pause SouthWest").click()
    expect(page.get_by_test_id("notice")).to_contain_text("is paused")
    row = page.get_by_test_id("environments-table").locator("tbody tr", has_text="SouthWest")
    row.get_by_role("button", name="Resume SouthWest").click()
    expect(page.get_by_test_id("notice")).to_contain_text("resumed")


def test_wizard_shows_collisions_on_a_phone(signed_in_phone: Page, container: bootstrap.Container) -> None:
    page = signed_in_phone
    page.goto("/environments/connect")
    page.get_by_label("Environment name").fill("Primary")
    page.get_by_label("Prefix (letters and digits)").fill("P1")
    page.get_by_role("button", name="Dry run").click()
    expect(page.get_by_test_id("collisions-table")).to_contain_text("already has an environment of this name")
    expect(page.get_by_role("button", name="Connect Primary")).to_have_count(0)
    screenshot(page, "environments-collision-phone")
