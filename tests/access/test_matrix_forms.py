"""The access-control matrix for forms and services reads: every caller, every GET route, own and other branch.

``test_matrix.py`` checks only the role rules of these routes (with placeholder ids); here every forms and
services GET route is called with a real form or service of branch B-OWN (Bristol) and of branch B-OTHER
(Cardiff). Staff of B-OWN read their branch's forms and services; the other branch's are not found (404,
worded as for a form or service that does not exist) and leave no trace in any list or page, the other
branch itself included.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from carehub.platform.db import Database
from carehub.roster.domain.kinds import RecordKind
from carehub.roster.service import queries
from carehub.tenancy.forms import service as forms
from tests.access.conftest import Site, site_admin
from tests.access.support import leaks
from tests.access.test_matrix import STAFF, C, all_routes, classify

FIELDS = [{"key": "notes", "label": "Notes", "type": "text", "required": False}]
OWN = {"key": "own-notes", "version": "1"}
OTHER = {"key": "hidden-notes", "version": "1"}
MISSING = {"key": "nope-notes", "version": "1"}


@pytest.fixture
def ids(db: Database, site: Site) -> dict[str, dict[str, str]]:
    """A form and a service of each branch, and the other branch's own dedicated service; their URL values."""
    admin = site_admin(db)
    env = site.world.env.id
    branch = {b: queries.get_record(db, env, RecordKind.BRANCH, b)["_pk"] for b in ("B-OWN", "B-OTHER")}
    forms.do_create_form(db, admin, key="own-notes", title="Own notes", fields=FIELDS)
    forms.do_create_form(db, admin, key="hidden-notes", title="Hidden notes", fields=FIELDS)
    own = forms.do_create_service(db, admin, name="Bristol care", form_keys=["own-notes"], branch_ids=[branch["B-OWN"]])
    other = forms.do_create_service(
        db, admin, name="Cardiff care", form_keys=["hidden-notes"], branch_ids=[branch["B-OTHER"]]
    )
    forms.do_create_dedicated_service(db, admin, branch["B-OTHER"])  # "Cardiff (own forms)"
    return {
        "own": {**OWN, "service_id": str(own.id)},
        "other": {**OTHER, "service_id": str(other.id)},
        "missing": {**MISSING, "service_id": str(other.id + 1000)},
    }


def _url(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: values[m.group(1)], path)


# The answers of callers that are not branch staff: (to the API, to a page).
FIXED = {
    "anonymous": ({401}, {303}),
    "token": ({403}, {303}),  # a roster token reads no forms; pages need a browser session
    "admin_token": ({200}, {303}),
    "carer": ({403}, {403}),
    "admin": ({200}, {200}),
}


def _expect(caller: str, path: str, side: str) -> set[int]:
    if caller in FIXED:
        api, page = FIXED[caller]
        return api if path.startswith("/api/") else page
    if path == "/forms/new":
        return {403}  # defining a form is for administrators
    return {404} if side == "other" else {200}


def _traces(text: str) -> list[str]:
    """The other branch's markers, its form's key included."""
    return leaks(text) + (["hidden-notes"] if "hidden-notes" in text else [])


def test_rule_staff_in_one_branch_cannot_see_forms_or_services_of_another(
    clients: dict[str, TestClient], ids: dict[str, dict[str, str]]
) -> None:
    routes = [p for m, p in all_routes(clients["admin"].app) if m == "GET" and classify(m, p) is C.FORMS_READ]
    assert len(routes) >= 12, routes
    checked = 0
    for path in routes:
        for side in ("own", "other") if "{" in path else ("own",):
            url = _url(path, ids[side])
            for caller, client in clients.items():
                r = client.get(url, follow_redirects=False)
                expected = _expect(caller, path, side)
                assert r.status_code in expected, f"{caller} GET {url}: {r.status_code}, expected {expected}"
                if caller in STAFF:
                    shown = r.text.replace(ids[side]["key"], "").replace(ids[side]["service_id"], "")
                    assert not _traces(shown), f"{caller} GET {url} shows {_traces(shown)}"
                checked += 1
    assert checked > 100, checked


def test_another_branch_s_form_or_service_reads_as_one_that_does_not_exist(
    clients: dict[str, TestClient], ids: dict[str, dict[str, str]]
) -> None:
    """Not found, and the very same answer as for a key or id nobody uses: nothing tells them apart."""
    paths = [
        p
        for m, p in all_routes(clients["admin"].app)
        if m == "GET" and classify(m, p) is C.FORMS_READ and "{" in p and p != "/forms/new"
    ]
    assert paths
    for caller in STAFF:
        c = clients[caller]
        for path in paths:
            hidden = c.get(_url(path, ids["other"]))
            missing = c.get(_url(path, ids["missing"]))
            assert hidden.status_code == missing.status_code == 404, (caller, path)
            mask = [(ids["other"]["key"], "X"), (ids["other"]["service_id"], "N")]
            text = hidden.text
            for old, new in mask:
                text = text.replace(old, new)
            expected = missing.text.replace(ids["missing"]["key"], "X").replace(ids["missing"]["service_id"], "N")
            if path.startswith("/api/"):
                assert text == expected, (caller, path, text, expected)
            else:
                assert _traces(text) == [], (caller, path)


def test_the_forms_leak_markers_would_be_found(clients: dict[str, TestClient], ids: dict[str, dict[str, str]]) -> None:
    """The administrator sees the other branch's form and services: the markers searched for are really there."""
    admin = clients["admin"]
    for url in ("/api/v1/forms", "/api/v1/services", "/api/v1/services/branches", "/forms", "/forms/services"):
        assert _traces(admin.get(url).text), url
    assert _traces(admin.get(f"/api/v1/services/{ids['other']['service_id']}").text)
    assert admin.get("/api/v1/forms/hidden-notes").json()["title"] == "Hidden notes"
