"""The kinds of roster record and how each names the records it refers to."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RecordKind(StrEnum):
    """A kind of roster record; the value is the singular name used in events and audit."""

    BRANCH = "branch"
    GROUP = "group"
    CONTRACT = "contract"
    CLIENT = "client"
    WORKER = "worker"
    PLAN_VISIT = "plan_visit"
    VISIT = "visit"

    @property
    def plural(self) -> str:
        """The URL and file name form: ``plan-visits``."""
        return "branches" if self is RecordKind.BRANCH else self.value.replace("_", "-") + "s"

    @classmethod
    def from_plural(cls, plural: str) -> RecordKind:
        """The kind whose plural is ``plural``; ValueError otherwise."""
        for kind in cls:
            if kind.plural == plural:
                return kind
        msg = f"unknown record kind {plural!r}; expected one of {', '.join(k.plural for k in cls)}"
        raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class Reference:
    """A field holding another record's external id, e.g. a visit's ``client_id``."""

    field: str
    kind: RecordKind
    required: bool = True


REFERENCES: dict[RecordKind, tuple[Reference, ...]] = {
    RecordKind.BRANCH: (),
    RecordKind.GROUP: (Reference("branch_id", RecordKind.BRANCH, required=False),),
    RecordKind.CONTRACT: (Reference("branch_id", RecordKind.BRANCH, required=False),),
    RecordKind.CLIENT: (
        Reference("branch_id", RecordKind.BRANCH),
        Reference("group_id", RecordKind.GROUP, required=False),
    ),
    RecordKind.WORKER: (Reference("branch_id", RecordKind.BRANCH),),
    RecordKind.PLAN_VISIT: (
        Reference("client_id", RecordKind.CLIENT),
        Reference("contract_id", RecordKind.CONTRACT),
    ),
    RecordKind.VISIT: (
        Reference("client_id", RecordKind.CLIENT),
        Reference("contract_id", RecordKind.CONTRACT),
        Reference("plan_visit_id", RecordKind.PLAN_VISIT, required=False),
    ),
}

# Kinds in the order a full load must apply them so every reference already exists.
LOAD_ORDER: tuple[RecordKind, ...] = (
    RecordKind.BRANCH,
    RecordKind.GROUP,
    RecordKind.CONTRACT,
    RecordKind.CLIENT,
    RecordKind.WORKER,
    RecordKind.PLAN_VISIT,
    RecordKind.VISIT,
)
