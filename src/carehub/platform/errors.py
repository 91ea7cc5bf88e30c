"""Carehub's exception hierarchy. Each error carries a stable machine code.

    CarehubError
    ├── NotFound                 (404) a record the caller may see does not exist
    ├── InvalidInput             (422) input refused; carries RecordError rows
    │   └── BatchTooLarge        (413) a batch over the record limit, refused whole
    ├── Conflict                 (409) the request contradicts stored state
    ├── AuthenticationRequired   (401) no or bad credentials
    └── PermissionDenied         (403) authenticated, but not allowed

The web edge maps these to HTTP in one handler (carehub.platform.web.errors).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class RecordError:
    """Why one input record was refused: which record, field, value, what was expected."""

    index: int | None
    record_id: str | None
    field: str | None
    value: Any
    reason: str
    code: str = "invalid"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        d = asdict(self)
        if d["value"] is not None and not isinstance(d["value"], str | int | float | bool):
            d["value"] = str(d["value"])
        return d


class CarehubError(Exception):
    """Base of every error Carehub raises on purpose."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, errors: list[RecordError] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []


class NotFound(CarehubError):
    """A record does not exist (or the caller may not know it exists)."""

    code = "not_found"
    status = 404


class InvalidInput(CarehubError):
    """Input refused; ``errors`` says which record, field and value."""

    code = "invalid_input"
    status = 422


class BatchTooLarge(InvalidInput):
    """A batch larger than the limit; refused whole."""

    code = "batch_too_large"
    status = 413


class Conflict(CarehubError):
    """The request contradicts stored state."""

    code = "conflict"
    status = 409


class AuthenticationRequired(CarehubError):
    """No credentials, or credentials that are not valid."""

    code = "authentication_required"
    status = 401


class PermissionDenied(CarehubError):
    """Authenticated, but not allowed to do this."""

    code = "permission_denied"
    status = 403
