"""Form definitions: an ordered list of fields, validated with a specific problem for each mistake.

Pure: no I/O, no frameworks. A definition is what an administrator sends
(usually JSON): ``[{"key": "pain", "label": "Pain today?", "type": "yes-no",
"required": true}, ...]``. :func:`parse_fields` turns it into
:class:`FieldDef` values or reports every problem (which field, which value,
what was expected).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FIELD_TYPES = ("text", "number", "yes-no", "choice", "date", "signature")
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,59}$")
MAX_FIELDS = 200
MAX_CHOICES = 100
MAX_LABEL = 200
MAX_TITLE = 200
MAX_NAME = 200
FIELD_ATTRIBUTES = frozenset({"key", "label", "type", "required", "choices"})
RESERVED_KEYS = frozenset({"new", "import", "static", "services"})  # words of the forms pages' addresses
KEY_EXPECTED = (
    "1 to 60 characters: lower-case letters, digits, '_' or '-', starting with a letter "
    "(not new, import, static or services)"
)


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake: where (``field``, e.g. ``fields[2].type``), the value given, and what was expected."""

    field: str
    value: Any
    expected: str


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One field of a form."""

    key: str
    label: str
    type: str
    required: bool = False
    choices: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        """The stored and published shape (choices only for choice fields)."""
        out: dict[str, Any] = {"key": self.key, "label": self.label, "type": self.type, "required": self.required}
        if self.type == "choice":
            out["choices"] = list(self.choices)
        return out


def _text_ok(value: object, limit: int) -> bool:
    """Text of 1 to ``limit`` characters, not only spaces, without control or format characters."""
    return (
        isinstance(value, str)
        and 0 < len(value.strip()) <= limit
        and all(unicodedata.category(ch)[0] != "C" for ch in value)
    )


def key_problems(key: object, where: str = "key") -> list[Problem]:
    """Problems of a form's (or a field's) key."""
    if isinstance(key, str) and KEY_PATTERN.match(key) and key not in RESERVED_KEYS:
        return []
    return [Problem(where, key, KEY_EXPECTED)]


def title_problems(title: object, where: str = "title") -> list[Problem]:
    """Problems of a form's title."""
    if _text_ok(title, MAX_TITLE):
        return []
    return [Problem(where, title, f"a title of 1 to {MAX_TITLE} characters, no control characters")]


def name_problems(name: object, where: str = "name") -> list[Problem]:
    """Problems of a service's name."""
    if _text_ok(name, MAX_NAME):
        return []
    return [Problem(where, name, f"a name of 1 to {MAX_NAME} characters, no control characters")]


def _choices(raw: object, where: str) -> tuple[tuple[str, ...], list[Problem]]:
    if not isinstance(raw, list) or not raw or len(raw) > MAX_CHOICES:
        return (), [Problem(where, raw, f"a list of 1 to {MAX_CHOICES} choices for a choice field")]
    problems = []
    seen: set[str] = set()
    out = []
    for i, c in enumerate(raw):
        if not _text_ok(c, MAX_LABEL):
            problems.append(
                Problem(f"{where}[{i}]", c, f"a choice of 1 to {MAX_LABEL} characters, no control characters")
            )
            continue
        text = str(c).strip()
        if text.casefold() in seen:
            problems.append(Problem(f"{where}[{i}]", c, "each choice once"))
        seen.add(text.casefold())
        out.append(text)
    return tuple(out), problems


def _one_field(i: int, raw: object, keys: set[str]) -> tuple[FieldDef | None, list[Problem]]:
    where = f"fields[{i}]"
    if not isinstance(raw, Mapping):
        return None, [Problem(where, raw, "an object with key, label, type, required and (for choice) choices")]
    problems = [
        Problem(f"{where}.{extra}", raw[extra], "no such attribute: " + ", ".join(sorted(FIELD_ATTRIBUTES)))
        for extra in sorted(str(k) for k in raw if k not in FIELD_ATTRIBUTES)
    ]
    key, label, kind = raw.get("key"), raw.get("label"), raw.get("type")
    required = raw.get("required", False)
    problems += key_problems(key, f"{where}.key")
    if isinstance(key, str) and key in keys:
        problems.append(Problem(f"{where}.key", key, "a key no other field of this form has"))
    if isinstance(key, str):
        keys.add(key)
    if not _text_ok(label, MAX_LABEL):
        problems.append(
            Problem(f"{where}.label", label, f"a label of 1 to {MAX_LABEL} characters, no control characters")
        )
    if kind not in FIELD_TYPES:
        problems.append(Problem(f"{where}.type", kind, "one of " + ", ".join(FIELD_TYPES)))
    if not isinstance(required, bool):
        problems.append(Problem(f"{where}.required", required, "true or false"))
    choices: tuple[str, ...] = ()
    if kind == "choice":
        choices, more = _choices(raw.get("choices"), f"{where}.choices")
        problems += more
    elif kind in FIELD_TYPES and raw.get("choices") not in (None, []):
        problems.append(Problem(f"{where}.choices", raw.get("choices"), "no choices: only choice fields have them"))
    if problems:
        return None, problems
    return FieldDef(str(key), str(label).strip(), str(kind), bool(required), choices), []


def parse_fields(raw: object) -> tuple[tuple[FieldDef, ...], list[Problem]]:
    """A definition's fields, in order, or every problem found (and no fields)."""
    if not isinstance(raw, list) or not raw or len(raw) > MAX_FIELDS:
        return (), [Problem("fields", _short(raw), f"a list of 1 to {MAX_FIELDS} fields")]
    keys: set[str] = set()
    fields: list[FieldDef] = []
    problems: list[Problem] = []
    for i, item in enumerate(raw):
        parsed, more = _one_field(i, item, keys)
        problems += more
        if parsed is not None:
            fields.append(parsed)
    return (() if problems else tuple(fields)), problems


def _short(value: object) -> object:
    return value if not isinstance(value, list | dict) else f"{type(value).__name__} of {len(value)}"


def fields_json(fields: Iterable[FieldDef]) -> list[dict[str, Any]]:
    """Fields as stored and published."""
    return [f.as_dict() for f in fields]


def form_ref(key: str, version: int) -> str:
    """How a visit names the form version it needs: ``key@version``."""
    return f"{key}@{version}"


def field_changes(before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Which field keys a new version added, removed or changed (for the audit trail and the history page)."""
    old = {str(f["key"]): f for f in before}
    new = {str(f["key"]): f for f in after}
    order_changed = [k for k in old if k in new] != [k for k in new if k in old]
    return {
        "added": [k for k in new if k not in old],
        "removed": [k for k in old if k not in new],
        "changed": [k for k in new if k in old and dict(old[k]) != dict(new[k])],
        "reordered": ["yes"] if order_changed else [],
    }


def forms_of_branches(
    branch_services: Mapping[int, Iterable[int]], service_forms: Mapping[int, Iterable[int]]
) -> dict[int, frozenset[int]]:
    """Each branch's forms: the union of the forms of its services."""
    return {
        branch: frozenset(f for s in services for f in service_forms.get(s, ()))
        for branch, services in branch_services.items()
    }
