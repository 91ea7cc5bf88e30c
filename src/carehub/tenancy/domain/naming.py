"""The naming convention of an added environment: its prefix and how it applies to names (pure).

An added environment has a prefix, letters and digits only, unique in Carehub
regardless of case. The tenant sets, when connecting it, three formats:

- branch names, default ``{prefix} - {branch}`` ("SouthWest - Bristol");
- worker usernames, default ``{prefix}.{username}`` ("SouthWest.jsmith");
- visit IDs, default ``{prefix}-{id}`` ("SouthWest-V1").

Each format holds ``{prefix}`` and its own placeholder exactly once, with
text between them whose character next to ``{prefix}`` is not a letter or a
digit: a prefix is letters and digits only, so that character ends it, and two
prefixes that differ never give the same name under one format, whatever the
names put in (``{prefix}{branch}`` would make "ab" + "c" equal "a" + "bc").
A username format must also hold a separator (``.``, ``-`` or ``_``): usernames
of the primary environment are lower-case letters and digits only, so a
prefixed username can never equal one of them. The primary environment has no
convention: its names are published exactly as the roster sends them.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass

DEFAULT_BRANCH_FORMAT = "{prefix} - {branch}"
DEFAULT_USERNAME_FORMAT = "{prefix}.{username}"
DEFAULT_VISIT_ID_FORMAT = "{prefix}-{id}"
MAX_PREFIX = 40
MAX_FORMAT = 100
MAX_BRANCH = 200
MAX_USERNAME = 60
PRIMARY_USERNAME = 30  # the longest username publishing makes (publishing.domain.states.MAX_USERNAME)
MAX_VISIT_ID = 100
_PREFIX = re.compile(r"[A-Za-z0-9]+")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_USERNAME_TEXT = re.compile(r"[A-Za-z0-9._-]*")
USERNAME_SEPARATORS = frozenset("._-")


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a value was refused: the field, the value and what was expected."""

    field: str
    value: str
    expected: str
    code: str = "invalid"


def prefix_key(prefix: str) -> str:
    """The prefix as compared for uniqueness: case does not count."""
    return prefix.lower()


def prefix_problems(prefix: str, taken_keys: Collection[str] = ()) -> list[Problem]:
    """Letters and digits only, at most 40, and no other environment's prefix regardless of case."""
    if not _PREFIX.fullmatch(prefix) or len(prefix) > MAX_PREFIX:
        return [Problem("prefix", prefix, f"1 to {MAX_PREFIX} letters (A-Z, a-z) and digits, nothing else")]
    if prefix_key(prefix) in taken_keys:
        return [
            Problem(
                "prefix",
                prefix,
                "a prefix no other environment uses, regardless of case",
                code="prefix_taken",
            )
        ]
    return []


FORMATS = {"branch_format": "branch", "username_format": "username", "visit_id_format": "id"}


def format_problems(field: str, fmt: str) -> list[Problem]:
    """``fmt`` holds ``{prefix}`` and its field's placeholder exactly once, and no other braces."""
    own = FORMATS[field]
    expected = f"text with {{prefix}} and {{{own}}} once each, no other braces, at most {MAX_FORMAT} characters"
    names = _PLACEHOLDER.findall(fmt)
    literal = _PLACEHOLDER.sub("", fmt)
    if (
        len(fmt) > MAX_FORMAT
        or sorted(names) != sorted(["prefix", own])
        or "{" in literal
        or "}" in literal
        or any(ord(ch) < 32 for ch in fmt)
    ):
        return [Problem(field, fmt, expected)]
    if not _separated(fmt, own):
        return [
            Problem(
                field,
                fmt,
                f"a separator (not a letter or digit) between {{prefix}} and {{{own}}}, right next to {{prefix}}, "
                "so that names of two prefixes never meet",
            )
        ]
    if field == "username_format" and (not _USERNAME_TEXT.fullmatch(literal) or not set(literal) & USERNAME_SEPARATORS):
        return [
            Problem(
                field,
                fmt,
                "letters, digits and at least one separator (. - _) around {prefix} and {username}, "
                "so a prefixed username never equals a primary one",
            )
        ]
    return []


def _separated(fmt: str, own: str) -> bool:
    """The text between ``{prefix}`` and ``{own}`` is not empty and does not go on with a letter or digit."""
    prefix_at, own_at = fmt.index("{prefix}"), fmt.index("{" + own + "}")
    if prefix_at < own_at:
        between = fmt[prefix_at + len("{prefix}") : own_at]
        return bool(between) and not between[0].isalnum()
    between = fmt[own_at + len(own) + 2 : prefix_at]
    return bool(between) and not between[-1].isalnum()


@dataclass(frozen=True, slots=True)
class Convention:
    """An added environment's prefix and formats; applies them to branch names, usernames and visit IDs."""

    prefix: str
    branch_format: str = DEFAULT_BRANCH_FORMAT
    username_format: str = DEFAULT_USERNAME_FORMAT
    visit_id_format: str = DEFAULT_VISIT_ID_FORMAT

    def problems(self, taken_keys: Collection[str] = ()) -> list[Problem]:
        """Every problem of the prefix and formats (empty when valid)."""
        found = prefix_problems(self.prefix, taken_keys)
        for field in FORMATS:
            found += format_problems(field, getattr(self, field))
        if not found and len(self.username("")) + PRIMARY_USERNAME > MAX_USERNAME:
            found.append(
                Problem(
                    "username_format",
                    self.username_format,
                    f"with the prefix, at most {MAX_USERNAME - PRIMARY_USERNAME} characters besides {{username}}, "
                    f"so that every username (up to {PRIMARY_USERNAME} characters) fits in {MAX_USERNAME}",
                )
            )
        return found

    def branch(self, name: str) -> str:
        """The published name of a roster branch."""
        return _apply(self.branch_format, self.prefix, "branch", name)

    def username(self, username: str) -> str:
        """The prefixed form of a username."""
        return _apply(self.username_format, self.prefix, "username", username)

    def visit_id(self, external_id: str) -> str:
        """The published ID of a roster visit."""
        return _apply(self.visit_id_format, self.prefix, "id", external_id)

    def branch_parts(self) -> tuple[str, str]:
        """The text before and after the branch's own name, for building it in SQL."""
        return _parts(self.branch_format, self.prefix, "branch")

    def visit_id_parts(self) -> tuple[str, str]:
        """The text before and after the visit's own ID, for building it in SQL."""
        return _parts(self.visit_id_format, self.prefix, "id")

    def username_candidates(self, base: str) -> Iterator[str]:
        """Prefixed usernames to try for a new worker: the base, then the base with 2, 3 ..."""
        yield self.username(base)
        n = 2
        while True:
            yield self.username(f"{base}{n}")
            n += 1


def _parts(fmt: str, prefix: str, own: str) -> tuple[str, str]:
    with_prefix = fmt.replace("{prefix}", prefix)
    before, _, after = with_prefix.partition("{" + own + "}")
    return before, after


def _apply(fmt: str, prefix: str, own: str, value: str) -> str:
    before, after = _parts(fmt, prefix, own)
    return before + value + after


def new_prefixed_username(convention: Convention, base: str, taken: Collection[str]) -> str:
    """The first prefixed candidate for ``base`` that is not in ``taken``."""
    for candidate in convention.username_candidates(base):
        if candidate not in taken:
            return candidate
    raise AssertionError("unreachable: candidates never run out")  # pragma: no cover


def too_long(convention: Convention, *, branch: str = "", username: str = "", visit_id: str = "") -> list[Problem]:
    """Names that the convention would make longer than their columns hold."""
    found = []
    if branch and len(convention.branch(branch)) > MAX_BRANCH:
        found.append(Problem("branch_format", convention.branch(branch), f"at most {MAX_BRANCH} characters"))
    if username and len(convention.username(username)) > MAX_USERNAME:
        found.append(Problem("username_format", convention.username(username), f"at most {MAX_USERNAME} characters"))
    if visit_id and len(convention.visit_id(visit_id)) > MAX_VISIT_ID:
        found.append(Problem("visit_id_format", convention.visit_id(visit_id), f"at most {MAX_VISIT_ID} characters"))
    return found
