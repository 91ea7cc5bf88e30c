"""The devices page in Chromium: last successful sync (red when stale), issuing a link code, unlinking."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from carehub import bootstrap
from carehub.platform.auth import service as auth
from carehub.platform.clock import utc_now
from carehub.publishing.mobile import service as mobile
from carehub.publishing.service import config
from tests.conftest import PASSWORD, World
from tests.web.conftest import assert_not_reloaded, mark_page, screenshot
from tests.web.seed import Roster

pytestmark = pytest.mark.browser


def test_devices_show_their_last_sync_and_codes_are_issued_and_devices_unlinked(
    signed_in: Page, roster: Roster, container: bootstrap.Container, world: World
) -> None:
    db = container.db
    admin = auth.authenticate(db, world.admin_username, PASSWORD)  # the tenant administrator signed in below
    config.do_set_monitored(db, admin, world.env.id, ["K1"], monitored=True)
    # A phone that last synced an hour ago.
    then = utc_now() - timedelta(hours=2)
    old_code = mobile.do_issue_link_code(db, admin, world.env.id, "W02", now=then)
    old, _ = mobile.do_link_device(db, old_code.username, old_code.code, "Old phone", now=then)
    mobile.pull(db, old, None, now=utc_now() - timedelta(minutes=61))

    page = signed_in
    page.goto("/mobile/devices")
    expect(page.get_by_role("heading", name="Devices", level=1)).to_be_visible()
    old_row = page.get_by_test_id("devices-table").locator("tbody tr", has_text="Old phone")
    expect(old_row.get_by_test_id("last-sync")).to_contain_text("Last sync 1 h ago")
    expect(old_row.locator("[data-badge=stale]")).to_have_class(re.compile(r"badge-danger"))
    expect(page.get_by_test_id("stale-summary")).to_contain_text("1 device has not synced in the last 30 minutes")
    mark_page(page)

    # A wrong worker id says why, in place.
    page.get_by_label("Worker").fill("NOPE")
    page.get_by_role("button", name="Issue link code").click()
    expect(page.get_by_test_id("link-code-error")).to_contain_text("No worker with id 'NOPE'")

    # Issue a code for W01 (as the list offers it), and link a phone with it.
    page.get_by_label("Worker").fill("Grace Hopper (W01)")
    page.get_by_role("button", name="Issue link code").click()
    shown = page.get_by_test_id("link-code")
    expect(shown).to_contain_text("It works once")
    code = page.get_by_test_id("link-code-value").inner_text()
    username = re.search(r"username (\S+):", shown.inner_text())
    assert username is not None
    assert re.fullmatch(r"\d{4} \d{4}", code)
    assert_not_reloaded(page)
    phone, _ = mobile.do_link_device(db, username[1], code, "Jo's phone")
    mobile.pull(db, phone, None)

    page.reload()
    new_row = page.get_by_test_id("devices-table").locator("tbody tr", has_text="Jo's phone")
    expect(new_row.get_by_test_id("last-sync")).to_contain_text("Synced just now")
    expect(new_row.locator("[data-badge=synced]")).to_have_class(re.compile(r"badge-ok"))
    screenshot(page, "mobile-devices-laptop")

    # Unlink the old phone: it leaves the list, and so does the warning.
    mark_page(page)
    page.get_by_role("button", name="Unlink Old phone", exact=False).click()
    expect(page.get_by_test_id("devices-notice")).to_contain_text("is unlinked")
    expect(page.get_by_test_id("devices-table").locator("tbody tr", has_text="Old phone")).to_have_count(0)
    expect(page.get_by_test_id("stale-summary")).to_have_count(0)
    assert_not_reloaded(page)
    assert [d.name for d in mobile.list_devices(db, world.env.id)] == ["Jo's phone"]
