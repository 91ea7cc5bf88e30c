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

import math
from dataclasses import dataclass
from typing import Any


def json_safe(value: Any) -> Any:
    """``value`` made safe to echo back as JSON.

    Input is echoed in error reports, and input can hold what JSON output
    cannot: NaN and infinities, lone surrogate characters (escaped in a request
    body), or objects. Those become readable strings; everything else is kept.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(json_safe(k)): json_safe(v) for k, v in value.items()}
    return json_safe(str(value))


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
        value = self.value
        if value is not None and not isinstance(value, str | int | float | bool):
            value = str(value)
        return {
            "index": self.index,
            "record_id": json_safe(self.record_id),
            "field": json_safe(self.field),
            "value": json_safe(value),
            "reason": json_safe(self.reason),
            "code": self.code,
        }


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
