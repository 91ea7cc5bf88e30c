"""Every page at laptop and phone size: no sideways scrolling, no console errors, a screenshot each.

The screenshots land in test-artifacts/screenshots/ (git-ignored) for people to look at. Each page
is shown with something in it: a seeded roster, a monitored contract, a linked phone, a form with
two versions, a service, a branch manager, a standalone tenant to connect, and webhook deliveries
(one delivered, one dead).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from carehub import bootstrap
from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import SYSTEM, Role
from carehub.platform.db import Database
from carehub.platform.delivery import service as delivery
from carehub.platform.delivery.worker import WorkerConfig, run_once
from carehub.publishing.mobile import service as mobile
from carehub.publishing.service import config
from carehub.tenancy.access import service as access
from carehub.tenancy.forms import service as forms
from tests.conftest import PASSWORD, World
from tests.delivery.conftest import emit
from tests.delivery.receiver import Receiver, running_receiver
from tests.tenancy.support import standalone
from tests.web.conftest import LAPTOP, PHONE, PageProblems, _new_context, screenshot, sign_in
from tests.web.seed import Roster

pytestmark = pytest.mark.browser

FAST = WorkerConfig(timeout=2.0, lease=5.0, retry_base=0.05, retry_max=0.2, poll=0.05)

PAGES: list[tuple[str, str, str | re.Pattern[str]]] = [
    ("home", "/", "Visits"),
    ("visits", "/roster/visits", "Visits"),
    ("visits-filtered", "/roster/visits?allocation=partly", "Visits"),
    ("clients", "/roster/clients", "Clients"),
    ("workers", "/roster/workers", "Workers"),
    ("client-detail", "/roster/clients/C001", "Ada Lovelace"),
    ("worker-detail", "/roster/workers/W02", "Alan Turing"),
    ("visit-detail", "/roster/visits/V-ADA-PM-0", "17:30–18:00 · Ada Lovelace"),
    ("visit-cancelled", "/roster/visits/V-C003-2", "13:00–13:30 · Florence Nightingale"),
    ("error", "/roster/workers/NOBODY", "Not found"),
    ("publishing", "/publishing", "Publish schedules"),
    ("publishing-contracts", "/publishing/contracts", "Monitored contracts"),
    ("publishing-explain-empty", "/publishing/explain", "Explain"),
    ("publishing-explain-visit", "/publishing/explain?kind=visit&id=V-ADA-AM-1", "Explain"),
    ("publishing-explain-worker", "/publishing/explain?kind=worker&id=W02", "Explain"),
    ("publishing-health", "/publishing/health", "Publishing health"),
    ("mobile-devices", "/mobile/devices", "Devices"),
    ("environments", "/environments", "Environments"),
    ("environments-connect", "/environments/connect", "Connect an environment"),
    ("users", "/users", "Users and roles"),
    ("user-detail", "/users/bea", "Bea Manager"),
    ("forms", "/forms", "Forms"),
    ("form-new", "/forms/new", "New form"),
    ("form-editor", "/forms/notes", "Visit notes"),
    ("form-version", "/forms/notes/versions/1", "Visit notes · version 1"),
    ("services", "/forms/services", "Services"),
    ("deliveries", "/deliveries", "Deliveries"),
    ("subscriptions", "/deliveries/subscriptions", "Webhook subscriptions"),
]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as r:
        yield r


def _deliver(db: Database) -> None:
    """A worker pass, in a thread of its own: Playwright's sync API keeps an event loop running in this one."""
    worker = threading.Thread(target=run_once, args=(db, FAST))
    worker.start()
    worker.join(timeout=60)


def _seed_the_rest(container: bootstrap.Container, world: World, receiver: Receiver) -> dict[str, str]:
    """Something on every page beyond the roster; the paths of the pages whose ids are made here."""
    db = container.db
    admin = auth.authenticate(db, world.admin_username, PASSWORD)
    config.do_set_monitored(db, admin, world.env.id, ["K1"], monitored=True)
    code = mobile.do_issue_link_code(db, admin, world.env.id, "W02")
    phone, _ = mobile.do_link_device(db, code.username, code.code, "Alan's phone")
    mobile.pull(db, phone, None)
    access.do_create_user(
        db, admin, username="bea", password=PASSWORD, role=Role.BRANCH_MANAGER, display_name="Bea Manager"
    )
    access.do_grant_branch(db, admin, "bea", "B1")
    forms.do_create_form(
        db,
        admin,
        key="notes",
        title="Visit notes",
        fields=[
            {"key": "mood", "label": "Mood", "type": "choice", "choices": ["Good", "Low"], "required": True},
            {"key": "pain", "label": "Pain score (0 to 10)", "type": "number"},
        ],
    )
    forms.do_add_field(db, admin, "notes", {"key": "signed", "label": "Client signature", "type": "signature"})
    service = forms.do_create_service(db, admin, name="Home care", form_keys=["notes"])
    standalone(container)
    delivery.do_create_subscription(
        db, SYSTEM, tenant_id=world.tenant.id, name="Care app", url=receiver.url + "/hook", max_attempts=1
    )
    [failing, _] = emit(db, world.env.id, [1, 2])
    receiver.rule = lambda r: 503 if r.event_id == failing else None
    _deliver(db)
    [dead] = delivery.list_deliveries(db, world.tenant.id, status="dead").items
    return {"service": f"/forms/services/{service.id}", "delivery": f"/deliveries/{dead.id}"}


def _overflow(page: Page, width: int) -> list[str]:
    """The page, if it is wider than the window (it would scroll sideways)."""
    wide = page.evaluate("document.documentElement.scrollWidth")
    return [f"{page.url} is {wide}px wide, the window {width}px"] if wide > width else []


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_every_page_fits_and_is_photographed(
    browser: Browser,
    live_server: str,
    roster: Roster,
    container: bootstrap.Container,
    world: World,
    receiver: Receiver,
    page_problems: PageProblems,
    size: str,
) -> None:
    made = _seed_the_rest(container, world, receiver)
    pages: list[tuple[str, str, str | re.Pattern[str]]] = [
        *PAGES,
        ("service-detail", made["service"], "Home care"),
        ("delivery-detail", made["delivery"], re.compile(r"Event \d+ to Care app")),
    ]
    phone = size == "phone"
    width = (PHONE if phone else LAPTOP)["width"]
    context = _new_context(browser, live_server, PHONE if phone else LAPTOP, phone=phone)
    sideways: list[str] = []
    try:
        page = page_problems.watch(context.new_page())
        page.goto("/sign-in")
        screenshot(page, f"sign-in-{size}")
        sign_in(page)
        for name, path, heading in pages:
            page.goto(path)
            expect(page.get_by_role("heading", level=1)).to_have_text(heading)
            screenshot(page, f"{name}-{size}")
            sideways += _overflow(page, width)

        # What a page shows after its main action, in place.
        page.goto("/publishing/health")
        page.get_by_role("button", name="Preview").click()
        expect(page.get_by_test_id("outcome")).to_be_visible()
        page.evaluate("window.scrollTo(0, 0)")  # the sticky bar at the top, not across the middle
        screenshot(page, f"publishing-reconcile-preview-{size}")
        sideways += _overflow(page, width)

        page.goto("/mobile/devices")
        page.get_by_label("Worker").fill("Grace Hopper (W01)")
        page.get_by_role("button", name="Issue link code").click()
        expect(page.get_by_test_id("link-code")).to_contain_text("It works once")
        page.evaluate("window.scrollTo(0, 0)")
        screenshot(page, f"mobile-link-code-{size}")
        sideways += _overflow(page, width)

        page.goto("/environments/connect")
        page.get_by_label("Environment name").fill("SouthWest")
        page.get_by_label("Prefix (letters and digits)").fill("SouthWest")
        page.get_by_label("Standalone tenant it replaces (optional)").fill("SouthWest Care")
        page.get_by_role("button", name="Dry run").click()
        expect(page.get_by_test_id("plan")).to_contain_text("Dry run: nothing has changed yet")
        page.evaluate("window.scrollTo(0, 0)")
        screenshot(page, f"environments-dry-run-{size}")
        sideways += _overflow(page, width)
    finally:
        context.close()
    assert not sideways, sideways
