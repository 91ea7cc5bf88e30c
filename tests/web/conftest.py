"""Browser fixtures: the real app under uvicorn on a free port, driven by headless Chromium.

The tests here run on SQLite only (``db_url`` is overridden, so the root
conftest does not parametrise them by backend). Debian's ``chromium`` is used,
not Playwright's download. Without it the browser tests are skipped, unless
``CI=true``, where they fail.
"""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from carehub import bootstrap
from carehub.app import create_app
from tests import backends
from tests.conftest import PASSWORD, World
from tests.web.seed import Roster, seed_roster

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture
def db_url(_sqlite_template: Path, tmp_path: Path) -> str:
    """Browser tests run on SQLite only: a fresh copy of the migrated template per test."""
    return backends.sqlite_copy(_sqlite_template, tmp_path)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        reason = "Debian's chromium is not installed (apt-get install chromium); browser tests need it"
        if backends.IN_CI:
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def live_server(container: bootstrap.Container, world: World) -> Iterator[str]:
    """The real app over real HTTP on a free localhost port, against this test's database."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(container), log_level="warning", access_log=False, lifespan="off", ws="none", loop="asyncio"
    )
    server = uvicorn.Server(config)  # in a thread, uvicorn leaves signals to the main thread
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the app did not start under uvicorn")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=15)
    sock.close()


@pytest.fixture
def roster(container: bootstrap.Container, world: World) -> Roster:
    return seed_roster(container.db, world)


def _new_context(browser: Browser, base_url: str, viewport: dict[str, int], *, phone: bool) -> BrowserContext:
    context = browser.new_context(
        base_url=base_url,
        viewport=viewport,  # type: ignore[arg-type]
        locale="en-GB",
        timezone_id="Europe/London",
        is_mobile=phone,
        has_touch=phone,
        device_scale_factor=2 if phone else 1,
    )
    context.set_default_timeout(10_000)
    return context


class PageProblems:
    """Console errors and uncaught exceptions of the pages of a test (CSP violations show up here)."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def watch(self, page: Page) -> Page:
        page.on("console", lambda m: self.messages.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.messages.append(f"page error: {e}"))
        return page


@pytest.fixture
def page_problems() -> Iterator[PageProblems]:
    problems = PageProblems()
    yield problems
    unexpected = [m for m in problems.messages if not re.search(r"status of 4\d\d", m)]
    assert not unexpected, unexpected


@pytest.fixture
def page(browser: Browser, live_server: str, page_problems: PageProblems) -> Iterator[Page]:
    """A laptop-sized page (1280x800), not signed in."""
    context = _new_context(browser, live_server, LAPTOP, phone=False)
    yield page_problems.watch(context.new_page())
    context.close()


@pytest.fixture
def phone_page(browser: Browser, live_server: str, page_problems: PageProblems) -> Iterator[Page]:
    """A phone-sized page (390x844, touch), not signed in."""
    context = _new_context(browser, live_server, PHONE, phone=True)
    yield page_problems.watch(context.new_page())
    context.close()


def sign_in(page: Page, username: str = "admin", password: str = PASSWORD) -> None:
    """Sign in through the form and wait for the first page."""
    page.goto("/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("signed-in-user")).to_have_text(username)


@pytest.fixture
def signed_in(page: Page, roster: Roster) -> Page:
    """A laptop page signed in as the admin, with the roster seeded."""
    sign_in(page)
    return page


@pytest.fixture
def signed_in_phone(phone_page: Page, roster: Roster) -> Page:
    """A phone page signed in as the admin, with the roster seeded."""
    sign_in(phone_page)
    return phone_page


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot (the whole page, or what the window shows) to test-artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path


def mark_page(page: Page) -> None:
    """Leave a marker on the window: it survives htmx swaps and is gone after a full load."""
    page.evaluate("window.__carehubMarker = 'still here'")


def assert_not_reloaded(page: Page) -> None:
    """The page was updated in place (htmx), not reloaded."""
    assert page.evaluate("window.__carehubMarker") == "still here"
