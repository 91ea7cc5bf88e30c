"""The publishing screens in Chromium: schedules, monitored contracts, explain and health, laptop and phone."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from carehub import bootstrap
from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import SYSTEM
from carehub.publishing.service import config
from carehub.roster.service import changes
from tests.conftest import World
from tests.web.conftest import (
    LAPTOP,
    PHONE,
    PageProblems,
    _new_context,
    assert_not_reloaded,
    mark_page,
    screenshot,
    sign_in,
)
from tests.web.seed import Roster

pytestmark = pytest.mark.browser


def monitor(container: bootstrap.Container, world: World, *contracts: str) -> None:
    config.do_set_monitored(container.db, SYSTEM, world.env.id, list(contracts), monitored=True)


def fits(page: Page, width: int) -> None:
    """The page's own content (inside ``main``) never needs sideways scrolling.

    The shared top navigation is the web shell's: with five sections it needs
    the shell's phone layout, which tests/web/test_screenshots.py checks.
    """
    assert page.evaluate("document.getElementById('main').scrollWidth") <= width, f"{page.url} scrolls sideways"
    assert page.evaluate("document.getElementById('main').getBoundingClientRect().right") <= width


def test_contracts_are_ticked_with_a_preview_first(signed_in: Page, roster: Roster) -> None:
    page = signed_in
    page.get_by_role("link", name="Publishing").click()
    page.get_by_role("link", name="Contracts", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Monitored contracts")
    k1 = page.get_by_label("Bristol City Council framework")
    expect(k1).not_to_be_checked()
    k1.check()

    mark_page(page)
    page.get_by_role("button", name="Preview").click()
    outcome = page.get_by_test_id("outcome")
    expect(outcome).to_contain_text("Ticking K1")
    expect(outcome).to_contain_text("Preview only: nothing has changed yet.")
    expect(outcome.get_by_test_id("outcome-counts")).to_contain_text("Visits")
    assert_not_reloaded(page)
    screenshot(page, "publishing-flow-contracts-preview")

    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("notice")).to_contain_text("Ticked K1:")
    expect(page.get_by_test_id("notice")).to_contain_text("published")
    expect(page.get_by_label("Bristol City Council framework")).to_be_checked()
    expect(page.get_by_label("Private clients")).not_to_be_checked()
    expect(page.get_by_test_id("contracts-table")).to_contain_text("admin")
    screenshot(page, "publishing-flow-contracts-saved")

    page.get_by_label("Bristol City Council framework").uncheck()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("notice")).to_contain_text("Unticked K1:")
    expect(page.get_by_test_id("notice")).to_contain_text("deactivated")


def test_a_schedule_is_previewed_then_published(
    signed_in: Page, roster: Roster, container: bootstrap.Container, world: World
) -> None:
    monitor(container, world, "K1")
    actor = auth.actor_for_token(container.db, world.token)
    changes.do_allocate_worker(container.db, actor, world.env.id, roster.far_visit, "W04")  # 10 days ahead
    page = signed_in
    page.goto("/publishing/schedules")
    expect(page.get_by_role("heading", level=1)).to_have_text("Publish schedules")
    until = roster.today + timedelta(days=12)
    page.get_by_label("Publish date").fill(until.isoformat())
    page.get_by_label("Bristol North run").check()

    mark_page(page)
    page.get_by_role("button", name="Preview").click()
    outcome = page.get_by_test_id("outcome")
    expect(outcome).to_contain_text("Publishing G1 until")
    expect(outcome.locator('[data-change="published"]').first).to_have_text("1")
    assert_not_reloaded(page)
    outcome.get_by_text("All changes").click()
    expect(outcome).to_contain_text(roster.far_visit)
    screenshot(page, "publishing-flow-schedules-preview")

    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.get_by_test_id("notice")).to_contain_text("Published G1 until")
    expect(page.get_by_test_id("notice")).to_contain_text("visits: 1 published")
    row = page.get_by_test_id("groups-table").locator("tr", has_text="Bristol North run")
    expect(row.get_by_test_id("last-day")).to_contain_text(f"{until.day} {until:%b %Y}")
    expect(row).to_contain_text("by admin")
    screenshot(page, "publishing-flow-schedules-published")

    # The browser itself refuses a date beyond 14 days (the server does too: see the HTTP tests).
    expect(page.get_by_label("Publish date")).to_have_attribute("max", (roster.today + timedelta(days=14)).isoformat())


def test_explain_finds_the_failing_rule_and_its_fix(
    signed_in: Page, roster: Roster, container: bootstrap.Container, world: World
) -> None:
    monitor(container, world, "K1")
    page = signed_in
    page.goto(f"/roster/visits/{roster.confirmed_visit}")
    page.get_by_test_id("explain-link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Explain")
    expect(page.get_by_test_id("verdict")).to_have_text(f"Visit {roster.confirmed_visit} does not publish")
    failed = page.locator('[data-rule="visit.not_confirmed_before_publish"]')
    expect(failed).to_contain_text("Failed")
    expect(failed.get_by_test_id("detail")).to_contain_text("before it was ever published")
    expect(failed.get_by_test_id("fix")).to_contain_text("cancel it and create a new visit")
    expect(page.locator('[data-rule="visit.monitored_contract"]')).to_contain_text("Passed")

    page.get_by_label("Record", exact=True).select_option("Worker")
    page.get_by_label("ID", exact=True).fill("W03")  # Tim Berners-Lee: not mobile-enabled
    page.get_by_role("button", name="Explain").click()
    expect(page).to_have_url(re.compile(r"/publishing/explain\?kind=worker&id=W03$"))
    expect(page.get_by_test_id("verdict")).to_have_text("Worker W03 does not publish")
    rule = page.locator('[data-rule="worker.mobile_enabled"]')
    expect(rule.get_by_test_id("detail")).to_have_text("Not enabled as a mobile care worker.")
    expect(rule.get_by_test_id("fix")).to_contain_text("Enable 'Mobile care worker'")
    screenshot(page, "publishing-flow-explain-worker")

    page.get_by_label("ID", exact=True).fill("NOBODY")
    page.get_by_role("button", name="Explain").click()
    expect(page.get_by_test_id("problems")).to_have_text("No worker with id 'NOBODY'.")


def test_health_shows_status_reasons_and_the_chart(
    signed_in: Page, roster: Roster, container: bootstrap.Container, world: World
) -> None:
    page = signed_in
    page.goto("/publishing/health")
    expect(page.get_by_test_id("health")).to_have_attribute("data-health", "warning")
    expect(page.locator('[data-reason="nothing_monitored"]')).to_contain_text("No contract is monitored")

    monitor(container, world, "K1")
    actor = auth.actor_for_token(container.db, world.token)
    changes.do_deallocate_worker(container.db, actor, world.env.id, "V-C003-3", "W04")  # cancels it in care planning
    page.reload()
    expect(page.get_by_test_id("health")).to_have_attribute("data-health", "ok")
    expect(page.get_by_test_id("health")).to_contain_text("OK")
    expect(page.get_by_test_id("last-export")).to_have_text(re.compile(r"Just now|\d+ min ago"))
    expect(page.get_by_test_id("dead")).to_contain_text("0 dead-lettered")
    chart = page.get_by_test_id("chart")
    expect(chart).to_be_visible()
    assert chart.locator("rect.bar-pub").count() >= 5
    expect(chart.locator("rect.bar-can")).to_have_count(1)
    expect(chart.locator("g.is-today")).to_have_count(1)
    stats = page.get_by_test_id("statistics")
    expect(stats.locator("tr", has_text="Visits").locator('[data-state="cancelled"]')).to_have_text("1")
    screenshot(page, "publishing-flow-health-chart")

    mark_page(page)
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_test_id("outcome")).to_contain_text("Nothing would change")
    assert_not_reloaded(page)
    page.get_by_role("button", name="Reconcile now").click()
    expect(page.get_by_test_id("notice")).to_contain_text("Reconcile: nothing needed to change.")


PAGES = [
    ("publishing-schedules", "/publishing/schedules", "Publish schedules"),
    ("publishing-contracts", "/publishing/contracts", "Monitored contracts"),
    ("publishing-explain", "/publishing/explain?kind=visit&id=V-ADA-AM-1", "Explain"),
    ("publishing-health", "/publishing/health", "Publishing health"),
]


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_every_publishing_page_fits_and_is_photographed(
    browser: Browser,
    live_server: str,
    roster: Roster,
    container: bootstrap.Container,
    world: World,
    page_problems: PageProblems,
    size: str,
) -> None:
    monitor(container, world, "K1")
    phone = size == "phone"
    viewport = PHONE if phone else LAPTOP
    context = _new_context(browser, live_server, viewport, phone=phone)
    try:
        page = page_problems.watch(context.new_page())
        sign_in(page)
        for name, path, heading in PAGES:
            page.goto(path)
            expect(page.get_by_role("heading", level=1)).to_have_text(heading)
            screenshot(page, f"{name}-{size}")
            fits(page, viewport["width"])
    finally:
        context.close()
