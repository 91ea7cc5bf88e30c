"""Every page at laptop and phone size: no sideways scrolling, no console errors, a screenshot each.

The screenshots land in test-artifacts/screenshots/ (git-ignored) for people to look at.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.web.conftest import LAPTOP, PHONE, PageProblems, _new_context, screenshot, sign_in
from tests.web.seed import Roster

pytestmark = pytest.mark.browser

PAGES = [
    ("visits", "/roster/visits", "Visits"),
    ("visits-filtered", "/roster/visits?allocation=partly", "Visits"),
    ("clients", "/roster/clients", "Clients"),
    ("workers", "/roster/workers", "Workers"),
    ("client-detail", "/roster/clients/C001", "Ada Lovelace"),
    ("worker-detail", "/roster/workers/W02", "Alan Turing"),
    ("visit-detail", "/roster/visits/V-ADA-PM-0", "17:30–18:00 · Ada Lovelace"),
    ("visit-cancelled", "/roster/visits/V-C003-2", "13:00–13:30 · Florence Nightingale"),
    ("error", "/roster/workers/NOBODY", "Not found"),
]


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_every_page_fits_and_is_photographed(
    browser: Browser, live_server: str, roster: Roster, page_problems: PageProblems, size: str
) -> None:
    phone = size == "phone"
    context = _new_context(browser, live_server, PHONE if phone else LAPTOP, phone=phone)
    try:
        page = page_problems.watch(context.new_page())
        page.goto("/sign-in")
        screenshot(page, f"sign-in-{size}")
        sign_in(page)
        width = (PHONE if phone else LAPTOP)["width"]
        for name, path, heading in PAGES:
            page.goto(path)
            expect(page.get_by_role("heading", level=1)).to_have_text(heading)
            assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{path} scrolls sideways"
            screenshot(page, f"{name}-{size}")
    finally:
        context.close()
