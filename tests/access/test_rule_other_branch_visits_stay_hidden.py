"""Visits that cross branches: a visit belongs to its client's branch, a worker to theirs (docs/access.md).

Two crossing visits on top of the two-branch site: V-MIX, of B-OWN's client Ada Own, allocated to B-OTHER's
worker W-OTHER (Zeldaw Hiddenw); and V-XOTHER, of B-OTHER's client Zelda Hidden, allocated to B-OWN's worker
W-OWN. Staff of B-OWN see V-MIX (with W-OTHER's id, as the roster record holds it) but nothing more of
W-OTHER; they see W-OWN but nothing of V-XOTHER: not in a list, a count, an explanation or a page.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from carehub.platform.db import Database
from carehub.publishing.mobile import service as mobile
from carehub.publishing.service import explain
from tests.access.conftest import Site
from tests.access.support import at, put
from tests.access.test_matrix import STAFF


@pytest.fixture
def crossing(site: Site, api: TestClient) -> Site:
    put(
        api,
        "visits",
        {
            "id": "V-MIX",
            "version": 1,
            "client_id": "C-OWN",
            "contract_id": "K-SHARED",
            "start": at(2),
            "end": at(2, hour=10),
            "carers_needed": 1,
            "worker_ids": ["W-OTHER"],
        },
        {
            "id": "V-XOTHER",
            "version": 1,
            "client_id": "C-OTHER",
            "contract_id": "K-SHARED",
            "start": at(2, hour=12),
            "end": at(2, hour=15),
            "carers_needed": 1,
            "worker_ids": ["W-OWN"],
        },
    )
    return site


def _workload(page: str) -> str:
    found = re.search(r"Visits, next \d+ days</dt>\s*<dd>\s*(\d+)", page)
    assert found, "no workload on the worker's page"
    return found.group(1)


def test_an_own_worker_s_page_lists_only_visits_of_own_branch_clients(
    clients: dict[str, TestClient], crossing: Site
) -> None:
    for caller in STAFF:
        page = clients[caller].get("/roster/workers/W-OWN")
        assert page.status_code == 200
        assert "V-OWN" in page.text
        assert "V-XOTHER" not in page.text, caller
        assert "Zelda" not in page.text, caller
    assert "V-XOTHER" in clients["admin"].get("/roster/workers/W-OWN").text


def test_a_worker_s_own_device_still_gets_every_visit_allocated_to_them(db: Database, crossing: Site) -> None:
    """Branch scoping is for staff: the worker needs every visit they are allocated, whichever client's branch."""
    device = mobile.authenticate_device(db, crossing.device_tokens["own"])
    page = mobile.pull(db, device, None)
    assert {"V-OWN", "V-XOTHER"} <= {v["external_id"] for v in page.visits}


# --- Found by the seed 001 audit.


def test_rule_an_own_worker_s_workload_counts_no_visit_of_another_branch_s_client(
    clients: dict[str, TestClient], crossing: Site
) -> None:
    """The worker page's and the workers list's "Visits, next 7 days" count only visits of the reader's clients."""
    assert _workload(clients["admin"].get("/roster/workers/W-OWN").text) == "2"
    for caller in STAFF:
        assert _workload(clients[caller].get("/roster/workers/W-OWN").text) == "1", caller
        listed = clients[caller].get("/roster/workers").text
        row = re.search(r'href="/roster/workers/W-OWN".*?</tr>', listed, re.DOTALL)
        assert row, "W-OWN is not listed"
        counts = re.findall(r'class="num">\s*(?:<span class="muted">)?(\d+)', row.group(0))
        assert counts == ["1"], (caller, counts)


def test_rule_explaining_an_own_worker_names_and_counts_no_visit_of_another_branch_s_client(
    db: Database, clients: dict[str, TestClient], crossing: Site
) -> None:
    """The worker rule "allocated to N visit(s) in window ...: ids" names and counts only the reader's visits."""
    admin = crossing.actor(db, "admin")
    whole = explain.do_explain(db, admin, crossing.world.env.id, "worker", "W-OWN")
    assert "allocated to 2 visit(s)" in whole.checks[2].detail
    assert "V-XOTHER" in whole.checks[2].detail
    for caller in STAFF:
        c = clients[caller]
        api = c.get("/api/v1/explain/worker/W-OWN")
        assert api.status_code == 200
        assert "V-XOTHER" not in api.text, caller
        assert api.json()["checks"][2]["detail"] == (
            "allocated to 1 visit(s) in window on monitored contracts: V-OWN"
        ), caller
        assert api.json()["publishes"] is whole.publishes
        page = c.get("/publishing/explain", params={"kind": "worker", "id": "W-OWN"})
        assert page.status_code == 200
        assert "V-XOTHER" not in page.text, caller
        assert "2 visit(s)" not in page.text, caller


def test_rule_a_worker_publishing_only_through_another_branch_s_visits_is_explained_without_them(
    db: Database, api: TestClient, clients: dict[str, TestClient], crossing: Site
) -> None:
    """The decision is the environment's: staff see it unchanged, told only that visits of other branches count."""
    put(
        api,
        "workers",
        {
            "id": "W-OWN2",
            "version": 1,
            "branch_id": "B-OWN",
            "first_name": "Bea",
            "last_name": "Own",
            "status": "active",
            "mobile_enabled": True,
        },
    )
    put(
        api,
        "visits",
        {
            "id": "V-XOTHER2",
            "version": 1,
            "client_id": "C-OTHER",
            "contract_id": "K-SHARED",
            "start": at(3),
            "end": at(3, hour=10),
            "carers_needed": 1,
            "worker_ids": ["W-OWN2"],
        },
    )
    admin = explain.do_explain(db, crossing.actor(db, "admin"), crossing.world.env.id, "worker", "W-OWN2")
    assert admin.publishes
    assert "V-XOTHER2" in admin.checks[2].detail
    for caller in STAFF:
        answer = clients[caller].get("/api/v1/explain/worker/W-OWN2").json()
        assert answer["publishes"] is True, caller
        rule = answer["checks"][2]
        assert (rule["rule"], rule["passed"], rule["fix"]) == ("worker.allocated_in_window", True, None)
        assert rule["detail"] == "allocated to visits of other branches in window on monitored contracts", caller
        page = clients[caller].get("/publishing/explain", params={"kind": "worker", "id": "W-OWN2"})
        assert page.status_code == 200
        assert "V-XOTHER2" not in page.text, caller
        assert "visits of other branches" in page.text, caller


def test_rule_explaining_an_own_client_s_visit_names_no_worker_of_another_branch(
    db: Database, clients: dict[str, TestClient], crossing: Site
) -> None:
    """V-MIX's explanation speaks of "a worker of another branch"; its decision is the environment's."""
    admin = explain.do_explain(db, crossing.actor(db, "admin"), crossing.world.env.id, "visit", "V-MIX")
    assert admin.checks[2].detail == "mobile-enabled worker(s): W-OTHER"
    for caller in STAFF:
        answer = clients[caller].get("/api/v1/explain/visit/V-MIX").json()
        assert answer["publishes"] is admin.publishes, caller
        assert answer["checks"][2]["detail"] == "mobile-enabled worker(s): a worker of another branch", caller
        page = clients[caller].get("/publishing/explain", params={"kind": "visit", "id": "V-MIX"})
        assert page.status_code == 200
        assert "W-OTHER" not in page.text, caller


def test_rule_an_own_client_s_visit_never_shows_another_branch_s_worker_s_name(
    clients: dict[str, TestClient], crossing: Site
) -> None:
    """V-MIX's pages show W-OTHER as "a worker of another branch": no name, initials, link or id.

    The visit's record keeps the id (``worker_ids: ["W-OTHER"]`` in the API and the visit's history).
    """
    admin = clients["admin"].get("/roster/visits/V-MIX").text
    assert "Hiddenw" in admin
    assert "of another branch" not in admin
    for caller in STAFF:
        c = clients[caller]
        for url in ("/roster/visits/V-MIX", "/roster/clients/C-OWN", "/roster/visits"):
            r = c.get(url)
            assert r.status_code == 200, (caller, url)
            assert "Zeldaw" not in r.text, (caller, url)
            assert "Hiddenw" not in r.text, (caller, url)
            assert "/roster/workers/W-OTHER" not in r.text, (caller, url)
            assert ">ZH<" not in r.text, (caller, url)
            assert "A worker of another branch" in r.text, (caller, url)
        carers = re.search(r'data-testid="allocated-workers">.*?</ul>', c.get("/roster/visits/V-MIX").text, re.DOTALL)
        assert carers, "no carers on the visit's page"
        assert "W-OTHER" not in carers.group(0), caller
