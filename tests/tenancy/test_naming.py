"""The naming convention of an added environment (pure): prefixes, formats, and names that never collide."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from carehub.publishing.domain.states import new_username, username_base
from carehub.tenancy.domain.naming import (
    DEFAULT_BRANCH_FORMAT,
    DEFAULT_USERNAME_FORMAT,
    DEFAULT_VISIT_ID_FORMAT,
    FORMATS,
    MAX_PREFIX,
    MAX_USERNAME,
    PRIMARY_USERNAME,
    Convention,
    format_problems,
    new_prefixed_username,
    prefix_key,
    prefix_problems,
    too_long,
)

ALNUM = string.ascii_letters + string.digits
PRIMARY_USERNAME_SHAPE = re.compile(r"[a-z0-9]+")

prefixes = st.text(ALNUM, min_size=1, max_size=MAX_PREFIX)
short_prefixes = st.text(ALNUM, min_size=1, max_size=12)
names = st.text(st.characters(blacklist_categories=["Cs"]), max_size=30)
# Usernames of the primary environment, as publishing makes them from any first and last names.
primary_usernames = st.builds(
    new_username,
    names,
    names,
    st.sets(st.sampled_from(["worker", "aoneil", "aoneil2", "wmobile", "jsmith"])),
)
username_literals = st.text("abcXYZ019._-", max_size=4)


def _username_format(before: str, between: str, after: str, *, prefix_first: bool) -> str:
    middle = ("{prefix}", "{username}") if prefix_first else ("{username}", "{prefix}")
    return before + middle[0] + between + middle[1] + after


# Username formats the rules accept: a separator right next to {prefix}, between it and {username}.
username_formats = st.builds(
    lambda before, sep, rest, after, first: _username_format(
        before, sep + rest if first else rest + sep, after, prefix_first=first
    ),
    username_literals,
    st.sampled_from("._-"),
    username_literals,
    username_literals,
    st.booleans(),
).filter(lambda f: not format_problems("username_format", f))
free_literals = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="{}"), max_size=5)
branch_formats = st.builds(
    lambda before, between, after, first: (
        before + ("{prefix}" + between + "{branch}" if first else "{branch}" + between + "{prefix}") + after
    ),
    free_literals,
    free_literals,
    free_literals,
    st.booleans(),
).filter(lambda f: not format_problems("branch_format", f))


# --- Prefixes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["SouthWest", "sw", "A", "North2", "2024", "x" * MAX_PREFIX])
def test_letters_and_digits_make_a_valid_prefix(prefix: str) -> None:
    assert prefix_problems(prefix) == []


@pytest.mark.parametrize(
    "prefix",
    ["", "South West", "South-West", "SW.", "Süd", "SW\n", " SW", "x" * (MAX_PREFIX + 1), "١٢", "SW{prefix}"],
)
def test_anything_but_letters_and_digits_is_refused(prefix: str) -> None:
    [problem] = prefix_problems(prefix)
    assert (problem.field, problem.value, problem.code) == ("prefix", prefix, "invalid")
    assert "letters" in problem.expected
    assert "digits" in problem.expected


@given(st.text(max_size=45))
def test_a_prefix_is_valid_exactly_when_it_is_1_to_40_ascii_letters_and_digits(prefix: str) -> None:
    valid = 1 <= len(prefix) <= MAX_PREFIX and all(ch in ALNUM for ch in prefix)
    assert (prefix_problems(prefix) == []) == valid


@given(prefixes, st.sampled_from([str.upper, str.lower, str.swapcase, str.title, lambda s: s]))
def test_a_prefix_taken_in_any_case_is_refused(prefix: str, variant: object) -> None:
    assert callable(variant)
    again = variant(prefix)
    [problem] = prefix_problems(again, {prefix_key(prefix)})
    assert (problem.field, problem.value, problem.code) == ("prefix", again, "prefix_taken")


@given(prefixes, prefixes)
def test_prefixes_that_differ_other_than_by_case_are_both_allowed(a: str, b: str) -> None:
    taken = prefix_problems(b, {prefix_key(a)})
    assert (taken == []) == (a.lower() != b.lower())


# --- Formats ----------------------------------------------------------------------------------


def test_the_default_formats_are_valid_and_apply_as_documented() -> None:
    c = Convention("SouthWest")
    assert c.problems() == []
    assert (c.branch_format, c.username_format, c.visit_id_format) == (
        DEFAULT_BRANCH_FORMAT,
        DEFAULT_USERNAME_FORMAT,
        DEFAULT_VISIT_ID_FORMAT,
    )
    assert c.branch("Bristol") == "SouthWest - Bristol"
    assert c.username("jsmith") == "SouthWest.jsmith"
    assert c.visit_id("V1") == "SouthWest-V1"
    assert c.visit_id_parts() == ("SouthWest-", "")


def test_custom_formats_apply_the_prefix_where_they_say() -> None:
    c = Convention("SW", "{branch} ({prefix})", "{username}_{prefix}", "{id}/{prefix}")
    assert c.problems() == []
    assert c.branch("Bristol") == "Bristol (SW)"
    assert c.username("jsmith") == "jsmith_SW"
    assert c.visit_id("V1") == "V1/SW"
    assert c.visit_id_parts() == ("", "/SW")


def test_names_holding_braces_or_placeholders_are_put_in_literally() -> None:
    c = Convention("SW")
    assert c.branch("{prefix} {branch}") == "SW - {prefix} {branch}"
    assert c.visit_id("{id}") == "SW-{id}"


@pytest.mark.parametrize(
    ("field", "fmt"),
    [
        ("branch_format", "{branch}"),  # no prefix
        ("branch_format", "{prefix}"),  # no branch
        ("branch_format", "{prefix} - {branch} {prefix}"),  # prefix twice
        ("branch_format", "{prefix} - {branch} {branch}"),  # branch twice
        ("branch_format", "{prefix} - {name}"),  # another placeholder
        ("branch_format", "{prefix} - {username}"),  # another field's placeholder
        ("branch_format", "{prefix} {- {branch}"),  # a stray brace
        ("branch_format", "{prefix} - {branch}}"),
        ("branch_format", "{prefix}\t{branch}"),  # a control character
        ("branch_format", "{prefix} - {branch}" + "x" * 100),  # too long
        ("branch_format", "{prefix}{branch}"),  # "ab" + "c" would equal "a" + "bc"
        ("branch_format", "{prefix}x - {branch}"),  # a letter right after the prefix
        ("branch_format", "{branch} -2{prefix}"),  # a digit right before the prefix
        ("visit_id_format", "{prefix}{id}"),
        ("visit_id_format", "{id}{prefix}"),
        ("visit_id_format", "{prefix}-{branch}"),
        ("username_format", "{prefix}{username}"),  # no separator at all
        ("username_format", "{prefix}{username}."),  # a separator, but not between the two
        ("username_format", "x.{prefix}{username}"),
        ("username_format", "{prefix} {username}"),  # a space is no username character
        ("username_format", "{prefix}@{username}"),
        ("username_format", "{prefix}a.{username}"),
        ("username_format", "{prefix}.{id}"),
    ],
)
def test_formats_that_cannot_keep_names_apart_are_refused(field: str, fmt: str) -> None:
    [problem] = format_problems(field, fmt)
    assert (problem.field, problem.value) == (field, fmt)
    assert problem.expected


@pytest.mark.parametrize(
    ("field", "fmt"),
    [
        ("branch_format", "{prefix} - {branch}"),
        ("branch_format", "{branch} ({prefix})"),
        ("branch_format", "[{prefix}] {branch}"),
        ("branch_format", "{prefix}: {branch}"),
        ("visit_id_format", "{prefix}-{id}"),
        ("visit_id_format", "{id}.{prefix}"),
        ("username_format", "{prefix}.{username}"),
        ("username_format", "{prefix}_{username}"),
        ("username_format", "{username}-{prefix}"),
        ("username_format", "pp.{prefix}.x{username}2"),
    ],
)
def test_formats_that_keep_names_apart_are_accepted(field: str, fmt: str) -> None:
    assert format_problems(field, fmt) == []


def test_every_problem_of_a_convention_is_reported_at_once() -> None:
    c = Convention("South West", "{branch}", "{prefix}{username}", "{id}")
    assert [p.field for p in c.problems()] == ["prefix", "branch_format", "username_format", "visit_id_format"]


def test_a_prefix_too_long_for_every_username_to_fit_is_refused() -> None:
    room = MAX_USERNAME - PRIMARY_USERNAME - 1  # less the "." of the default format
    assert Convention("x" * room).problems() == []
    [problem] = Convention("x" * (room + 1)).problems()
    assert problem.field == "username_format"
    assert Convention("x" * (room + 1), username_format="{username}.{prefix}").problems() != []


def test_names_too_long_for_their_columns_are_reported() -> None:
    c = Convention("SouthWest")
    assert too_long(c, branch="Bristol", username="jsmith", visit_id="V1") == []
    found = too_long(c, branch="b" * 200, username="u" * 60, visit_id="v" * 100)
    assert [p.field for p in found] == ["branch_format", "username_format", "visit_id_format"]
    assert found[0].value == "SouthWest - " + "b" * 200


def test_a_new_worker_gets_the_first_free_prefixed_username() -> None:
    c = Convention("SW")
    assert new_prefixed_username(c, "jsmith", set()) == "SW.jsmith"
    assert new_prefixed_username(c, "jsmith", {"SW.jsmith", "SW.jsmith2"}) == "SW.jsmith3"
    assert new_prefixed_username(c, "jsmith", {"jsmith", "sw.jsmith"}) == "SW.jsmith"


# --- Properties -------------------------------------------------------------------------------


@given(names, names, st.sets(st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)))
def test_primary_usernames_are_lower_case_ascii_letters_and_digits(first: str, last: str, taken: set[str]) -> None:
    assert PRIMARY_USERNAME_SHAPE.fullmatch(username_base(first, last))
    made = new_username(first, last, taken)
    assert PRIMARY_USERNAME_SHAPE.fullmatch(made)
    assert made not in taken


@given(prefixes, username_formats, primary_usernames, primary_usernames)
def test_a_prefixed_username_never_equals_a_primary_username(
    prefix: str, fmt: str, source_username: str, primary_username: str
) -> None:
    c = Convention(prefix, username_format=fmt)
    prefixed = c.username(source_username)
    assert prefixed != primary_username
    assert not PRIMARY_USERNAME_SHAPE.fullmatch(prefixed)
    assert set(prefixed) & set("._-")


@given(prefixes, username_formats, names, names, st.sets(st.text(ALNUM + "._-", max_size=12), max_size=5))
def test_a_new_worker_s_prefixed_username_is_free_and_never_a_primary_one(
    prefix: str, fmt: str, first: str, last: str, taken: set[str]
) -> None:
    c = Convention(prefix, username_format=fmt)
    made = new_prefixed_username(c, username_base(first, last), taken)
    assert made not in taken
    assert not PRIMARY_USERNAME_SHAPE.fullmatch(made)


@given(
    short_prefixes,
    short_prefixes,
    branch_formats,
    username_formats,
    st.sampled_from([DEFAULT_VISIT_ID_FORMAT, "{id}.{prefix}", "V/{prefix}/{id}"]),
    names,
    names,
    primary_usernames,
    primary_usernames,
)
def test_two_different_prefixes_never_give_equal_names_under_one_convention(
    a: str,
    b: str,
    branch_format: str,
    username_format: str,
    visit_id_format: str,
    name_a: str,
    name_b: str,
    user_a: str,
    user_b: str,
) -> None:
    assume(prefix_key(a) != prefix_key(b))
    ca = Convention(a, branch_format, username_format, visit_id_format)
    cb = Convention(b, branch_format, username_format, visit_id_format)
    assert ca.branch(name_a) != cb.branch(name_b)
    assert ca.visit_id(name_a) != cb.visit_id(name_b)
    assert ca.username(user_a) != cb.username(user_b)


@given(short_prefixes, short_prefixes, names, names)
def test_with_the_default_convention_names_of_two_prefixes_never_meet(a: str, b: str, x: str, y: str) -> None:
    """Including names that already look prefixed: branch "North - Bristol" of SW is "SW - North - Bristol"."""
    assume(prefix_key(a) != prefix_key(b))
    ca, cb = Convention(a), Convention(b)
    assert ca.branch(x) != cb.branch(y)
    assert ca.branch(x) != cb.branch(cb.branch(y))
    assert ca.visit_id(x) != cb.visit_id(y)


@given(prefixes, branch_formats, names, names)
def test_one_convention_keeps_distinct_names_distinct(prefix: str, fmt: str, x: str, y: str) -> None:
    c = Convention(prefix, branch_format=fmt)
    assert (c.branch(x) == c.branch(y)) == (x == y)
    assert (c.visit_id(x) == c.visit_id(y)) == (x == y)
    assert (c.username(x) == c.username(y)) == (x == y)


@given(st.sampled_from(sorted(FORMATS)), st.text(max_size=30))
def test_any_accepted_format_applies_to_exactly_one_prefix_and_one_value(field: str, fmt: str) -> None:
    """Whatever text is offered as a format, an accepted one puts the prefix and the value in once each."""
    if format_problems(field, fmt):
        return
    own = FORMATS[field]
    before, _, after = fmt.replace("{prefix}", "\x00").partition("{" + own + "}")
    assert "\x00" in before + after
    c = Convention("P1", **{field: fmt})
    applied = {"branch_format": c.branch, "username_format": c.username, "visit_id_format": c.visit_id}[field]
    assert applied("VALUE") == (before + "VALUE" + after).replace("\x00", "P1")
