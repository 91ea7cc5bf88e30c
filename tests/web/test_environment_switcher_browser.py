"""The environment switcher in Chromium: an administrator moves the pages to an added environment and back."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from carehub import bootstrap
from carehub.app import create_app
from carehub.platform.auth.actor import SYSTEM
from carehub.tenancy import connect
from tests.access.support import branch_records
from tests.conftest import World
from tests.web.conftest import PHONE, screenshot, sign_in
from tests.web.seed import Roster

pytestmark = pytest.mark.browser


def _southwest(container: bootstrap.Container, world: World) -> int:
    """An added environment "SouthWest" whose Bristol branch has the client Bea Southwest."""
    plan = connect.do_connect_environment(
        container.db, SYSTEM, tenant_id=world.tenant.id, name="SouthWest", prefix="SW", dry_run=False, create_token=True
    )
    assert plan.environment is not None
    assert plan.token is not None
    with TestClient(create_app(container), headers={"Authorization": f"Bearer {plan.token}"}) as sw:
        branch_records("own", "Bristol", "Bea", "Southwest", api=sw, shared_contract=True)
    return plan.environment.id


def test_an_administrator_switches_environment_with_the_switcher(
    page: Page, roster: Roster, container: bootstrap.Container, world: World
) -> None:
    env = _southwest(container, world)
    sign_in(page)
    page.goto("/roster/clients")
    main = page.locator("#main")
    switcher = page.get_by_test_id("environment-switcher")
    expect(switcher.get_by_role("combobox", name="Environment")).to_have_value(str(world.env.id))
    expect(main).to_contain_text("Lovelace")
    switcher.get_by_role("combobox", name="Environment").select_option(label="SouthWest")
    switcher.get_by_role("button", name="Switch environment").click()
    expect(page).to_have_url(re.compile(rf"/roster/clients\?environment={env}$"))
    expect(main).to_contain_text("Southwest")
    expect(main).not_to_contain_text("Lovelace")
    # The choice is remembered: the next section opens in SouthWest too, its switcher showing it.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Visits").click()
    expect(page).to_have_url(re.compile(r"/roster/visits$"))
    expect(switcher.get_by_role("combobox", name="Environment")).to_have_value(str(env))
    expect(main).to_contain_text("Southwest")
    nav = page.get_by_role("navigation", name="Main")
    assert nav.evaluate("n => n.scrollWidth <= n.clientWidth"), "an administrator's sections no longer fit a laptop"
    screenshot(page, "environment-switcher-laptop", full_page=False)
    # From a case file, switching back lands on the clients list of the primary.
    page.goto("/roster/clients/C-OWN")
    expect(main).to_contain_text("Southwest")
    switcher.get_by_role("combobox", name="Environment").select_option(label="Primary")
    switcher.get_by_role("button", name="Switch environment").click()
    expect(page).to_have_url(re.compile(rf"/roster/clients\?environment={world.env.id}$"))
    expect(main).to_contain_text("Lovelace")
    expect(main).not_to_contain_text("Southwest")


def test_the_switcher_fits_a_phone_s_top_row(
    phone_page: Page, roster: Roster, container: bootstrap.Container, world: World
) -> None:
    env = _southwest(container, world)
    page = phone_page
    sign_in(page)
    page.goto("/roster/clients")
    switcher = page.get_by_test_id("environment-switcher")
    expect(switcher).to_be_visible()
    box, nav = switcher.bounding_box(), page.get_by_role("navigation", name="Main").bounding_box()
    assert box is not None
    assert nav is not None
    assert box["y"] + box["height"] <= nav["y"], "the switcher should sit above the sections' bar"
    assert box["x"] + box["width"] <= PHONE["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "the page scrolls sideways"
    switcher.get_by_role("combobox", name="Environment").select_option(label="SouthWest")
    switcher.get_by_role("button", name="Switch environment").click()
    expect(page).to_have_url(re.compile(rf"environment={env}$"))
    expect(page.locator("#main")).to_contain_text("Southwest")
    screenshot(page, "environment-switcher-phone", full_page=False)
