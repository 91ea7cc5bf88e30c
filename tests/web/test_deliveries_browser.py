"""The deliveries pages in Chromium: failures with their reasons, Retry and Replay in place, adding a subscription."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from carehub import bootstrap
from carehub.platform.auth.actor import SYSTEM
from carehub.platform.db import Database
from carehub.platform.delivery import service
from carehub.platform.delivery.worker import WorkerConfig, run_once
from tests.conftest import World
from tests.delivery.conftest import emit
from tests.delivery.receiver import Receiver, running_receiver
from tests.web.conftest import assert_not_reloaded, mark_page, screenshot, sign_in

pytestmark = pytest.mark.browser

FAST = WorkerConfig(timeout=2.0, lease=5.0, retry_base=0.05, retry_max=0.2, poll=0.05)


def deliver(db: Database) -> None:
    """A worker pass, in a thread of its own: Playwright's sync API keeps an event loop running in this one."""
    worker = threading.Thread(target=run_once, args=(db, FAST))
    worker.start()
    worker.join(timeout=60)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as r:
        yield r


def test_a_dead_delivery_is_retried_and_a_delivered_one_replayed_from_the_page(
    page: Page, container: bootstrap.Container, world: World, receiver: Receiver
) -> None:
    db = container.db
    service.do_create_subscription(
        db, SYSTEM, tenant_id=world.tenant.id, name="Care app", url=receiver.url + "/hook", max_attempts=1
    )
    receiver.fail_always(503)
    [event] = emit(db, world.env.id, [1])
    emit(db, world.env.id, [2], topic="publishing.client.updated", entity="client")
    receiver.rule = lambda r: 503 if r.event_id == event else None
    deliver(db)
    [dead] = service.list_deliveries(db, world.tenant.id, status="dead").items

    sign_in(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Deliveries").click()
    expect(page.get_by_role("heading", name="Deliveries", level=1)).to_be_visible()
    row = page.locator(f"#row-{dead.id}")
    expect(row.get_by_test_id("delivery-status")).to_have_text("Dead")
    expect(row.get_by_test_id("delivery-error")).to_have_text("HTTP 503: refused by test receiver (503)")
    screenshot(page, "deliveries-laptop")

    page.get_by_label("Status").select_option("dead")
    expect(page).to_have_url(re.compile(r"/deliveries\?status=dead$"))
    expect(page.get_by_test_id("result-summary")).to_contain_text("1 delivery")

    mark_page(page)
    receiver.succeed()
    page.get_by_role("button", name=f"Retry delivery {dead.id}").click()
    expect(page.locator(f"#row-{dead.id}").get_by_test_id("delivery-status")).to_have_text("Pending")
    assert_not_reloaded(page)

    deliver(db)
    page.goto(f"/deliveries/{dead.id}")
    attempts = page.get_by_test_id("attempt-row")
    expect(attempts).to_have_count(2)
    expect(attempts.nth(0)).to_contain_text("HTTP 503: refused by test receiver (503)")
    expect(attempts.nth(1)).to_contain_text("Delivered")
    panel = page.get_by_test_id("delivery-panel")
    expect(panel).to_contain_text("Delivered")
    mark_page(page)
    page.get_by_role("button", name=f"Replay delivery {dead.id}").click()
    expect(page.get_by_test_id("delivery-panel")).to_contain_text("Pending")
    assert_not_reloaded(page)
    screenshot(page, "delivery-detail-laptop")


def test_a_subscription_is_added_and_its_secret_shown_once(page: Page, world: World) -> None:
    sign_in(page)
    page.goto("/deliveries/subscriptions")
    expect(page.get_by_test_id("empty-state")).to_be_visible()
    form = page.get_by_test_id("add-subscription")
    form.get_by_label("Name").fill("Care app")
    form.get_by_label("URL").fill("https://example.org/carehub/webhook")
    form.get_by_role("button", name="Add subscription").click()
    expect(page.get_by_test_id("created")).to_contain_text("Care app is subscribed")
    secret = page.get_by_test_id("secret").inner_text()
    assert secret.startswith("whsec_")
    rows = page.get_by_test_id("subscription-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("publishing.")
    screenshot(page, "subscriptions-laptop")
    rows.first.get_by_role("button", name="Disable").click()
    expect(page.get_by_test_id("notice")).to_have_text("Care app is disabled.")
    page.goto("/deliveries/subscriptions")
    expect(page.get_by_test_id("created")).to_have_count(0)
    assert secret not in page.content()
