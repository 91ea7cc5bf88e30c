"""Signing webhook requests, and checking a signature as a receiver would.

Every request carries::

    Carehub-Signature: t=1767225600,v1=5f3c...e9
    Idempotency-Key: evt-1234

``v1`` is the hex HMAC-SHA256, keyed with the subscription's secret, of
``"{t}.{body}"`` (the timestamp, a dot and the raw request body bytes). ``t``
is the Unix time the request was signed; receivers refuse a signature older
than a few minutes, so a captured request cannot be replayed later.

``Idempotency-Key`` is the same for every attempt of an event: retries, a
manual retry and a replay all send ``evt-<event id>``. A receiver that has
already processed a key answers 2xx and does nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SIGNATURE_HEADER = "Carehub-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
DEFAULT_TOLERANCE = 300  # seconds a receiver should accept a signature for


def new_secret() -> str:
    """A fresh random signing secret (256 bits)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def idempotency_key(event_id: int) -> str:
    """The key every attempt of event ``event_id`` carries: stable across retries and replays."""
    return f"evt-{event_id}"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``Carehub-Signature`` header value for ``body``, signed now (or at ``timestamp``)."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


class SignatureError(ValueError):
    """A signature that does not verify, and why."""


def verify(secret: str, body: bytes, header: str, *, tolerance: int = DEFAULT_TOLERANCE, now: int | None = None) -> int:
    """Check a ``Carehub-Signature`` header as a receiver does; returns its timestamp.

    Raises :class:`SignatureError` when the header is malformed, too old (or in
    the future) by more than ``tolerance`` seconds, or no ``v1`` matches.
    """
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise SignatureError(f"malformed signature item {item.strip()!r}")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError) as exc:
        raise SignatureError("the signature has no valid t= timestamp") from exc
    current = int(time.time()) if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError(f"the signature is {current - timestamp} seconds old (tolerance {tolerance})")
    expected = sign(secret, body, timestamp).rpartition("v1=")[2]
    if not any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", [])):
        raise SignatureError("no v1 signature matches the body")
    return timestamp
