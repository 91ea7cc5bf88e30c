"""The field-by-field editor: add, edit, move and remove one field, each a new version, on SQLite and PostgreSQL.

The service functions behind the forms page's in-place editor, then the page itself over HTTP (as htmx and as a
plain form post): every refusal names the field, the value and what was expected, and is never a 500.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from carehub.platform.audit import AuditEntry
from carehub.platform.auth.actor import Actor, Role
from carehub.platform.db import Database
from carehub.platform.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from carehub.platform.outbox import OutboxEvent
from carehub.tenancy.forms import service as forms
from tests.forms.conftest import Branches, fields, form_sets

Staff = Callable[..., Actor]
SignedIn = Callable[..., TestClient]
HTMX = {"HX-Request": "true"}


def _keys(db: Database, admin: Actor, key: str = "notes", version: int | None = None) -> list[str]:
    form = forms.get_form(db, admin, key)
    shown = form.current if version is None else forms.get_form_version(db, admin, key, version)
    assert shown is not None
    return [f["key"] for f in shown.fields]


def test_rule_each_field_change_is_a_new_version_every_branch_sees_at_once(
    db: Database, admin: Actor, branches: Branches
) -> None:
    forms.do_create_form(db, admin, key="notes", title="Notes", fields=fields("mood", "pain"))
    forms.do_create_service(db, admin, name="Home care", form_keys=["notes"], branch_ids=[branches.bristol])
    forms.do_create_service(db, admin, name="Reablement", form_keys=["notes"], branch_ids=[branches.bath])
    added = forms.do_add_field(
        db, admin, "notes", {"key": "falls", "label": "Any falls?", "type": "yes-no"}, expected_version=1
    )
    assert (added.current_version, _keys(db, admin)) == (2, ["mood", "pain", "falls"])
    forms.do_add_field(db, admin, "notes", fields("first")[0], position=0, expected_version=2)
    assert _keys(db, admin) == ["first", "mood", "pain", "falls"]
    edited = forms.do_update_field(
        db,
        admin,
        "notes",
        "pain",
        {"key": "pain-level", "label": "Pain", "type": "choice", "choices": ["None", "Some"], "required": True},
        expected_version=3,
    )
    assert edited.current is not None
    assert edited.current.fields[2] == {
        "key": "pain-level",
        "label": "Pain",
        "type": "choice",
        "required": True,
        "choices": ["None", "Some"],
    }
    forms.do_move_field(db, admin, "notes", "falls", by=-1, expected_version=4)
    forms.do_move_field(db, admin, "notes", "first", by=1, expected_version=5)
    assert _keys(db, admin) == ["mood", "first", "falls", "pain-level"]
    removed = forms.do_remove_field(db, admin, "notes", "first", expected_version=6)
    assert (removed.current_version, _keys(db, admin)) == (7, ["mood", "falls", "pain-level"])
    retitled = forms.do_set_form_title(db, admin, "notes", "Visit notes", expected_version=7)
    assert (retitled.title, retitled.current_version, _keys(db, admin)) == (
        "Visit notes",
        8,
        _keys(db, admin, version=7),
    )
    # Every branch seeing the form gets the newest version; the older versions never change.
    assert form_sets(db, admin, branches.bristol, branches.bath) == {
        branches.bristol: ["notes@8"],
        branches.bath: ["notes@8"],
    }
    assert _keys(db, admin, version=1) == ["mood", "pain"]
    assert _keys(db, admin, version=4) == ["first", "mood", "pain-level", "falls"]


def test_a_field_change_is_audited_with_what_changed_and_its_outbox_event(
    db: Database, admin: Actor, branches: Branches
) -> None:
    forms.do_create_form(db, admin, key="notes", title="Notes", fields=fields("a", "b"))
    forms.do_move_field(db, admin, "notes", "b", by=-1)
    forms.do_remove_field(db, admin, "notes", "a")
    with db.read() as session:
        changes = list(
            session.scalars(
                select(AuditEntry.changes)
                .where(AuditEntry.entity == "form", AuditEntry.action == "update")
                .order_by(AuditEntry.id)
            )
        )
        topics = list(session.scalars(select(OutboxEvent.topic).where(OutboxEvent.topic == "forms.form.updated")))
    assert changes[0]["version"] == [1, 2]
    assert changes[0]["fields_reordered"] == [None, ["yes"]]
    assert changes[1]["fields_removed"] == [None, ["a"]]
    assert topics == ["forms.form.updated", "forms.form.updated"]


def test_an_unchanged_field_makes_no_version(db: Database, admin: Actor, branches: Branches) -> None:
    forms.do_create_form(db, admin, key="notes", title="Notes", fields=fields("a"))
    same = forms.do_update_field(db, admin, "notes", "a", fields("a")[0], expected_version=1)
    assert same.current_version == 1
    assert forms.do_set_form_title(db, admin, "notes", "Notes").current_version == 1


@pytest.mark.parametrize(
    ("change", "field", "value", "expected"),
    [
        (
            lambda db, a: forms.do_add_field(db, a, "notes", {"key": "c", "label": "", "type": "text"}),
            "fields[2].label",
            "",
            "a label of 1 to 200",
        ),
        (
            lambda db, a: forms.do_add_field(db, a, "notes", fields("a")[0]),
            "fields[2].key",
            "a",
            "a key no other field",
        ),
        (
            lambda db, a: forms.do_add_field(db, a, "notes", {"key": "c", "label": "C", "type": "choice"}),
            "fields[2].choices",
            None,
            "1 to 100 choices",
        ),
        (
            lambda db, a: forms.do_add_field(db, a, "notes", {"key": "c", "label": "C", "type": "colour"}),
            "fields[2].type",
            "colour",
            "one of text, number",
        ),
        (lambda db, a: forms.do_add_field(db, a, "notes", fields("c")[0], position=5), "position", 5, "from 0 to 2"),
        (
            lambda db, a: forms.do_update_field(db, a, "notes", "b", {"key": "Bad Key", "label": "B", "type": "text"}),
            "fields[1].key",
            "Bad Key",
            "lower-case letters",
        ),
        (lambda db, a: forms.do_move_field(db, a, "notes", "a", by=-1), "move", -1, "within positions 1 to 2"),
        (lambda db, a: forms.do_move_field(db, a, "notes", "b", by=1), "move", 1, "within positions 1 to 2"),
        (lambda db, a: forms.do_set_form_title(db, a, "notes", "  "), "title", "  ", "a title of 1 to 200"),
    ],
)
def test_refused_field_changes_name_the_field_the_value_and_the_expectation(
    db: Database,
    admin: Actor,
    branches: Branches,
    change: Callable[[Database, Actor], Any],
    field: str,
    value: Any,
    expected: str,
) -> None:
    forms.do_create_form(db, admin, key="notes", title="Notes", fields=fields("a", "b"))
    with pytest.raises(InvalidInput) as refused:
        change(db, admin)
    problem = next(e for e in refused.value.errors if e.field == field)
    assert (problem.record_id, problem.value) == ("notes", value)
    assert expected in problem.reason
    assert forms.get_form(db, admin, "notes").current_version == 1


def test_a_form_keeps_at_least_one_field(db: Database, admin: Actor, branches: Branches) -> None:
    forms.do_create_form(db, admin, key="notes", title="Notes", fields=fields("a"))
    with pytest.raises(InvalidInput) as refused:
        forms.do_remove_field(db, admin, "notes", "a")
    [problem] = refused.value.errors
    assert (problem.field, problem.value) == ("fields", "a")
    assert "archive the form" in problem.reason
    with pytest.raises(NotFound, match="no field 'zz' in version 1"):
        forms.do_remove_field(db, admin, "notes", "zz")


def test_a_field_change_from_an_older_version_is_refused(db: Database, admin: Actor, branches: Branches) -> None:
    forms.do_create_form(db, admin, key="notes", title="Notes", fields=fields("a", "b"))
    forms.do_move_field(db, admin, "notes", "b", by=-1, expected_version=1)
    with pytest.raises(Conflict, match="at version 2, not 1"):
        forms.do_remove_field(db, admin, "notes", "a", expected_version=1)
    assert _keys(db, admin) == ["b", "a"]


def test_only_administrators_edit_fields_and_not_of_archived_forms(
    db: Database, admin: Actor, branches: Branches, staff: Staff
) -> None:
    forms.do_create_form(db, admin, key="notes", title="Notes", fields=fields("a", "b"))
    forms.do_create_service(db, admin, name="Home care", form_keys=["notes"], branch_ids=[branches.bristol])
    with pytest.raises(PermissionDenied):
        forms.do_add_field(db, staff(Role.BRANCH_MANAGER, branches.bristol), "notes", fields("c")[0])
    with pytest.raises(NotFound):  # a form outside the caller's branches is not found, whatever the role
        forms.do_move_field(db, staff(Role.COORDINATOR, branches.bath), "notes", "b", by=-1)
    forms.do_archive_form(db, admin, "notes")
    with pytest.raises(Conflict, match="archived"):
        forms.do_remove_field(db, admin, "notes", "a")
    assert forms.get_form(db, admin, "notes").current_version == 1


# --------------------------------------------------------------------------- the page over HTTP


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


@pytest.fixture
def editor(db: Database, admin: Actor, branches: Branches, signed_in_as: SignedIn) -> tuple[TestClient, str]:
    """An administrator's browser session on form ``notes`` (fields a, b), and its CSRF token."""
    forms.do_create_form(db, admin, key="notes", title="Notes", fields=fields("a", "b"))
    client = signed_in_as("ada", Role.ADMIN)
    page = client.get("/forms/notes")
    assert page.status_code == 200
    return client, _csrf(page.text)


def test_the_editor_changes_one_field_in_place_with_htmx(
    db: Database, admin: Actor, editor: tuple[TestClient, str]
) -> None:
    client, csrf = editor
    added = client.post(
        "/forms/notes/fields",
        data={"csrf": csrf, "expected_version": "1", "key": "c", "label": "C", "type": "text", "required": "yes"},
        headers=HTMX,
    )
    assert added.status_code == 200
    assert added.text.lstrip().startswith('<div id="workspace"')  # the workspace only, not the whole page
    assert "version 2 is what every branch" in added.text
    moved = client.post("/forms/notes/fields/c/up", data={"csrf": csrf, "expected_version": "2"}, headers=HTMX)
    assert moved.status_code == 200
    assert _keys(db, admin) == ["a", "c", "b"]
    # Without htmx, a change redirects back to the page.
    plain = client.post(
        "/forms/notes/fields/a/remove", data={"csrf": csrf, "expected_version": "3"}, follow_redirects=False
    )
    assert (plain.status_code, plain.headers["location"]) == (303, "/forms/notes?saved=1")
    assert _keys(db, admin) == ["c", "b"]


def test_the_editor_shows_a_refusal_next_to_the_field_never_a_500(
    db: Database, admin: Actor, editor: tuple[TestClient, str]
) -> None:
    client, csrf = editor
    bad = {"csrf": csrf, "expected_version": "1", "key": "b", "label": "", "type": "text"}
    refused = client.post("/forms/notes/fields", data=bad, headers=HTMX)
    assert refused.status_code == 200  # htmx swaps only successful answers: the refusal is the fragment
    errors = re.findall(r'<p class="fm-error" id="new-(\w+)-error"[^>]*>([^<]*)</p>', refused.text)
    assert [name for name, _ in errors] == ["key", "label"]
    assert "a key no other field of this form has" in errors[0][1]
    assert "you gave &#39;b&#39;" in errors[0][1]
    assert "a label of 1 to 200 characters" in errors[1][1]
    assert 'value="b"' in refused.text  # what was typed stays
    assert client.post("/forms/notes/fields", data=bad).status_code == 422  # the whole page without htmx
    stale = client.post("/forms/notes/fields/a/down", data={"csrf": csrf, "expected_version": "7"}, headers=HTMX)
    assert "at version 1, not 7" in stale.text
    for url, data in (
        ("/forms/notes/fields/a/sideways", {}),
        ("/forms/notes/fields/zz/remove", {}),
        ("/forms/notes/fields/a/up", {"expected_version": "x"}),
        ("/forms/notes", {"title": "\x00"}),
    ):
        r = client.post(url, data={"csrf": csrf, **data})
        assert r.status_code in {404, 422}, (url, r.status_code)
        assert "form-errors" in r.text, url
    assert forms.get_form(db, admin, "notes").current_version == 1


def test_a_coordinator_cannot_edit_fields(
    db: Database, admin: Actor, branches: Branches, signed_in_as: SignedIn
) -> None:
    forms.do_create_form(db, admin, key="notes", title="Notes", fields=fields("a", "b"))
    forms.do_create_service(db, admin, name="Home care", form_keys=["notes"], branch_ids=[branches.bristol])
    coordinator = signed_in_as("cora", Role.COORDINATOR, "B1")
    page = coordinator.get("/forms/notes")
    assert page.status_code == 200
    assert "field-list" not in page.text
    r = coordinator.post("/forms/notes/fields/b/up", data={"csrf": _csrf(page.text)}, headers=HTMX)
    assert r.status_code == 403
    assert forms.get_form(db, admin, "notes").current_version == 1
