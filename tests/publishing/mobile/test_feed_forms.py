"""The feed carries the forms a worker's visits need, driven end to end: roster API, publishing, forms, sync API.

Each visit lists ``form_ids`` (key@version): the forms of the services of its
client's roster branch. The page carries each definition once. A form edited
once reaches every device whose visits need it, at its next sync.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import Actor
from carehub.platform.clock import utc_now
from carehub.platform.db import Database
from carehub.publishing.mobile import service as mobile
from carehub.roster.domain.kinds import RecordKind
from carehub.roster.service import queries
from carehub.tenancy.forms import service as forms
from tests.conftest import PASSWORD, World
from tests.publishing.support import monitor, put, roster, visit

NOTES = [{"key": "notes", "label": "Notes", "type": "text", "required": True}]
MOOD = [{"key": "mood", "label": "Mood", "type": "choice", "required": False, "choices": ["Good", "Low"]}]


def _setup(api: TestClient, db: Database, world: World) -> tuple[Actor, dict[str, int], str]:
    """Bristol (B1: C1, C2) and Bath (B2: C3); W1 visits C1 (V1) and C3 (V3); a linked phone of W1."""
    roster(api)
    put(api, "branches", {"id": "B2", "version": 1, "name": "Bath"})
    put(
        api,
        "clients",
        {"id": "C3", "version": 1, "branch_id": "B2", "first_name": "Eve", "last_name": "Bath", "status": "active"},
    )
    put(api, "visits", visit("V1"), visit("V3", client="C3", days=2))
    monitor(db, world.env.id, "K1")
    admin = auth.authenticate(db, "admin", PASSWORD)
    code = mobile.do_issue_link_code(db, admin, world.env.id, "W1")
    _, token = mobile.do_link_device(db, code.username, code.code, "Wren's phone")
    branch = {b: queries.get_record(db, world.env.id, RecordKind.BRANCH, b)["_pk"] for b in ("B1", "B2")}
    return admin, branch, token


def _sync(api: TestClient, token: str, cursor: str | None = None) -> dict[str, Any]:
    params = {"cursor": cursor} if cursor else {}
    r = api.get("/api/mobile/v1/sync", params=params, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert not body["has_more"]
    return body


def _form_ids(page: dict[str, Any]) -> dict[str, list[str]]:
    return {v["external_id"]: v["form_ids"] for v in page["visits"]}


def test_the_feed_carries_the_forms_each_visit_needs(api: TestClient, db: Database, world: World) -> None:
    admin, branch, token = _setup(api, db, world)
    forms.do_create_form(db, admin, key="notes", title="Visit notes", fields=NOTES)
    forms.do_create_form(db, admin, key="mood", title="Mood", fields=MOOD)
    forms.do_create_form(db, admin, key="unused", title="Unused", fields=NOTES)
    forms.do_create_service(db, admin, name="Home care", form_keys=["notes"], branch_ids=[branch["B1"], branch["B2"]])
    forms.do_create_service(db, admin, name="Reablement", form_keys=["mood"], branch_ids=[branch["B2"]])

    page = _sync(api, token)
    assert _form_ids(page) == {"V1": ["notes@1"], "V3": ["mood@1", "notes@1"]}
    # Each definition once, only those the visits name.
    assert [f["id"] for f in page["forms"]] == ["mood@1", "notes@1"]
    mood = page["forms"][0]
    assert (mood["key"], mood["version"], mood["title"]) == ("mood", 1, "Mood")
    assert mood["fields"] == [
        {"key": "mood", "label": "Mood", "type": "choice", "required": False, "choices": ["Good", "Low"]}
    ]


def test_a_visit_of_a_branch_without_services_needs_no_forms(api: TestClient, db: Database, world: World) -> None:
    admin, branch, token = _setup(api, db, world)
    forms.do_create_form(db, admin, key="notes", title="Visit notes", fields=NOTES)
    forms.do_create_service(db, admin, name="Home care", form_keys=["notes"], branch_ids=[branch["B2"]])
    page = _sync(api, token)
    assert _form_ids(page) == {"V1": [], "V3": ["notes@1"]}
    assert [f["id"] for f in page["forms"]] == ["notes@1"]


def test_rule_updating_a_form_once_reaches_every_device_that_needs_it(
    api: TestClient, db: Database, world: World
) -> None:
    admin, branch, token = _setup(api, db, world)
    forms.do_create_form(db, admin, key="notes", title="Visit notes", fields=NOTES)
    forms.do_create_service(db, admin, name="Home care", form_keys=["notes"], branch_ids=[branch["B1"], branch["B2"]])
    first = _sync(api, token)
    assert _form_ids(first) == {"V1": ["notes@1"], "V3": ["notes@1"]}
    forms.do_update_form(db, admin, "notes", title="Visit notes", fields=[*NOTES, *MOOD])
    after = _sync(api, token, first["cursor"])
    # Every held visit comes again with the new version, and the page carries its definition.
    assert _form_ids(after) == {"V1": ["notes@2"], "V3": ["notes@2"]}
    assert [(f["id"], [x["key"] for x in f["fields"]]) for f in after["forms"]] == [("notes@2", ["notes", "mood"])]


def test_a_dedicated_service_changes_only_its_branchs_visits(api: TestClient, db: Database, world: World) -> None:
    admin, branch, token = _setup(api, db, world)
    forms.do_create_form(db, admin, key="notes", title="Visit notes", fields=NOTES)
    forms.do_create_form(db, admin, key="mood", title="Mood", fields=MOOD)
    forms.do_create_service(db, admin, name="Home care", form_keys=["notes"], branch_ids=[branch["B1"], branch["B2"]])
    first = _sync(api, token)
    own = forms.do_create_dedicated_service(db, admin, branch["B2"])
    forms.do_update_service(db, admin, own.id, form_keys=["notes", "mood"])
    after = _sync(api, token, first["cursor"])
    assert _form_ids(after) == {"V1": ["notes@1"], "V3": ["mood@1", "notes@1"]}


def test_forms_unchanged_since_the_last_sync_send_nothing_again(api: TestClient, db: Database, world: World) -> None:
    admin, branch, token = _setup(api, db, world)
    forms.do_create_form(db, admin, key="notes", title="Visit notes", fields=NOTES)
    forms.do_create_service(db, admin, name="Home care", form_keys=["notes"], branch_ids=[branch["B1"]])
    later = utc_now() + timedelta(minutes=5)
    first = mobile.pull(db, mobile.authenticate_device(db, token), None, now=later)
    assert [v["form_ids"] for v in first.visits] == [["notes@1"], []]
    quiet = mobile.pull(db, mobile.authenticate_device(db, token), first.cursor, now=later + timedelta(minutes=1))
    assert quiet.visits == []
    assert quiet.forms == []
