"""Forms and services pages in Chromium: the editor and its version history, services, a branch's own forms."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from carehub import bootstrap
from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import Actor
from carehub.tenancy.forms import service as forms
from tests.conftest import PASSWORD
from tests.web.conftest import SCREENSHOTS, assert_not_reloaded, mark_page, screenshot

pytestmark = pytest.mark.browser


def _fits(page: Page) -> None:
    """Nothing wider than the window (no sideways scrolling)."""
    width = page.evaluate("document.documentElement.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_an_administrator_creates_a_form_and_edits_it_into_a_new_version(signed_in: Page) -> None:
    page = signed_in
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Forms").click()
    expect(page.get_by_role("heading", name="Forms", level=1)).to_be_visible()
    page.get_by_test_id("new-form").click()
    page.get_by_label("Key", exact=True).fill("daily-notes")
    page.get_by_label("Title").fill("Daily notes")
    page.get_by_label("Field 1 key").fill("mood")
    page.get_by_label("Field 1 label").fill("Mood today")
    page.get_by_label("Field 1 type").select_option("choice")
    # A choice field without choices is refused next to its choices; nothing is saved.
    page.get_by_test_id("save-form").click()
    choices = page.get_by_label("Field 1 choices (choice fields: one per line)")
    expect(page.locator("#f-0-choices-error")).to_contain_text("a list of 1 to 100 choices")
    expect(choices).to_have_attribute("aria-invalid", "true")
    choices.fill("Good\nLow")
    page.get_by_test_id("add-field").click()
    page.get_by_label("Field 2 key").fill("signed")
    page.get_by_label("Field 2 label").fill("Client signature")
    page.get_by_label("Field 2 type").select_option("signature")
    page.get_by_test_id("save-form").click()
    expect(page.get_by_test_id("notice")).to_contain_text("version 1")
    expect(page.get_by_test_id("versions")).to_contain_text("Version 1")
    row = page.locator("li[data-field='mood']")
    row.get_by_test_id("edit-field").click()
    row.get_by_label("Field 1 label").fill("How is the client today?")
    row.get_by_test_id("save-field").click()
    expect(page.get_by_test_id("notice")).to_contain_text("version 2")
    versions = page.get_by_test_id("versions")
    expect(versions.locator("li")).to_have_count(2)
    screenshot(page, "forms-editor-laptop")
    versions.get_by_role("link", name="Version 1").click()
    expect(page.get_by_test_id("fields-table")).to_contain_text("Mood today")
    page.goto("/forms")
    expect(
        page.get_by_test_id("forms-table").locator("tr[data-form='daily-notes'] [data-testid=form-version]")
    ).to_have_text("2")


def _visit_notes(container: bootstrap.Container, *fields: dict[str, Any]) -> Actor:
    """Form ``notes`` ("Visit notes") with these fields, made by the admin (returned)."""
    admin = auth.authenticate(container.db, "admin", PASSWORD)
    forms.do_create_form(container.db, admin, key="notes", title="Visit notes", fields=list(fields))
    return admin


def test_fields_are_added_reordered_and_refused_in_place(signed_in: Page, container: bootstrap.Container) -> None:
    admin = _visit_notes(
        container, {"key": "mood", "label": "Mood", "type": "text"}, {"key": "pain", "label": "Pain", "type": "number"}
    )
    page = signed_in
    page.goto("/forms/notes")
    mark_page(page)
    fields = page.get_by_test_id("field-list").locator("li")
    # Add a field: a new version, without leaving or reloading the page.
    page.get_by_test_id("add-field").click()
    page.get_by_label("New field key").fill("falls")
    page.get_by_label("New field label").fill("Any falls?")
    page.get_by_label("New field type").select_option("yes-no")
    page.get_by_test_id("save-new-field").click()
    expect(page.get_by_test_id("current-version")).to_have_text("2")
    expect(fields).to_have_count(3)
    # Reorder: the new field up to the top, one place at a time, each a version.
    page.get_by_role("button", name="Move Any falls? up").click()
    expect(page.get_by_test_id("current-version")).to_have_text("3")
    page.get_by_role("button", name="Move Any falls? up").click()
    expect(page.get_by_test_id("current-version")).to_have_text("4")
    expect(fields.first).to_have_attribute("data-field", "falls")
    expect(page.get_by_role("button", name="Move Any falls? up")).to_be_disabled()
    # A refusal: the problem next to the field's input, with what was typed kept; nothing saved.
    row = page.locator("li[data-field='pain']")
    row.get_by_test_id("edit-field").click()
    row.get_by_label("Field 3 key").fill("mood")
    row.get_by_label("Field 3 label").fill("")
    row.get_by_test_id("save-field").click()
    expect(row.locator("#e-pain-key-error")).to_contain_text("a key no other field of this form has")
    expect(row.locator("#e-pain-label-error")).to_contain_text("a label of 1 to 200 characters")
    expect(row.get_by_label("Field 3 key")).to_have_value("mood")
    expect(page.get_by_test_id("current-version")).to_have_text("4")
    # The caret in the focused input stays: hiding it injects a style, which the pages' CSP refuses.
    page.screenshot(path=SCREENSHOTS / "forms-field-error-laptop.png", full_page=True, caret="initial")
    row.get_by_label("Field 3 key").fill("pain-level")
    row.get_by_label("Field 3 label").fill("Pain level")
    row.get_by_test_id("save-field").click()
    expect(page.get_by_test_id("current-version")).to_have_text("5")
    expect(page.locator("li[data-field='pain-level']")).to_contain_text("Pain level")
    # Remove one: version 6 keeps two fields.
    page.get_by_role("button", name="Remove Mood").click()
    expect(page.get_by_test_id("current-version")).to_have_text("6")
    expect(fields).to_have_count(2)
    assert_not_reloaded(page)
    stored = forms.get_form(container.db, admin, "notes")
    assert stored.current is not None
    assert [f["key"] for f in stored.current.fields] == ["falls", "pain-level"]


def test_services_group_forms_and_a_branch_gets_its_own(signed_in: Page, container: bootstrap.Container) -> None:
    admin = auth.authenticate(container.db, "admin", PASSWORD)
    for key, title in (("notes", "Visit notes"), ("falls", "Falls check")):
        forms.do_create_form(
            container.db, admin, key=key, title=title, fields=[{"key": "x", "label": "X", "type": "text"}]
        )
    page = signed_in
    page.goto("/forms/services")
    new = page.get_by_test_id("new-service")
    new.get_by_label("Name").fill("Home care")
    new.get_by_label("Visit notes").check()
    new.get_by_label("Bristol").check()
    new.get_by_label("Bath").check()
    new.get_by_role("button", name="Create service").click()
    expect(page.get_by_test_id("notice")).to_contain_text("every branch of this service")
    page.get_by_test_id("service-editor").get_by_label("Falls check").check()
    page.get_by_test_id("save-service").click()
    expect(page.get_by_test_id("notice")).to_be_visible()
    page.goto("/forms/services")
    expect(page.get_by_test_id("services-table")).to_contain_text("Falls check")
    own = page.get_by_test_id("dedicated-service")
    own.get_by_label("Branch").select_option(label="Bath")
    own.get_by_role("button", name="Create dedicated service").click()
    expect(page.get_by_role("heading", name="Bath (own forms)")).to_be_visible()
    page.goto("/forms/services")
    branches = page.get_by_test_id("branches-table")
    expect(branches.locator("tr", has_text="Bath")).to_contain_text("Bath (own forms)")
    expect(branches.locator("tr", has_text="Bristol")).to_contain_text("Home care")
    screenshot(page, "services-laptop")


def test_forms_and_services_pages_fit_a_phone(signed_in_phone: Page, container: bootstrap.Container) -> None:
    _visit_notes(
        container, {"key": "mood", "label": "Mood", "type": "choice", "choices": ["Good", "Low"], "required": True}
    )
    page = signed_in_phone
    for path in ("/forms", "/forms/notes", "/forms/services"):
        page.goto(path)
        expect(page.locator("h1")).to_be_visible()
        _fits(page)
    page.goto("/forms/notes")
    screenshot(page, "forms-editor-phone")
