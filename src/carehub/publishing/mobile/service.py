"""Mobile sync: linking a worker's device, its sync feed, and the record of each sync.

- A coordinator issues a one-time **link code** for a published worker
  (:func:`do_issue_link_code`); the worker types their username and the code
  on the device, which gets its own **device token** (:func:`do_link_device`).
- The device **pulls** its feed by cursor (:func:`pull`): the published visits
  it is on in the coming days, their clients and care plans, and drops (visits,
  clients or care plans to delete, with the reason). Each successful pull is
  recorded (:func:`do_record_sync`) in the same transaction.
- Staff list devices with their last successful sync (:func:`list_devices`),
  revoke them (:func:`do_revoke_device`); health asks for devices not synced
  lately (:func:`stale_devices`).

Only the published copy is read (``carehub.publishing.tables``), never the
roster's tables; a worker's external id is resolved through the roster's
service queries.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, not_, or_, select, text, update
from sqlalchemy.orm import Session

from carehub.platform import audit
from carehub.platform.auth import permissions
from carehub.platform.auth.actor import SYSTEM, Actor, Role
from carehub.platform.clock import utc_now
from carehub.platform.db import Database
from carehub.platform.errors import (
    AuthenticationRequired,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RecordError,
)
from carehub.publishing.mobile import relink
from carehub.publishing.mobile.cursor import (
    ACTIVE,
    MAX_DAYS,
    MAX_ID,
    Cursor,
    CursorError,
    FeedWindow,
    capped_days,
    feed_window,
    first_position,
    midnight,
    visit_outcome,
)
from carehub.publishing.mobile.tables import MobileDevice, MobileDeviceSync, MobileLinkCode
from carehub.publishing.tables import (
    PublishedBranch,
    PublishedCarePlan,
    PublishedClient,
    PublishedVisit,
    PublishedVisitWorker,
    PublishedWorker,
    PublishSettings,
)
from carehub.roster.domain.kinds import RecordKind
from carehub.roster.service import queries
from carehub.roster.service.branches_of import client_branches
from carehub.roster.service.sources import SOURCES as ROSTER
from carehub.tenancy.forms.service import feed_forms, forms_changed_at

DEVICE_TOKEN_PREFIX = "chd_"  # noqa: S105 - a public marker, not a secret
CODE_DIGITS = 8
CODE_TTL = timedelta(minutes=15)
MAX_FAILED_ATTEMPTS = 5
STALE_AFTER = timedelta(minutes=30)
DEFAULT_LIMIT = 200
MAX_LIMIT = 1000
MAX_USERNAME = 60
MAX_DEVICE_NAME = 100
STAFF_ROLES = frozenset({Role.COORDINATOR, Role.BRANCH_MANAGER, Role.ADMIN})
_CODE_LOOKBACK = timedelta(days=1)  # older codes cannot match: they expired long ago
_WRONG = "unknown username or wrong code"


# --------------------------------------------------------------------------- devices and codes


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """A linked device as the rest of Carehub sees it (never the token)."""

    id: int
    environment_id: int
    tenant_id: int
    worker_id: int
    worker_external_id: str | None
    worker_name: str
    username: str
    name: str
    display_prefix: str
    linked_at: datetime
    last_sync_at: datetime | None
    last_cursor: int | None
    revoked_at: datetime | None
    revoked_by: str | None

    def is_stale(self, now: datetime, older_than: timedelta = STALE_AFTER) -> bool:
        """Not synced within ``older_than`` (a device never synced counts from when it was linked)."""
        return self.revoked_at is None and (self.last_sync_at or self.linked_at) < now - older_than

    def as_dict(self, now: datetime | None = None) -> dict[str, Any]:
        """The JSON shape of the staff API."""
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "worker_id": self.worker_external_id,
            "worker_name": self.worker_name,
            "username": self.username,
            "token_prefix": self.display_prefix,
            "linked_at": self.linked_at,
            "last_sync_at": self.last_sync_at,
            "last_cursor": self.last_cursor,
            "revoked_at": self.revoked_at,
            "revoked_by": self.revoked_by,
        }
        if now is not None:
            out["stale"] = self.is_stale(now)
        return out


@dataclass(frozen=True, slots=True)
class IssuedCode:
    """A link code, shown once to the coordinator who issued it."""

    code: str
    username: str
    worker_external_id: str
    worker_name: str
    expires_at: datetime

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of the staff API."""
        return {
            "code": self.code,
            "username": self.username,
            "worker_id": self.worker_external_id,
            "worker_name": self.worker_name,
            "expires_at": self.expires_at,
        }


def require_staff(actor: Actor) -> None:
    """Coordinators and above (and admin API tokens, and Carehub itself) manage devices; others are refused.

    A roster API token is refused: it is a rostering system's credential, not a person managing devices.
    """
    if actor.is_roster_token:
        raise permissions.token_cannot("manage mobile devices")
    if actor.kind == "system" or actor.is_admin:
        return
    if actor.kind == "device" or actor.role not in STAFF_ROLES:
        raise PermissionDenied("managing mobile devices needs the coordinator role or above")


def _workers_in_scope(column: Any, branch_ids: frozenset[int] | None) -> list[Any]:
    """Rows whose roster worker ``column`` belongs to one of ``branch_ids`` (None: every branch)."""
    if branch_ids is None:
        return []
    w = ROSTER.workers
    return [column.in_(select(w.c.id).where(w.c.branch_id.in_(sorted(branch_ids))))]


def hash_token(token: str) -> str:
    """The stored form of a device token: SHA-256 (tokens are 256-bit random)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _hash_code(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


def _printable(value: str) -> bool:
    return all(ch.isprintable() for ch in value)


def _device_info(d: MobileDevice, w: PublishedWorker | None) -> DeviceInfo:
    name = f"{w.first_name} {w.last_name}" if w is not None else d.username
    return DeviceInfo(
        d.id,
        d.environment_id,
        d.tenant_id,
        d.worker_id,
        w.external_id if w is not None else None,
        name,
        d.username,
        d.name,
        d.display_prefix,
        d.linked_at,
        d.last_sync_at,
        d.last_cursor,
        d.revoked_at,
        d.revoked_by,
    )


def _devices(environment_id: int) -> Select[MobileDevice, PublishedWorker]:
    return (
        select(MobileDevice, PublishedWorker)
        .outerjoin(PublishedWorker, PublishedWorker.worker_id == MobileDevice.worker_id)
        .where(MobileDevice.environment_id == environment_id)
    )


def device_actor(device: DeviceInfo) -> Actor:
    """The Actor of a device, for audit rows of what it does."""
    return Actor(
        kind="device",
        id=device.id,
        label=f"{device.username} / {device.name}"[:200],
        tenant_id=device.tenant_id,
        role=Role.CARE_WORKER,
        environment_id=device.environment_id,
    )


def _published_worker(db: Database, environment_id: int, worker_external_id: str) -> PublishedWorker:
    """The published worker of a roster worker id; NotFound / Conflict with the reason otherwise."""
    worker_external_id = worker_external_id.strip()
    if not worker_external_id or len(worker_external_id) > 100 or not _printable(worker_external_id):
        raise InvalidInput(
            "worker id refused",
            errors=[RecordError(None, None, "worker_id", worker_external_id, "the rostering system's worker id")],
        )
    record = queries.get_record(db, environment_id, RecordKind.WORKER, worker_external_id)
    with db.read() as session:
        worker = session.scalar(select(PublishedWorker).where(PublishedWorker.worker_id == record["_pk"]))
    if worker is None:
        raise Conflict(
            f"worker {worker_external_id!r} is not published to care planning, so has no username yet: "
            "a worker publishes when active, mobile-enabled and allocated to a published visit"
        )
    if worker.state != ACTIVE:
        raise Conflict(f"worker {worker_external_id!r} is {worker.state} in care planning; their devices cannot link")
    return worker


def do_issue_link_code(
    db: Database, actor: Actor, environment_id: int, worker_external_id: str, *, now: datetime | None = None
) -> IssuedCode:
    """Issue a one-time link code for a published worker; earlier unused codes of the worker stop working.

    The code is returned once (only its salted hash is kept); it expires after
    CODE_TTL and locks after MAX_FAILED_ATTEMPTS wrong attempts.
    """
    require_staff(actor)
    permissions.require(actor, permissions.Permission.ISSUE_LINK_CODE)
    now = now or utc_now()
    if actor.branch_ids is not None:  # a worker of another branch is not found
        queries.get_record(
            db, environment_id, RecordKind.WORKER, worker_external_id.strip()[:100], branch_ids=actor.branch_ids
        )
    worker = _published_worker(db, environment_id, worker_external_id)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    salt = secrets.token_hex(16)
    with db.transaction() as session:
        session.execute(
            update(MobileLinkCode)
            .where(
                MobileLinkCode.worker_id == worker.worker_id,
                MobileLinkCode.used_at.is_(None),
                MobileLinkCode.cancelled_at.is_(None),
            )
            .values(cancelled_at=now)
        )
        row = MobileLinkCode(
            environment_id=environment_id,
            worker_id=worker.worker_id,
            username_key=worker.username.lower(),
            code_salt=salt,
            code_hash=_hash_code(salt, code),
            created_by=actor.label[:200],
            created_at=now,
            expires_at=now + CODE_TTL,
            failed_attempts=0,
        )
        session.add(row)
        session.flush()
        audit.record(
            session,
            actor,
            audit.Change(
                "mobile_link_code",
                row.id,
                "issue",
                {"worker": [None, worker.external_id], "expires_at": [None, row.expires_at.isoformat()]},
                external_id=worker.username,
                environment_id=environment_id,
            ),
        )
    return IssuedCode(
        f"{code[:4]} {code[4:]}",
        worker.username,
        worker.external_id,
        f"{worker.first_name} {worker.last_name}",
        row.expires_at,
    )


def _link_input(username: str, code: str, device_name: str) -> tuple[str, str, str]:
    """Trimmed input; InvalidInput naming each bad field (the code itself is never echoed)."""
    username = username.strip()
    digits = "".join(ch for ch in code if ch not in " -")
    device_name = " ".join(device_name.split())
    errors = []
    if not username or len(username) > MAX_USERNAME or not _printable(username):
        errors.append(
            RecordError(
                None, None, "username", username[:MAX_USERNAME], f"your username, 1 to {MAX_USERNAME} characters"
            )
        )
    if len(digits) != CODE_DIGITS or not digits.isascii() or not digits.isdigit():
        errors.append(RecordError(None, None, "code", "***", f"the {CODE_DIGITS}-digit code from your coordinator"))
    if not device_name or len(device_name) > MAX_DEVICE_NAME or not _printable(device_name):
        errors.append(
            RecordError(
                None,
                None,
                "device_name",
                device_name[:MAX_DEVICE_NAME],
                f"a name for this device, 1 to {MAX_DEVICE_NAME} characters",
            )
        )
    if errors:
        raise InvalidInput("link request refused: " + ", ".join(str(e.field) for e in errors), errors=errors)
    return username, digits, device_name


def _refusal(match: MobileLinkCode, now: datetime) -> str | None:
    """Why a code that matched cannot be used, or None when it can."""
    if match.used_at is not None:
        return "this code has already been used; ask your coordinator for a new one"
    if match.cancelled_at is not None:
        return "this code was replaced by a newer one; use the newest code or ask for a new one"
    if match.locked_at is not None:
        return "this code is locked after too many wrong attempts; ask your coordinator for a new one"
    if match.expires_at <= now:
        return "this code has expired (codes last 15 minutes); ask your coordinator for a new one"
    return None


@dataclass(slots=True)
class _LinkOutcome:
    refusal: str | None = None
    device: DeviceInfo | None = None
    token: str | None = None
    locked: list[int] = field(default_factory=list)


def do_link_device(
    db: Database, username: str, code: str, device_name: str, *, now: datetime | None = None
) -> tuple[DeviceInfo, str]:
    """Link a device with a worker's username and one-time code; returns the device and its token (shown once).

    A wrong code counts against every outstanding code of that username and
    locks them after MAX_FAILED_ATTEMPTS. The answer to a wrong code never
    says whether the username exists. A device linked under a name the worker
    already uses replaces (revokes) the earlier one.
    """
    now = now or utc_now()
    username, digits, device_name = _link_input(username, code, device_name)
    outcome = _LinkOutcome()
    with db.transaction() as session:
        candidates = session.scalars(
            select(MobileLinkCode).where(
                MobileLinkCode.username_key == username.lower(), MobileLinkCode.created_at > now - _CODE_LOOKBACK
            )
        ).all()
        match = next(
            (c for c in candidates if hmac.compare_digest(c.code_hash, _hash_code(c.code_salt, digits))),
            None,
        )
        if match is None:
            outcome.refusal = _WRONG
            outcome.locked = _count_failure(session, candidates, now)
        elif (refusal := _refusal(match, now)) is not None:
            outcome.refusal = refusal
        else:
            outcome.device, outcome.token, outcome.refusal = _link(session, match, device_name, now)
    if outcome.refusal is not None or outcome.device is None or outcome.token is None:
        raise AuthenticationRequired(
            outcome.refusal or _WRONG,
            errors=[RecordError(None, None, "code", "***", outcome.refusal or _WRONG, "link_refused")],
        )
    return outcome.device, outcome.token


def _count_failure(session: Session, candidates: Sequence[MobileLinkCode], now: datetime) -> list[int]:
    """Count a wrong attempt against the username's usable codes; lock those that reached the limit."""
    open_ids = [c.id for c in candidates if _refusal(c, now) is None]
    if not open_ids:
        return []
    session.execute(
        update(MobileLinkCode)
        .where(MobileLinkCode.id.in_(open_ids))
        .values(failed_attempts=MobileLinkCode.failed_attempts + 1)
    )
    locked = session.scalars(
        select(MobileLinkCode).where(
            MobileLinkCode.id.in_(open_ids),
            MobileLinkCode.failed_attempts >= MAX_FAILED_ATTEMPTS,
            MobileLinkCode.locked_at.is_(None),
        )
    ).all()
    for row in locked:
        row.locked_at = now
        audit.record(
            session,
            SYSTEM,
            audit.Change(
                "mobile_link_code",
                row.id,
                "lock",
                {"failed_attempts": [None, row.failed_attempts]},
                external_id=row.username_key,
                environment_id=row.environment_id,
            ),
        )
    return [r.id for r in locked]


def _link(
    session: Session, code: MobileLinkCode, device_name: str, now: datetime
) -> tuple[DeviceInfo | None, str | None, str | None]:
    """Use ``code``: create the device. Returns (device, token, None) or (None, None, refusal)."""
    worker = session.scalar(select(PublishedWorker).where(PublishedWorker.worker_id == code.worker_id))
    if worker is None or worker.state != ACTIVE:
        return None, None, "this worker no longer publishes to care planning; ask your coordinator"
    # Use the code exactly once, even when two devices race with it.
    claimed = session.execute(
        update(MobileLinkCode)
        .where(
            MobileLinkCode.id == code.id,
            MobileLinkCode.used_at.is_(None),
            MobileLinkCode.locked_at.is_(None),
            MobileLinkCode.cancelled_at.is_(None),
        )
        .values(used_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None, None, "this code has already been used; ask your coordinator for a new one"
    token = DEVICE_TOKEN_PREFIX + secrets.token_urlsafe(32)
    device = MobileDevice(
        environment_id=code.environment_id,
        tenant_id=worker.tenant_id,
        worker_id=worker.worker_id,
        username=worker.username,
        name=device_name,
        token_hash=hash_token(token),
        display_prefix=token[:12],
        linked_at=now,
    )
    session.add(device)
    session.flush()
    session.execute(update(MobileLinkCode).where(MobileLinkCode.id == code.id).values(device_id=device.id))
    info = _device_info(device, worker)
    actor = device_actor(info)
    replaced = session.scalars(
        select(MobileDevice).where(
            MobileDevice.worker_id == worker.worker_id,
            MobileDevice.name == device_name,
            MobileDevice.id != device.id,
            MobileDevice.revoked_at.is_(None),
        )
    ).all()
    changes = [
        audit.Change(
            "mobile_device",
            device.id,
            "link",
            {"worker": [None, worker.external_id], "name": [None, device_name], "link_code": [None, code.id]},
            external_id=worker.username,
            environment_id=device.environment_id,
        )
    ]
    for old in replaced:
        old.revoked_at, old.revoked_by = now, "replaced by a newly linked device of the same name"
        changes.append(
            audit.Change(
                "mobile_device",
                old.id,
                "revoke",
                {"revoked": [False, True], "reason": [None, "replaced"], "replaced_by": [None, device.id]},
                external_id=old.username,
                environment_id=old.environment_id,
            )
        )
    audit.record_many(session, actor, changes)
    return info, token, None


def authenticate_device(db: Database, token: str) -> DeviceInfo:
    """The device of a valid, unrevoked device token; AuthenticationRequired otherwise."""
    if not token.startswith(DEVICE_TOKEN_PREFIX) or len(token) > 100:
        raise AuthenticationRequired("not a Carehub device token: link this device with your username and code")
    digest = hash_token(token)
    with db.read() as session:
        row = session.execute(
            select(MobileDevice, PublishedWorker)
            .outerjoin(PublishedWorker, PublishedWorker.worker_id == MobileDevice.worker_id)
            .where(MobileDevice.token_hash == digest)
        ).first()
    if row is None or not hmac.compare_digest(row[0].token_hash, digest):
        raise AuthenticationRequired("device token unknown or revoked: link this device again")
    if row[0].revoked_at is not None:
        raise AuthenticationRequired("this device was unlinked; link it again with a new code")
    return _device_info(row[0], row[1])


def do_revoke_device(db: Database, actor: Actor, environment_id: int, device_id: int) -> DeviceInfo:
    """Unlink a device: its token stops working at once. Revoking twice changes nothing.

    Branch managers and administrators only; a device of a worker of another branch is not found.
    """
    require_staff(actor)
    permissions.require(actor, permissions.Permission.REVOKE_DEVICE)
    with db.transaction() as session:
        row = session.execute(
            _devices(environment_id).where(
                MobileDevice.id == device_id, *_workers_in_scope(MobileDevice.worker_id, actor.branch_ids)
            )
        ).first()
        if row is None:
            raise NotFound(f"no device {device_id}")
        device, worker = row
        if device.revoked_at is None:
            device.revoked_at, device.revoked_by = utc_now(), actor.label[:200]
            audit.record(session, actor, relink.revoked(device.id, device.username, environment_id))
        return _device_info(device, worker)


def list_devices(
    db: Database, environment_id: int, *, include_revoked: bool = False, branch_ids: frozenset[int] | None = None
) -> list[DeviceInfo]:
    """The environment's devices with their last successful sync, longest without one first (revoked last).

    Only devices of workers of ``branch_ids`` (None: every branch).
    """
    stmt = _devices(environment_id).where(*_workers_in_scope(MobileDevice.worker_id, branch_ids))
    if not include_revoked:
        stmt = stmt.where(MobileDevice.revoked_at.is_(None))
    with db.read() as session:
        rows = session.execute(stmt).all()
    devices = [_device_info(d, w) for d, w in rows]
    return sorted(devices, key=lambda d: (d.revoked_at is not None, d.last_sync_at or d.linked_at, d.id))


@dataclass(frozen=True, slots=True)
class LinkableWorker:
    """A published, active worker: someone a link code can be issued for."""

    external_id: str
    username: str
    name: str


MAX_LINKABLE = 5000


def linkable_workers(
    db: Database, environment_id: int, limit: int = MAX_LINKABLE, *, branch_ids: frozenset[int] | None = None
) -> list[LinkableWorker]:
    """The environment's active published workers of ``branch_ids``, by name (for choosing whom a code is for)."""
    with db.read() as session:
        rows = session.execute(
            select(
                PublishedWorker.external_id,
                PublishedWorker.username,
                PublishedWorker.first_name,
                PublishedWorker.last_name,
            )
            .where(
                PublishedWorker.environment_id == environment_id,
                PublishedWorker.state == ACTIVE,
                *_workers_in_scope(PublishedWorker.worker_id, branch_ids),
            )
            .order_by(PublishedWorker.last_name, PublishedWorker.first_name, PublishedWorker.external_id)
            .limit(limit)
        ).all()
    return [LinkableWorker(ext, username, f"{first} {last}") for ext, username, first, last in rows]


def stale_devices(
    db: Database, environment_id: int, now: datetime, older_than: timedelta = STALE_AFTER
) -> list[DeviceInfo]:
    """Linked devices of active published workers whose last successful sync is older than ``older_than``.

    A device never synced counts from when it was linked. Revoked devices, and
    devices of workers no longer published (state other than active), are not
    expected to sync and are left out. For health: "each device's last
    successful sync must be within 30 minutes".
    """
    cutoff = now - older_than
    stmt = (
        _devices(environment_id)
        .where(
            MobileDevice.revoked_at.is_(None),
            PublishedWorker.state == ACTIVE,
            func.coalesce(MobileDevice.last_sync_at, MobileDevice.linked_at) < cutoff,
        )
        .order_by(func.coalesce(MobileDevice.last_sync_at, MobileDevice.linked_at), MobileDevice.id)
    )
    with db.read() as session:
        return [_device_info(d, w) for d, w in session.execute(stmt).all()]


# --------------------------------------------------------------------------- the feed


@dataclass(frozen=True, slots=True)
class FeedPage:
    """One page of a device's feed."""

    cursor: str
    has_more: bool
    window: FeedWindow
    server_time: datetime
    visits: list[dict[str, Any]]
    clients: list[dict[str, Any]]
    care_plans: list[dict[str, Any]]
    drops: list[dict[str, Any]]
    # The definitions of the forms the page's visits name in ``form_ids`` (``key@version``), each once.
    forms: list[dict[str, Any]] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """How many of each the page holds."""
        return {
            "visits": len(self.visits),
            "clients": len(self.clients),
            "care_plans": len(self.care_plans),
            "drops": len(self.drops),
        }

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of the sync API."""
        return {
            "cursor": self.cursor,
            "has_more": self.has_more,
            "server_time": self.server_time,
            "window": {"start": self.window.start, "end": self.window.end, "days": self.window.days},
            "visits": self.visits,
            "clients": self.clients,
            "care_plans": self.care_plans,
            "drops": self.drops,
            "forms": self.forms,
        }


def _after(pos: tuple[int, int | None]) -> Any:
    """Rows of the feed after ``pos`` in (seq, visit id) order."""
    seq, after = pos
    if after is None or after >= MAX_ID:
        return PublishedVisitWorker.seq > seq
    return or_(
        PublishedVisitWorker.seq > seq,
        and_(PublishedVisitWorker.seq == seq, PublishedVisitWorker.visit_id > after),
    )


_ROW_COLUMNS = (
    PublishedVisitWorker.visit_id,
    PublishedVisitWorker.seq,
    PublishedVisitWorker.active,
    PublishedVisit.state,
    PublishedVisit.external_id,
    PublishedVisit.client_id,
    PublishedVisit.plan_visit_id,
    PublishedVisit.kind,
    PublishedVisit.start_at,
    PublishedVisit.end_at,
    PublishedVisit.cancelled_at,
    PublishedVisit.notes,
)


def _held(device: DeviceInfo, start: datetime, end: datetime) -> Any:
    """The conditions of a visit the device should hold (active for this worker, starting in [start, end))."""
    return and_(
        PublishedVisitWorker.worker_id == device.worker_id,
        PublishedVisitWorker.environment_id == device.environment_id,
        PublishedVisitWorker.active.is_(True),
        PublishedVisit.state == ACTIVE,
        PublishedVisit.start_at >= start,
        PublishedVisit.start_at < end,
    )


def _visit_json(r: Any) -> dict[str, Any]:
    return {
        "id": r.visit_id,
        "external_id": r.external_id,
        "client_id": r.client_id,
        "plan_visit_id": r.plan_visit_id,
        "kind": r.kind,
        "start_at": r.start_at,
        "end_at": r.end_at,
        "notes": r.notes,
        "workers": [],
        "form_ids": [],
    }


def _drop(kind: str, ident: int, external_id: str | None, reason: str, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "id": ident, "external_id": external_id, "reason": reason, **extra}


@dataclass(slots=True)
class _Page:
    visits: dict[int, dict[str, Any]] = field(default_factory=dict)
    drops: list[dict[str, Any]] = field(default_factory=list)


def _classify(rows: Iterable[Any], window: FeedWindow, page: _Page) -> None:
    for r in rows:
        outcome = visit_outcome(r.active, r.state, r.start_at, window)
        if outcome == ACTIVE:
            page.visits[r.visit_id] = _visit_json(r)
        else:
            page.visits.pop(r.visit_id, None)
            extra = {"cancelled_at": r.cancelled_at} if r.cancelled_at is not None else {}
            page.drops.append(_drop("visit", r.visit_id, r.external_id, outcome, **extra))


def _bad_cursor(value: str, reason: str) -> InvalidInput:
    return InvalidInput(
        f"cursor refused: {reason}; sync again without a cursor",
        errors=[RecordError(None, None, "cursor", value[:100], f"a cursor returned by an earlier sync ({reason})")],
    )


def _feed_args(cursor: str | None, days: int | None, limit: int | None) -> tuple[Cursor | None, int, int]:
    errors = []
    parsed = None
    if cursor:
        try:
            parsed = Cursor.parse(cursor)
        except CursorError as exc:
            raise _bad_cursor(cursor, str(exc)) from exc
    try:
        applied_days = capped_days(days)
    except ValueError:
        applied_days = MAX_DAYS
        errors.append(
            RecordError(None, None, "days", days, f"days ahead from 0 to {MAX_DAYS} (larger values are capped)")
        )
    applied_limit = DEFAULT_LIMIT if limit is None else min(limit, MAX_LIMIT)
    if applied_limit < 1:
        errors.append(
            RecordError(None, None, "limit", limit, f"visits per page from 1 to {MAX_LIMIT} (larger values are capped)")
        )
    if errors:
        raise InvalidInput("sync request refused: " + ", ".join(str(e.field) for e in errors), errors=errors)
    return parsed, applied_days, applied_limit


def pull(
    db: Database,
    device: DeviceInfo,
    cursor: str | None,
    days: int | None = None,
    *,
    limit: int | None = None,
    now: datetime | None = None,
) -> FeedPage:
    """The next page of ``device``'s feed after ``cursor`` (None: a first sync), recorded as a sync.

    A first sync pages through a snapshot of the visits the device should hold
    (active for this worker, starting in the window), then continues as an
    incremental feed: every change to the worker's published visits after the
    cursor, each as a visit to hold or a drop with its reason; clients and care
    plans of visits sent, and those that changed for clients the worker visits
    in the window. Keep pulling while ``has_more``.
    """
    now = now or utc_now()
    parsed, applied_days, applied_limit = _feed_args(cursor, days, limit)
    live = feed_window(now, applied_days)
    with db.transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            # The pull writes only its own record: it need not wait for the disk. A crash in the next
            # moment could lose that record, never the published data (the device re-pulls from its cursor).
            session.execute(text("SET LOCAL synchronous_commit = off"))
        # Publishing commits seq values in increasing order: everything up to ``top`` is visible now.
        top = session.scalar(select(PublishSettings.seq).where(PublishSettings.environment_id == device.environment_id))
        top = top or 0
        if parsed is not None and max(parsed.seq, parsed.high or 0) > top:
            raise _bad_cursor(cursor or "", "it is ahead of this environment's changes")
        if parsed is None or parsed.snapshot:
            feed = _snapshot_page(session, device, parsed, live, top, applied_limit)
        else:
            feed = _incremental_page(session, device, parsed, live, top, applied_limit)
        next_cursor, page, window, from_seq = feed
        if parsed is not None and not parsed.snapshot and parsed.after is None:
            _resend_if_forms_changed(session, device, window, page)
        clients, care_plans = _clients_and_plans(session, device, parsed, next_cursor, window, page)
        _add_workers(session, page)
        forms = _add_forms(session, device, page)
        result = FeedPage(
            cursor=next_cursor.encode(),
            has_more=next_cursor.after is not None or next_cursor.snapshot,
            window=window,
            server_time=now,
            visits=sorted(page.visits.values(), key=lambda v: (v["start_at"], v["id"])),
            clients=[c for c in clients if "reason" not in c],
            care_plans=[p for p in care_plans if "reason" not in p],
            drops=page.drops + [c for c in clients if "reason" in c] + [p for p in care_plans if "reason" in p],
            forms=forms,
        )
        do_record_sync(session, device, from_seq, next_cursor, result, now)
        return result


def _snapshot_page(
    session: Session, device: DeviceInfo, parsed: Cursor | None, live: FeedWindow, top: int, limit: int
) -> tuple[Cursor, _Page, FeedWindow, int | None]:
    """A page of the first sync: visits to hold, up to the snapshot's ``high``, in (seq, visit id) order."""
    pos: tuple[int, int | None]
    if parsed is None:
        high, pos, end_day = top, first_position(), live.end_day
    else:
        high, pos, end_day = parsed.high or 0, (parsed.seq, parsed.after), parsed.window_end
    window = FeedWindow(live.start, midnight(end_day), max(0, (end_day - live.start.date()).days - 1))
    rows = session.execute(
        select(*_ROW_COLUMNS)
        .join(PublishedVisit, PublishedVisit.visit_id == PublishedVisitWorker.visit_id)
        .where(_held(device, window.start, window.end), PublishedVisitWorker.seq <= high, _after(pos))
        .order_by(PublishedVisitWorker.seq, PublishedVisitWorker.visit_id)
        .limit(limit + 1)
    ).all()
    page = _Page()
    _classify(rows[:limit], window, page)
    if len(rows) > limit:
        last = rows[limit - 1]
        return Cursor(last.seq, last.visit_id, high, end_day), page, window, None
    return Cursor(high, None, None, end_day), page, window, None


def _incremental_page(
    session: Session, device: DeviceInfo, parsed: Cursor, live: FeedWindow, top: int, limit: int
) -> tuple[Cursor, _Page, FeedWindow, int | None]:
    """A page of changes after the cursor, with the visits that came into the window since."""
    pos = (parsed.seq, parsed.after)
    page = _Page()
    caught_from = max(midnight(parsed.window_end), live.start)
    if live.end > caught_from:
        # The window moved on: visits now in it that did not change are sent too (changed ones follow below).
        caught = session.execute(
            select(*_ROW_COLUMNS)
            .join(PublishedVisit, PublishedVisit.visit_id == PublishedVisitWorker.visit_id)
            .where(_held(device, caught_from, live.end), not_(_after(pos)))
        ).all()
        _classify(caught, live, page)
    if parsed.seq >= top and parsed.after is None:
        return Cursor(top, None, None, live.end_day), page, live, parsed.seq  # nothing changed since
    rows = session.execute(
        select(*_ROW_COLUMNS)
        .outerjoin(PublishedVisit, PublishedVisit.visit_id == PublishedVisitWorker.visit_id)
        .where(
            PublishedVisitWorker.worker_id == device.worker_id,
            PublishedVisitWorker.environment_id == device.environment_id,
            PublishedVisitWorker.seq <= top,
            _after(pos),
        )
        .order_by(PublishedVisitWorker.seq, PublishedVisitWorker.visit_id)
        .limit(limit + 1)
    ).all()
    _classify(rows[:limit], live, page)
    if len(rows) > limit:
        last = rows[limit - 1]
        return Cursor(last.seq, last.visit_id, None, live.end_day), page, live, parsed.seq
    return Cursor(top, None, None, live.end_day), page, live, parsed.seq


def _client_json(c: PublishedClient, branch: str | None) -> dict[str, Any]:
    return {
        "id": c.client_id,
        "external_id": c.external_id,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "branch": branch,
        "phone": c.phone,
        "address": c.address,
        "notes": c.notes,
    }


def _plan_json(p: PublishedCarePlan) -> dict[str, Any]:
    return {
        "id": p.id,
        "plan_visit_id": p.plan_visit_id,
        "external_id": p.external_id,
        "revision": p.revision,
        "client_id": p.client_id,
        "visit_type_code": p.visit_type_code,
        "description": p.description,
        "days": p.days,
        "start_time": p.start_time,
        "duration_minutes": p.duration_minutes,
        "carers_needed": p.carers_needed,
        "content": p.content,
    }


def _clients_and_plans(
    session: Session,
    device: DeviceInfo,
    parsed: Cursor | None,
    next_cursor: Cursor,
    window: FeedWindow,
    page: _Page,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Clients and care plans of the visits sent, and (incremental) those changed in the page's seq range.

    Each item that is no longer active comes back with a ``reason`` (it is a drop).
    """
    sent = {v["client_id"] for v in page.visits.values()}
    client_rows: dict[int, tuple[PublishedClient, str | None]] = {}
    plan_rows: dict[int, PublishedCarePlan] = {}
    client_stmt = select(PublishedClient, PublishedBranch.name).outerjoin(
        PublishedBranch, PublishedBranch.id == PublishedClient.branch_id
    )
    if sent:
        for c, branch in session.execute(client_stmt.where(PublishedClient.client_id.in_(sent))):
            client_rows[c.client_id] = (c, branch)
        for p in session.scalars(
            select(PublishedCarePlan).where(PublishedCarePlan.client_id.in_(sent), PublishedCarePlan.state == ACTIVE)
        ):
            plan_rows[p.id] = p
    if parsed is not None and not parsed.snapshot and next_cursor.seq > parsed.seq:
        # Changed since the cursor, up to the page's end, for clients the worker visits in the window.
        low, high = parsed.seq, next_cursor.seq
        visited = (
            select(PublishedVisit.client_id)
            .join(PublishedVisitWorker, PublishedVisitWorker.visit_id == PublishedVisit.visit_id)
            .where(_held(device, window.start, window.end))
        )
        for c, branch in session.execute(
            client_stmt.where(
                PublishedClient.environment_id == device.environment_id,
                PublishedClient.seq > low,
                PublishedClient.seq <= high,
                PublishedClient.client_id.in_(visited),
            )
        ):
            client_rows[c.client_id] = (c, branch)
        for p in session.scalars(
            select(PublishedCarePlan).where(
                PublishedCarePlan.environment_id == device.environment_id,
                PublishedCarePlan.seq > low,
                PublishedCarePlan.seq <= high,
                PublishedCarePlan.client_id.in_(visited),
            )
        ):
            plan_rows[p.id] = p
    clients = [
        _client_json(c, b) if c.state == ACTIVE else _drop("client", c.client_id, c.external_id, c.state)
        for c, b in sorted(client_rows.values(), key=lambda cb: cb[0].client_id)
    ]
    plans = [
        _plan_json(p)
        if p.state == ACTIVE
        else _drop("care_plan", p.id, p.external_id, p.state, plan_visit_id=p.plan_visit_id, revision=p.revision)
        for p in sorted(plan_rows.values(), key=lambda p: p.id)
    ]
    return clients, plans


def _add_workers(session: Session, page: _Page) -> None:
    """Who is on each visit sent (double-up visits have two), by username and name."""
    if not page.visits:
        return
    rows = session.execute(
        select(
            PublishedVisitWorker.visit_id,
            PublishedWorker.worker_id,
            PublishedWorker.username,
            PublishedWorker.first_name,
            PublishedWorker.last_name,
        )
        .join(PublishedWorker, PublishedWorker.worker_id == PublishedVisitWorker.worker_id)
        .where(PublishedVisitWorker.visit_id.in_(list(page.visits)), PublishedVisitWorker.active.is_(True))
        .order_by(PublishedVisitWorker.visit_id, PublishedWorker.username)
    )
    for visit_id, worker_id, username, first, last in rows:
        page.visits[visit_id]["workers"].append(
            {"id": worker_id, "username": username, "first_name": first, "last_name": last}
        )


FORMS_MARGIN = timedelta(seconds=30)  # longer than a form change takes to commit: one racing a pull comes again


def _resend_if_forms_changed(session: Session, device: DeviceInfo, window: FeedWindow, page: _Page) -> None:
    """Send every held visit again when forms changed since the device's last full sync.

    Forms, services or branch associations that changed make each visit carry
    its current ``form_ids`` again (and the page the new definitions).
    """
    changed = forms_changed_at(session, device.tenant_id)
    since = (device.last_sync_at or device.linked_at) - FORMS_MARGIN
    if changed is None or changed < since:
        return
    held = session.execute(
        select(*_ROW_COLUMNS)
        .join(PublishedVisit, PublishedVisit.visit_id == PublishedVisitWorker.visit_id)
        .where(_held(device, window.start, window.end))
    ).all()
    dropped = {d["id"] for d in page.drops if d["kind"] == "visit"}
    for r in held:
        if r.visit_id not in page.visits and r.visit_id not in dropped:
            page.visits[r.visit_id] = _visit_json(r)


def _add_forms(session: Session, device: DeviceInfo, page: _Page) -> list[dict[str, Any]]:
    """Each visit's ``form_ids``: the forms of the services of its client's roster branch; their definitions once."""
    if not page.visits:
        return []
    branch_of = client_branches(session, {v["client_id"] for v in page.visits.values()})
    sets = feed_forms(session, device.tenant_id, set(branch_of.values()))
    used: set[str] = set()
    for v in page.visits.values():
        branch = branch_of.get(v["client_id"])
        v["form_ids"] = list(sets.by_branch.get(branch, [])) if branch is not None else []
        used.update(v["form_ids"])
    return [sets.definitions[ref] for ref in sorted(used) if ref in sets.definitions]


def do_record_sync(
    session: Session, device: DeviceInfo, from_seq: int | None, to: Cursor, page: FeedPage, now: datetime
) -> None:
    """Record one successful sync request, in the caller's (the pull's) transaction.

    The device's ``last_sync_at`` moves only when the device has everything up
    to date (the last page); a revoked device's pull fails and records nothing.
    """
    complete = not page.has_more
    values: dict[str, Any] = {"last_cursor": to.seq}
    if complete:
        values["last_sync_at"] = now
    done = session.execute(
        update(MobileDevice).where(MobileDevice.id == device.id, MobileDevice.revoked_at.is_(None)).values(**values)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise AuthenticationRequired("this device was unlinked; link it again with a new code")
    session.add(
        MobileDeviceSync(
            device_id=device.id,
            at=now,
            cursor_from=from_seq,
            cursor_to=to.seq,
            complete=complete,
            counts=page.counts,
        )
    )


def sync_history(db: Database, environment_id: int, device_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """A device's recent syncs, newest first."""
    with db.read() as session:
        owner = session.scalar(
            select(MobileDevice.id).where(MobileDevice.id == device_id, MobileDevice.environment_id == environment_id)
        )
        if owner is None:
            raise NotFound(f"no device {device_id}")
        rows = session.scalars(
            select(MobileDeviceSync)
            .where(MobileDeviceSync.device_id == device_id)
            .order_by(MobileDeviceSync.id.desc())
            .limit(limit)
        ).all()
    return [
        {
            "at": r.at,
            "cursor_from": r.cursor_from,
            "cursor_to": r.cursor_to,
            "complete": r.complete,
            "counts": r.counts,
        }
        for r in rows
    ]
