"""Outcomes of roster changes, as plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from carehub.roster.domain.rules import Outcome, Violation


@dataclass(slots=True)
class RecordResult:
    """What happened to one input record."""

    index: int
    id: str | None
    outcome: Outcome
    version: int | None
    errors: list[Violation] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "index": self.index,
            "id": self.id,
            "outcome": self.outcome.value,
            "version": self.version,
            "errors": [
                {"field": v.field, "value": _plain(v.value), "reason": v.reason, "code": v.code} for v in self.errors
            ],
        }


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


@dataclass(slots=True)
class BatchResult:
    """The outcome of a batch, one row per input record in input order."""

    kind: str
    results: list[RecordResult]

    def count(self, outcome: Outcome) -> int:
        """How many records had ``outcome``."""
        return sum(1 for r in self.results if r.outcome == outcome)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form with totals."""
        return {
            "kind": self.kind,
            "received": len(self.results),
            "created": self.count(Outcome.CREATED),
            "updated": self.count(Outcome.UPDATED),
            "unchanged": self.count(Outcome.UNCHANGED),
            "rejected": self.count(Outcome.REJECTED),
            "results": [r.as_dict() for r in self.results],
        }
