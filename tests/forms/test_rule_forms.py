"""Seed 001's statements about forms, on SQLite and PostgreSQL.

"Forms are defined once at the tenant level, but their visibility is controlled
by which service a branch is associated with. If a branch needs its own form
set, it can be assigned a dedicated service with the relevant forms attached."
"Update a form once and have it apply across all connected branches."
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from carehub.platform.audit import AuditEntry
from carehub.platform.auth.actor import Actor, Role
from carehub.platform.db import Database
from carehub.platform.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from carehub.platform.outbox import OutboxEvent
from carehub.tenancy.forms import service as forms
from carehub.tenancy.forms.tables import Form, FormVersion
from tests.forms.conftest import NOTES, Branches, fields, form_sets

Staff = Callable[..., Actor]


def _counts(db: Database) -> tuple[int, int, int, int]:
    with db.read() as session:
        return (
            session.scalar(select(func.count()).select_from(Form)) or 0,
            session.scalar(select(func.count()).select_from(FormVersion)) or 0,
            session.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.entity.in_(["form", "service"]))
            )
            or 0,
            session.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.topic.like("forms.%"))) or 0,
        )


def _two_services(db: Database, admin: Actor, b: Branches) -> tuple[int, int]:
    """Forms a, b, c; Home care (a, b) for Bristol; Reablement (b, c) for Bristol and Bath."""
    for key in ("a", "b", "c"):
        forms.do_create_form(db, admin, key=key, title=f"Form {key}", fields=fields("x"))
    home = forms.do_create_service(db, admin, name="Home care", form_keys=["a", "b"], branch_ids=[b.bristol])
    reable = forms.do_create_service(db, admin, name="Reablement", form_keys=["b", "c"], branch_ids=[b.bristol, b.bath])
    return home.id, reable.id


def test_rule_forms_are_defined_once_at_tenant_level(
    db: Database, admin: Actor, branches: Branches, other_tenant: Actor
) -> None:
    created = forms.do_create_form(db, admin, key="daily-notes", title="Daily notes", fields=NOTES)
    assert (created.key, created.current_version) == ("daily-notes", 1)
    forms.do_create_service(db, admin, name="Home care", form_keys=["daily-notes"], branch_ids=[branches.bristol])
    forms.do_create_service(db, admin, name="Reablement", form_keys=["daily-notes"], branch_ids=[branches.bath])
    # One definition, one row: both branches see the very same form version.
    assert form_sets(db, admin, branches.bristol, branches.bath) == {
        branches.bristol: ["daily-notes@1"],
        branches.bath: ["daily-notes@1"],
    }
    assert _counts(db)[:2] == (1, 1)
    with pytest.raises(Conflict, match="exists"):
        forms.do_create_form(db, admin, key="daily-notes", title="Again", fields=NOTES)
    # Another tenant neither sees it nor is stopped from using the same key for its own form.
    with pytest.raises(NotFound):
        forms.get_form(db, other_tenant, "daily-notes")
    assert forms.list_forms(db, other_tenant) == []
    theirs = forms.do_create_form(db, other_tenant, key="daily-notes", title="Their notes", fields=fields("x"))
    assert theirs.title == "Their notes"
    assert forms.get_form(db, admin, "daily-notes").title == "Daily notes"


def test_rule_forms_are_versioned_and_versions_never_change(db: Database, admin: Actor, branches: Branches) -> None:
    forms.do_create_form(db, admin, key="notes", title="Notes", fields=NOTES)
    edited = forms.do_update_form(db, admin, "notes", title="Visit notes", fields=[*NOTES, *fields("pain")])
    assert edited.current_version == 2
    assert [v.version for v in edited.versions] == [2, 1]
    first = forms.get_form_version(db, admin, "notes", 1)
    assert (first.title, [f["key"] for f in first.fields]) == ("Notes", ["mood", "notes"])
    assert [f["key"] for f in edited.versions[0].fields] == ["mood", "notes", "pain"]
    # Saving the same definition again makes no version.
    again = forms.do_update_form(db, admin, "notes", title="Visit notes", fields=[*NOTES, *fields("pain")])
    assert again.current_version == 2
    # An edit over a newer version someone else saved is refused, nothing written.
    before = _counts(db)
    with pytest.raises(Conflict, match="version 2, not 1"):
        forms.do_update_form(db, admin, "notes", title="Mine", fields=NOTES, expected_version=1)
    assert _counts(db) == before


def test_rule_a_branch_sees_the_forms_of_its_services(
    db: Database, admin: Actor, branches: Branches, staff: Staff
) -> None:
    _two_services(db, admin, branches)
    # The union of its services' forms.
    assert form_sets(db, admin, branches.bristol, branches.bath) == {
        branches.bristol: ["a@1", "b@1", "c@1"],
        branches.bath: ["b@1", "c@1"],
    }
    bath_coordinator = staff(Role.COORDINATOR, branches.bath)
    assert [f.key for f in forms.list_forms(db, bath_coordinator)] == ["b", "c"]
    assert [f.key for f in forms.list_forms(db, admin, branch_id=branches.bath)] == ["b", "c"]
    # A form of no service of the caller's branches is not found (not forbidden).
    with pytest.raises(NotFound):
        forms.get_form(db, bath_coordinator, "a")
    with pytest.raises(NotFound):
        forms.list_forms(db, bath_coordinator, branch_id=branches.bristol)
    # The services listed to Bath's coordinator are Bath's, and show Bath only.
    listed = forms.list_services(db, bath_coordinator)
    assert [(s.name, [b.id for b in s.branches]) for s in listed] == [("Reablement", [branches.bath])]


def test_rule_a_branch_without_a_service_sees_no_forms(db: Database, admin: Actor, branches: Branches) -> None:
    forms.do_create_form(db, admin, key="a", title="A", fields=fields("x"))
    assert form_sets(db, admin, branches.bristol) == {branches.bristol: []}


def test_rule_a_branch_needing_its_own_forms_gets_a_dedicated_service(
    db: Database, admin: Actor, branches: Branches
) -> None:
    home, reable = _two_services(db, admin, branches)
    dedicated = forms.do_create_dedicated_service(db, admin, branches.bath)
    assert dedicated.dedicated_branch is not None
    assert dedicated.dedicated_branch.id == branches.bath
    assert dedicated.name == "Bath (own forms)"
    # It starts with the forms Bath saw, and Bath sees exactly its forms from now on.
    assert dedicated.form_keys == ["b", "c"]
    assert [b.id for b in forms.get_service(db, admin, reable).branches] == [branches.bristol]
    forms.do_create_form(db, admin, key="d", title="Form d", fields=fields("x"))
    forms.do_update_service(db, admin, dedicated.id, form_keys=["b", "d"])
    assert form_sets(db, admin, branches.bristol, branches.bath) == {
        branches.bristol: ["a@1", "b@1", "c@1"],  # unaffected
        branches.bath: ["b@1", "d@1"],
    }
    # One dedicated service per branch; it serves its branch only.
    with pytest.raises(Conflict, match="already has a dedicated service"):
        forms.do_create_dedicated_service(db, admin, branches.bath)
    with pytest.raises(InvalidInput) as refused:
        forms.do_update_service(db, admin, dedicated.id, branch_ids=[branches.bath, branches.bristol])
    assert refused.value.errors[0].field == "branch_ids"
    assert refused.value.errors[0].value == branches.bristol
    assert {s.id for s in forms.list_services(db, admin)} == {home, reable, dedicated.id}


def test_rule_updating_a_form_once_applies_to_every_branch_that_sees_it(
    db: Database, admin: Actor, branches: Branches, staff: Staff
) -> None:
    _two_services(db, admin, branches)
    forms.do_update_form(db, admin, "b", title="Form b, revised", fields=fields("x", "y"))
    assert form_sets(db, admin, branches.bristol, branches.bath) == {
        branches.bristol: ["a@1", "b@2", "c@1"],
        branches.bath: ["b@2", "c@1"],
    }
    for branch in (branches.bristol, branches.bath):
        seen = {f.key: f for f in forms.list_forms(db, staff(Role.BRANCH_MANAGER, branch))}
        assert seen["b"].current_version == 2
        assert seen["b"].current is not None
        assert [x["key"] for x in seen["b"].current.fields] == ["x", "y"]


def test_rule_branches_remain_separate_for_forms(db: Database, admin: Actor, branches: Branches, staff: Staff) -> None:
    _two_services(db, admin, branches)
    bath_manager = staff(Role.BRANCH_MANAGER, branches.bath)
    before = _counts(db)
    # Its own branch's form: may read it, may not change it (403).
    assert forms.get_form(db, bath_manager, "b").key == "b"
    with pytest.raises(PermissionDenied):
        forms.do_update_form(db, bath_manager, "b", title="Mine", fields=fields("z"))
    with pytest.raises(PermissionDenied):
        forms.do_create_form(db, bath_manager, key="mine", title="Mine", fields=fields("z"))
    with pytest.raises(PermissionDenied):
        forms.do_create_dedicated_service(db, bath_manager, branches.bath)
    # Another branch's form or service: not found, for reads and writes alike.
    with pytest.raises(NotFound):
        forms.do_update_form(db, bath_manager, "a", title="Mine", fields=fields("z"))
    with pytest.raises(NotFound):
        forms.do_archive_form(db, bath_manager, "a")
    home = next(s for s in forms.list_services(db, admin) if s.name == "Home care")
    with pytest.raises(NotFound):
        forms.get_service(db, bath_manager, home.id)
    # Care workers use the mobile feed, not the staff side.
    with pytest.raises(PermissionDenied):
        forms.list_forms(db, staff(Role.CARE_WORKER, branches.bath))
    # A user granted no branch sees nothing.
    assert forms.list_forms(db, staff(Role.COORDINATOR)) == []
    assert _counts(db) == before


@pytest.mark.parametrize(
    ("definition", "field", "value"),
    [
        ([], "fields", "list of 0"),
        ([{"key": "Bad Key", "label": "x", "type": "text"}], "fields[0].key", "Bad Key"),
        ([{"key": "a", "label": "x", "type": "essay"}], "fields[0].type", "essay"),
        ([{"key": "a", "label": "", "type": "text"}], "fields[0].label", ""),
        ([{"key": "a", "label": "x", "type": "choice"}], "fields[0].choices", None),
        ([{"key": "a", "label": "x", "type": "choice", "choices": ["Yes", "yes"]}], "fields[0].choices[1]", "yes"),
        ([{"key": "a", "label": "x", "type": "text", "choices": ["A"]}], "fields[0].choices", ["A"]),
        ([{"key": "a", "label": "x", "type": "text", "required": "yes"}], "fields[0].required", "yes"),
        ([*fields("a"), *fields("a")], "fields[1].key", "a"),
        ([{"key": "a", "label": "x", "type": "text", "colour": "red"}], "fields[0].colour", "red"),
        (["text"], "fields[0]", "text"),
    ],
)
def test_invalid_definitions_name_the_field_the_value_and_the_expectation(
    db: Database, admin: Actor, branches: Branches, definition: list[Any], field: str, value: Any
) -> None:
    forms.do_create_form(db, admin, key="notes", title="Notes", fields=NOTES)
    before = _counts(db)
    attempts: tuple[Callable[[], object], ...] = (
        lambda: forms.do_create_form(db, admin, key="other", title="Other", fields=definition),
        lambda: forms.do_update_form(db, admin, "notes", title="Notes", fields=definition),
    )
    for attempt in attempts:
        with pytest.raises(InvalidInput) as refused:
            attempt()
        problem = next(e for e in refused.value.errors if e.field == field)
        assert problem.value == value
        assert problem.reason
    assert _counts(db) == before
    assert forms.get_form(db, admin, "notes").current_version == 1


def test_forms_are_archived_not_deleted(db: Database, admin: Actor, branches: Branches) -> None:
    _, reable_id = _two_services(db, admin, branches)
    archived = forms.do_archive_form(db, admin, "b")
    assert archived.archived
    assert form_sets(db, admin, branches.bristol, branches.bath) == {
        branches.bristol: ["a@1", "c@1"],
        branches.bath: ["c@1"],
    }
    assert [f.key for f in forms.list_forms(db, admin)] == ["a", "c"]
    assert [f.key for f in forms.list_forms(db, admin, include_archived=True)] == ["a", "b", "c"]
    with pytest.raises(Conflict, match="archived"):
        forms.do_update_form(db, admin, "b", title="B", fields=fields("q"))
    with pytest.raises(InvalidInput):
        forms.do_create_service(db, admin, name="New", form_keys=["b"])
    # Editing a service's forms keeps an archived form in it, so a restored form is back where it was.
    forms.do_update_service(db, admin, reable_id, form_keys=["c"])
    forms.do_restore_form(db, admin, "b")
    assert form_sets(db, admin, branches.bath) == {branches.bath: ["b@1", "c@1"]}
    # Services too: archived, their branches no longer see their forms through them.
    forms.do_archive_service(db, admin, reable_id)
    assert form_sets(db, admin, branches.bath) == {branches.bath: []}
    assert forms.get_service(db, admin, reable_id).archived


def test_every_change_is_audited_with_its_outbox_event(db: Database, admin: Actor, branches: Branches) -> None:
    forms.do_create_form(db, admin, key="notes", title="Notes", fields=NOTES)
    forms.do_update_form(db, admin, "notes", title="Notes", fields=[*NOTES, *fields("pain")])
    service = forms.do_create_service(db, admin, name="Home care", form_keys=["notes"], branch_ids=[branches.bristol])
    forms.do_update_service(db, admin, service.id, branch_ids=[branches.bristol, branches.bath])
    forms.do_archive_form(db, admin, "notes")
    with db.read() as session:
        audits = session.execute(
            select(AuditEntry.entity, AuditEntry.action, AuditEntry.actor_label, AuditEntry.changes)
            .where(AuditEntry.entity.in_(["form", "service"]))
            .order_by(AuditEntry.id)
        ).all()
        topics = list(
            session.scalars(select(OutboxEvent.topic).where(OutboxEvent.topic.like("forms.%")).order_by(OutboxEvent.id))
        )
    assert [(a.entity, a.action) for a in audits] == [
        ("form", "create"),
        ("form", "update"),
        ("service", "create"),
        ("service", "update"),
        ("form", "archive"),
    ]
    assert {a.actor_label for a in audits} == {"admin"}
    assert audits[1].changes["version"] == [1, 2]
    assert audits[1].changes["fields_added"] == [None, ["pain"]]
    assert audits[3].changes["branch_ids"] == [[branches.bristol], sorted([branches.bristol, branches.bath])]
    assert topics == [
        "forms.form.created",
        "forms.form.updated",
        "forms.service.created",
        "forms.service.updated",
        "forms.form.archived",
    ]


def test_import_is_all_or_nothing_and_versions_what_changed(db: Database, admin: Actor, branches: Branches) -> None:
    forms.do_create_form(db, admin, key="notes", title="Notes", fields=NOTES)
    before = _counts(db)
    bad = {
        "forms": [
            {"key": "new-one", "title": "New", "fields": fields("x")},
            {"key": "notes", "title": "", "fields": NOTES},
        ]
    }
    with pytest.raises(InvalidInput) as refused:
        forms.do_import_forms(db, admin, bad)
    assert [(e.index, e.record_id, e.field) for e in refused.value.errors] == [(1, "notes", "title")]
    assert _counts(db) == before
    done = forms.do_import_forms(
        db,
        admin,
        {
            "forms": [
                {"key": "notes", "title": "Notes", "fields": NOTES},
                {"key": "falls", "title": "Falls check", "fields": fields("fell")},
                {"key": "meds", "title": "Medication", "fields": fields("given")},
            ]
        },
    )
    assert [o.as_dict()["outcome"] for o in done] == ["unchanged", "created", "created"]
    again = forms.do_import_forms(
        db, admin, {"forms": [{"key": "meds", "title": "Medication", "fields": fields("given", "time")}]}
    )
    assert [(o.key, o.outcome, o.version) for o in again] == [("meds", "updated", 2)]
    assert forms.export_forms(db, admin)["forms"][1]["key"] == "meds"


def test_services_refuse_unknown_forms_and_other_tenants_branches(
    db: Database, admin: Actor, branches: Branches, other_tenant: Actor
) -> None:
    forms.do_create_form(db, admin, key="a", title="A", fields=fields("x"))
    with pytest.raises(InvalidInput) as refused:
        forms.do_create_service(db, admin, name="S", form_keys=["a", "nope"], branch_ids=[branches.bath])
    assert [(e.field, e.value) for e in refused.value.errors] == [("forms", "nope")]
    with pytest.raises(InvalidInput) as refused:
        forms.do_create_service(db, other_tenant, name="S", branch_ids=[branches.bath])
    assert [(e.field, e.value) for e in refused.value.errors] == [("branch_ids", branches.bath)]
    with pytest.raises(NotFound):
        forms.do_create_dedicated_service(db, other_tenant, branches.bath)
    forms.do_create_service(db, admin, name="S", form_keys=["a"])
    with pytest.raises(Conflict):
        forms.do_create_service(db, admin, name="S")
    assert forms.list_services(db, other_tenant) == []
