"""Seed 001: "Manage all branches from one ACP tenant, regardless of which ... environment they sit in".

A branch manager granted only a branch of an added environment works with its records on the web pages as
with the primary's, and sees nothing of the primary's records with the very same ids. The test follows the
pages' own links (an environment chooser, if the pages have one), so it does not assume a URL scheme.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient

from carehub import bootstrap
from carehub.app import create_app
from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import SYSTEM, Role
from carehub.platform.db import Database
from carehub.tenancy import connect
from carehub.tenancy import service as tenancy
from carehub.tenancy.access import service as access
from tests.access.conftest import signed_in
from tests.access.support import branch_records, csrf_of
from tests.conftest import PASSWORD, World


def _added(container: bootstrap.Container, db: Database, world: World, api: TestClient) -> int:
    """The primary's Bristol (B-OWN: Ada Mainline) and SouthWest's Bristol (B-OWN: Bea Southwest)."""
    branch_records("own", "Bristol", "Ada", "Mainline", api=api, shared_contract=True)
    plan = connect.do_connect_environment(
        db, SYSTEM, tenant_id=world.tenant.id, name="SouthWest", prefix="SW", dry_run=False, create_token=True
    )
    assert plan.environment is not None
    assert plan.token is not None
    with TestClient(create_app(container), headers={"Authorization": f"Bearer {plan.token}"}) as sw:
        branch_records("own", "Bristol", "Bea", "Southwest", api=sw, shared_contract=True)
    return plan.environment.id


def _page_of_environment(browser: TestClient, url: str, env: int, marker: str) -> tuple[str, str]:
    """``url``, or the page its link to environment ``env`` leads to, when ``marker`` is not on it: (url, text)."""
    text = browser.get(url).text
    if marker in text:
        return url, text
    for found in re.findall(r'href="([^"]+)"', text):
        link = found.replace("&amp;", "&")
        if link.startswith(url) and re.search(rf"[?&]environment={env}\b", link):
            return link, browser.get(link).text
    return url, text


def test_rule_staff_of_an_added_environment_s_branch_work_with_its_records_on_the_pages(
    container: bootstrap.Container, db: Database, world: World, api: TestClient
) -> None:
    """A manager granted only "SW - Bristol" sees its clients, visits and workers and opens its case files.

    (Seed 001 audit: the pages only ever showed the primary environment, so this manager saw empty pages.)
    """
    env = _added(container, db, world, api)
    auth.do_create_user(
        db, SYSTEM, tenant_id=world.tenant.id, username="swm", password=PASSWORD, role=Role.BRANCH_MANAGER
    )
    access.do_grant_branch(db, SYSTEM, "swm", "B-OWN", environment_id=env, tenant_id=world.tenant.id)
    browser = signed_in(container, "swm")
    try:
        for url in ("/roster/clients", "/roster/visits", "/roster/workers"):
            _, text = _page_of_environment(browser, url, env, "Southwest")
            assert "Mainline" not in text, url  # the primary's branch with the same id is another branch
            assert "Southwest" in text, f"{url}: the manager's own clients, visits and workers are not shown"
        where, text = _page_of_environment(browser, "/roster/clients", env, "Southwest")
        case_file = next(
            (h.replace("&amp;", "&") for h in re.findall(r'href="(/roster/clients/C-OWN[^"]*)"', text)), None
        )
        assert case_file is not None, f"{where}: no link to the client's case file"
        opened = browser.get(case_file)
        assert opened.status_code == 200
        assert "Southwest" in opened.text
        assert "Mainline" not in opened.text
    finally:
        browser.__exit__(None, None, None)


SWITCHER = 'data-testid="environment-switcher"'
PAGES = ("/roster/clients", "/roster/visits", "/roster/workers", "/publishing/explain", "/mobile/devices")


@contextmanager
def _browser(container: bootstrap.Container, username: str) -> Iterator[TestClient]:
    """A browser-like client signed in as ``username``, closed at the end."""
    client = signed_in(container, username)
    try:
        yield client
    finally:
        client.__exit__(None, None, None)


def _manager(db: Database, world: World, username: str, *grants: int) -> None:
    """A branch manager granted B-OWN of each of these environments."""
    auth.do_create_user(
        db, SYSTEM, tenant_id=world.tenant.id, username=username, password=PASSWORD, role=Role.BRANCH_MANAGER
    )
    for env in grants:
        access.do_grant_branch(db, SYSTEM, username, "B-OWN", environment_id=env, tenant_id=world.tenant.id)


def _options(text: str) -> list[tuple[str, str, bool]]:
    """The switcher's options: (value, name, selected); none when the page has no switcher."""
    found = re.search(r'data-testid="environment-switcher".*?</form>', text, re.DOTALL)
    if found is None:
        return []
    return [
        (value, name.strip(), bool(selected))
        for value, selected, name in re.findall(r'<option value="(\d+)"( selected)?>([^<]*)</option>', found.group(0))
    ]


def test_rule_a_manager_of_an_added_environment_s_branch_lands_in_it_without_a_switcher(
    container: bootstrap.Container, db: Database, world: World, api: TestClient
) -> None:
    env = _added(container, db, world, api)
    _manager(db, world, "swm", env)
    with _browser(container, "swm") as browser:
        for url in PAGES:
            page = browser.get(url)
            assert page.status_code == 200, (url, page.text)
            assert SWITCHER not in page.text, f"{url}: one environment to work in, yet a switcher"
        clients = browser.get("/roster/clients").text
        assert "Southwest" in clients
        assert "Mainline" not in clients
        visit = browser.get("/roster/visits/V-OWN")
        assert visit.status_code == 200
        assert "Southwest" in visit.text
        assert "Mainline" not in visit.text
        # The primary holds none of their branches: it cannot be chosen, and nothing of it is shown.
        refused = browser.get(f"/roster/clients?environment={world.env.id}")
        assert refused.status_code == 404
        assert "Mainline" not in refused.text


def test_rule_a_manager_of_primary_branches_only_cannot_choose_an_added_environment(
    container: bootstrap.Container, db: Database, world: World, api: TestClient
) -> None:
    env = _added(container, db, world, api)
    _manager(db, world, "pm", world.env.id)
    with _browser(container, "pm") as browser:
        for url in PAGES:
            refused = browser.get(f"{url}?environment={env}")
            assert refused.status_code == 404, (url, refused.text)
            assert "Southwest" not in refused.text, url
            assert "SouthWest" not in refused.text, url  # not even the environment's name
        for url in ("/roster/clients", "/roster/clients/C-OWN"):
            page = browser.get(url)  # the refused choice was not remembered
            assert page.status_code == 200, url
            assert "Mainline" in page.text, url
            assert "Southwest" not in page.text, url
            assert SWITCHER not in page.text, url


def test_rule_an_administrator_switches_environment_and_the_choice_is_remembered(
    container: bootstrap.Container, db: Database, world: World, api: TestClient
) -> None:
    env = _added(container, db, world, api)
    with _browser(container, "admin") as browser:
        first = browser.get("/roster/clients").text
        assert "Mainline" in first  # the primary, by default
        assert "Southwest" not in first
        assert _options(first) == [(str(world.env.id), "Primary", True), (str(env), "SouthWest", False)]
        chosen = browser.get(f"/roster/clients?environment={env}").text
        assert "Southwest" in chosen
        assert "Mainline" not in chosen
        assert _options(chosen) == [(str(world.env.id), "Primary", False), (str(env), "SouthWest", True)]
        for url in ("/roster/visits", "/roster/workers", "/roster/clients/C-OWN", "/roster/visits/V-OWN"):
            page = browser.get(url)
            assert page.status_code == 200, url
            assert "Southwest" in page.text, f"{url}: the chosen environment was not remembered"
            assert "Mainline" not in page.text, url
        for url in ("/publishing/explain", "/publishing/schedules", "/mobile/devices"):
            page = browser.get(url)
            assert page.status_code == 200, url
            assert (str(env), "SouthWest", True) in _options(page.text), url
        back = browser.get(f"/roster/workers?environment={world.env.id}").text
        assert "Mainline" in back
        assert "Southwest" not in back
        assert "Mainline" in browser.get("/roster/clients").text
    with _browser(container, "admin") as again:  # a new sign-in starts in the primary
        assert "Mainline" in again.get("/roster/clients").text


def test_rule_a_manager_of_branches_in_two_environments_switches_between_them(
    container: bootstrap.Container, db: Database, world: World, api: TestClient
) -> None:
    env = _added(container, db, world, api)
    _manager(db, world, "both", world.env.id, env)
    with _browser(container, "both") as browser:
        first = browser.get("/roster/clients").text
        assert "Mainline" in first  # the primary first, as they may work in it
        assert [o[1] for o in _options(first)] == ["Primary", "SouthWest"]
        assert "Southwest" in browser.get(f"/roster/clients?environment={env}").text
        # A grant taken away: the remembered environment is forgotten, not an error, and can no longer be chosen.
        access.do_revoke_branch(db, SYSTEM, "both", "B-OWN", environment_id=env, tenant_id=world.tenant.id)
        page = browser.get("/roster/clients")
        assert page.status_code == 200
        assert "Mainline" in page.text
        assert "Southwest" not in page.text
        assert SWITCHER not in page.text
        assert browser.get(f"/roster/clients?environment={env}").status_code == 404


def test_rule_another_tenant_s_environment_is_not_found_on_the_pages(
    container: bootstrap.Container, db: Database, world: World, api: TestClient
) -> None:
    env = _added(container, db, world, api)
    other_tenant, other_env = tenancy.do_create_tenant(
        db, SYSTEM, name="Northern Lights Care", timezone="Europe/London"
    )
    with _browser(container, "admin") as browser:
        assert "Southwest" in browser.get(f"/roster/clients?environment={env}").text
        for url in PAGES:
            for unknown in (other_env.id, 987654321):
                refused = browser.get(f"{url}?environment={unknown}")
                assert refused.status_code == 404, (url, unknown)
                assert other_tenant.name not in refused.text
        page = browser.get("/roster/clients").text
        assert "Southwest" in page  # the refused choices left the remembered one alone
        assert other_tenant.name not in page
        assert str(other_env.id) not in [o[0] for o in _options(page)]
        bad = browser.get("/roster/clients?environment=south")
        assert bad.status_code == 422
        assert "south" in bad.text
        assert "is not an environment id" in bad.text


def test_rule_care_workers_stay_refused_whichever_environment_they_ask_for(
    container: bootstrap.Container, db: Database, world: World, api: TestClient
) -> None:
    env = _added(container, db, world, api)
    auth.do_create_user(
        db, SYSTEM, tenant_id=world.tenant.id, username="carer", password=PASSWORD, role=Role.CARE_WORKER
    )
    with _browser(container, "carer") as browser:
        for url in PAGES:
            for query in ("", f"?environment={env}"):
                refused = browser.get(url + query)
                assert refused.status_code == 403, (url, query)
                assert "Southwest" not in refused.text


def test_rule_a_paused_environment_is_still_browsed_on_the_pages(
    container: bootstrap.Container, db: Database, world: World, api: TestClient
) -> None:
    env = _added(container, db, world, api)
    connect.do_pause_environment(db, SYSTEM, env)
    _manager(db, world, "swm", env)
    with _browser(container, "admin") as admin:
        page = admin.get(f"/roster/clients?environment={env}").text
        assert "Southwest" in page
        assert (str(env), "SouthWest (paused)", True) in _options(page)
    with _browser(container, "swm") as manager:
        assert "Southwest" in manager.get("/roster/clients").text
        assert manager.get("/roster/clients/C-OWN").status_code == 200


def test_rule_the_switcher_sends_a_record_page_to_its_section(
    container: bootstrap.Container, db: Database, world: World, api: TestClient
) -> None:
    """Switching on a case file lands on the clients list (the same id in another environment is another client)."""
    _added(container, db, world, api)
    with _browser(container, "admin") as browser:
        text = browser.get("/roster/clients/C-OWN").text
        assert re.search(r'<form class="envswitch" method="get" action="/roster/clients"', text)
        assert "Switch environment" in text


def test_rule_a_form_posts_to_the_environment_of_its_page_even_after_a_switch_in_another_tab(
    container: bootstrap.Container, db: Database, world: World, api: TestClient
) -> None:
    """Publishing and device forms name their page's environment: a switch elsewhere cannot redirect them."""
    env = _added(container, db, world, api)
    with _browser(container, "admin") as browser:
        pages = {
            "/publishing/contracts": ["/publishing/contracts"],
            "/publishing/schedules": ["/publishing/schedules"],
            "/publishing/health": ["/publishing/reconcile"],
            "/mobile/devices": ["/mobile/devices/link-code"],
        }
        for page, actions in pages.items():
            text = browser.get(f"{page}?environment={env}").text
            for action in actions:
                targets = re.findall(rf'(?:action|hx-post)="({re.escape(action)}[^"]*)"', text)
                assert targets, f"{page}: no form posting to {action}"
                assert all(t.endswith(f"?environment={env}") for t in targets), (page, targets)
        form = browser.get(f"/publishing/health?environment={env}").text
        action = re.findall(r'action="(/publishing/reconcile[^"]*)"', form)[0]
        browser.get(f"/roster/clients?environment={world.env.id}")  # another tab switches to the primary
        answered = browser.post(action, data={"action": "preview", "csrf": csrf_of(form)})
        assert answered.status_code == 303, answered.text
        shown = browser.get(answered.headers["location"])  # the outcome page: the environment the form named
        assert (str(env), "SouthWest", True) in _options(shown.text)
