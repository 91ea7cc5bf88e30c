"""The pure rules of form definitions: validation and the union of a branch's services (property tests)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from carehub.tenancy.forms.domain.definitions import (
    FIELD_TYPES,
    field_changes,
    fields_json,
    form_ref,
    forms_of_branches,
    key_problems,
    parse_fields,
)

keys = st.text("abcdefghij_0123", min_size=0, max_size=12).map(lambda t: "k" + t)
labels = st.text(st.characters(categories=("L", "N", "Zs")), min_size=1, max_size=40).filter(lambda s: s.strip())


@st.composite
def definitions(draw: st.DrawFn) -> list[dict[str, Any]]:
    chosen = draw(st.lists(keys, min_size=1, max_size=12, unique=True))
    out = []
    for key in chosen:
        kind = draw(st.sampled_from(FIELD_TYPES))
        item: dict[str, Any] = {
            "key": key,
            "label": draw(labels).strip(),
            "type": kind,
            "required": draw(st.booleans()),
        }
        if kind == "choice":
            item["choices"] = draw(
                st.lists(st.sampled_from(["Yes", "No", "Maybe", "Later", "Never"]), min_size=1, unique=True)
            )
        out.append(item)
    return out


@settings(max_examples=60, deadline=None)
@given(definitions())
def test_a_valid_definition_is_kept_exactly_in_its_order(definition: list[dict[str, Any]]) -> None:
    parsed, problems = parse_fields(definition)
    assert problems == []
    assert fields_json(parsed) == definition
    assert field_changes(definition, definition) == {"added": [], "removed": [], "changed": [], "reordered": []}


@settings(max_examples=60, deadline=None)
@given(definitions(), st.sampled_from(["key", "label", "type"]))
def test_breaking_one_field_names_that_field(definition: list[dict[str, Any]], attribute: str) -> None:
    broken = [dict(f) for f in definition]
    broken[-1][attribute] = "" if attribute != "type" else "essay"
    parsed, problems = parse_fields(broken)
    assert parsed == ()
    assert [p.field for p in problems] == [f"fields[{len(broken) - 1}].{attribute}"]
    assert problems[0].value == broken[-1][attribute]


@given(
    st.dictionaries(st.integers(1, 8), st.sets(st.integers(1, 6), max_size=4), max_size=6),
    st.dictionaries(st.integers(1, 6), st.sets(st.integers(1, 20), max_size=6), max_size=6),
)
def test_a_branch_sees_the_union_of_its_services_forms(
    branch_services: dict[int, set[int]], service_forms: dict[int, set[int]]
) -> None:
    seen = forms_of_branches(branch_services, service_forms)
    for branch, services in branch_services.items():
        for service in services:
            assert service_forms.get(service, set()) <= seen[branch]
        assert all(any(f in service_forms.get(s, set()) for s in services) for f in seen[branch])


def test_form_refs_and_reserved_keys() -> None:
    assert form_ref("daily-notes", 3) == "daily-notes@3"
    assert key_problems("new")
    assert key_problems("Daily")
    assert not key_problems("daily-notes")
