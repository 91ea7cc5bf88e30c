"""Linking a device: one-time codes (single use, expiry, lockout), tokens, revoking, stale devices."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from carehub.platform.audit import AuditEntry
from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import Actor, Role
from carehub.platform.clock import utc_now
from carehub.platform.db import Database
from carehub.platform.errors import AuthenticationRequired, Conflict, InvalidInput, NotFound, PermissionDenied
from carehub.publishing.mobile import service as mobile
from carehub.publishing.mobile.tables import MobileLinkCode
from carehub.tenancy.access import service as access
from tests.conftest import World
from tests.publishing.mobile.conftest import Published


def _audit(db: Database, entity: str) -> list[tuple[str, str]]:
    with db.read() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.entity == entity).order_by(AuditEntry.id))
        return [(r.action, r.actor_kind) for r in rows]


def test_a_correct_code_links_the_device_and_gives_a_token(
    db: Database, world: World, staff: Actor, published: Published
) -> None:
    issued = mobile.do_issue_link_code(db, staff, world.env.id, "W01")
    assert issued.username == "jo.bloggs"
    assert issued.worker_external_id == "W01"
    assert len(issued.code.replace(" ", "")) == mobile.CODE_DIGITS
    assert timedelta(minutes=14) < issued.expires_at - utc_now() <= mobile.CODE_TTL

    device, token = mobile.do_link_device(db, "Jo.Bloggs ", issued.code.replace(" ", "-"), "  Jo's   phone ")
    assert token.startswith(mobile.DEVICE_TOKEN_PREFIX)
    assert device.username == "jo.bloggs"
    assert device.name == "Jo's phone"
    assert device.worker_external_id == "W01"
    assert device.last_sync_at is None
    assert mobile.authenticate_device(db, token).id == device.id
    assert [d.id for d in mobile.list_devices(db, world.env.id)] == [device.id]
    assert _audit(db, "mobile_link_code") == [("issue", "token")]
    assert _audit(db, "mobile_device") == [("link", "device")]
    with db.read() as session:
        stored = session.scalars(select(MobileLinkCode)).one()
    assert issued.code.replace(" ", "") not in (stored.code_hash, stored.code_salt)
    assert stored.used_at is not None
    assert stored.device_id == device.id


def test_a_code_works_once(db: Database, world: World, staff: Actor, published: Published) -> None:
    issued = mobile.do_issue_link_code(db, staff, world.env.id, "W01")
    mobile.do_link_device(db, "jo.bloggs", issued.code, "Phone")
    with pytest.raises(AuthenticationRequired, match="already been used"):
        mobile.do_link_device(db, "jo.bloggs", issued.code, "Second phone")
    assert len(mobile.list_devices(db, world.env.id)) == 1


def test_a_code_expires_after_15_minutes(db: Database, world: World, staff: Actor, published: Published) -> None:
    issued_at = utc_now()
    issued = mobile.do_issue_link_code(db, staff, world.env.id, "W01", now=issued_at)
    with pytest.raises(AuthenticationRequired, match="expired"):
        mobile.do_link_device(db, "jo.bloggs", issued.code, "Phone", now=issued_at + timedelta(minutes=15))
    device, _ = mobile.do_link_device(db, "jo.bloggs", issued.code, "Phone", now=issued_at + timedelta(minutes=14))
    assert device.username == "jo.bloggs"


def test_wrong_attempts_lock_the_code(db: Database, world: World, staff: Actor, published: Published) -> None:
    issued = mobile.do_issue_link_code(db, staff, world.env.id, "W01")
    right = issued.code.replace(" ", "")
    wrong = f"{(int(right) + 1) % 10**8:08d}"
    for _ in range(mobile.MAX_FAILED_ATTEMPTS - 1):
        with pytest.raises(AuthenticationRequired, match="unknown username or wrong code"):
            mobile.do_link_device(db, "jo.bloggs", wrong, "Phone")
    # Each wrong attempt is counted; one more locks the code ...
    with db.read() as session:
        assert session.scalars(select(MobileLinkCode.failed_attempts)).one() == mobile.MAX_FAILED_ATTEMPTS - 1
    with pytest.raises(AuthenticationRequired, match="unknown username or wrong code"):
        mobile.do_link_device(db, "jo.bloggs", wrong, "Phone")
    # ... but after the last wrong attempt the code is locked, even for the right code.
    with pytest.raises(AuthenticationRequired, match="locked"):
        mobile.do_link_device(db, "jo.bloggs", right, "Phone")
    assert ("lock", "system") in _audit(db, "mobile_link_code")
    assert mobile.list_devices(db, world.env.id) == []


def test_a_wrong_username_says_nothing_about_whether_it_exists(
    db: Database, world: World, staff: Actor, published: Published
) -> None:
    issued = mobile.do_issue_link_code(db, staff, world.env.id, "W01")
    with pytest.raises(AuthenticationRequired) as unknown:
        mobile.do_link_device(db, "no.such.user", issued.code, "Phone")
    with pytest.raises(AuthenticationRequired) as known:
        mobile.do_link_device(db, "jo.bloggs", "0000 0000" if issued.code != "0000 0000" else "1111 1111", "Phone")
    with pytest.raises(AuthenticationRequired) as other_worker:
        mobile.do_link_device(db, "sam.smith", issued.code, "Phone")
    assert unknown.value.message == known.value.message == other_worker.value.message
    assert [e.as_dict() for e in unknown.value.errors] == [e.as_dict() for e in known.value.errors]
    assert "***" in str(unknown.value.errors[0].as_dict()["value"])


def test_a_new_code_replaces_the_workers_earlier_one(
    db: Database, world: World, staff: Actor, published: Published
) -> None:
    first = mobile.do_issue_link_code(db, staff, world.env.id, "W01")
    second = mobile.do_issue_link_code(db, staff, world.env.id, "W01")
    if first.code != second.code:
        with pytest.raises(AuthenticationRequired, match="replaced by a newer one"):
            mobile.do_link_device(db, "jo.bloggs", first.code, "Phone")
    device, _ = mobile.do_link_device(db, "jo.bloggs", second.code, "Phone")
    assert device.username == "jo.bloggs"


def test_link_input_is_refused_field_by_field(db: Database, published: Published) -> None:
    with pytest.raises(InvalidInput) as refused:
        mobile.do_link_device(db, "", "12ab", "\x07")
    rows = [e.as_dict() for e in refused.value.errors]
    assert [r["field"] for r in rows] == ["username", "code", "device_name"]
    assert rows[1]["value"] == "***"
    assert "8-digit" in rows[1]["reason"]


def test_codes_only_for_published_workers_and_only_by_coordinators(
    db: Database, world: World, staff: Actor, published: Published
) -> None:
    with pytest.raises(Conflict, match="not published"):
        mobile.do_issue_link_code(db, staff, world.env.id, "W03")
    with pytest.raises(NotFound):
        mobile.do_issue_link_code(db, staff, world.env.id, "NOPE")
    with pytest.raises(InvalidInput):
        mobile.do_issue_link_code(db, staff, world.env.id, " ")
    published.worker("W02", "sam.smith", state="deactivated")
    with pytest.raises(Conflict, match="deactivated"):
        mobile.do_issue_link_code(db, staff, world.env.id, "W02")
    auth.do_create_user(
        db, staff, tenant_id=world.tenant.id, username="carer", password="x" * 12, role=Role.CARE_WORKER
    )
    carer = auth.authenticate(db, "carer", "x" * 12)
    with pytest.raises(PermissionDenied):
        mobile.do_issue_link_code(db, carer, world.env.id, "W01")
    auth.do_create_user(
        db, staff, tenant_id=world.tenant.id, username="coord", password="x" * 12, role=Role.COORDINATOR
    )
    coordinator = auth.authenticate(db, "coord", "x" * 12)
    with pytest.raises(NotFound):  # a coordinator sees only the branches granted to them (docs/access.md)
        mobile.do_issue_link_code(db, coordinator, world.env.id, "W01")
    access.do_grant_branch(db, staff, "coord", "B1")
    coordinator = auth.authenticate(db, "coord", "x" * 12)
    assert mobile.do_issue_link_code(db, coordinator, world.env.id, "W01").username == "jo.bloggs"
    assert _audit(db, "mobile_link_code") == [("issue", "user")]


def test_a_code_of_a_worker_deactivated_since_does_not_link(
    db: Database, world: World, staff: Actor, published: Published
) -> None:
    issued = mobile.do_issue_link_code(db, staff, world.env.id, "W01")
    published.worker("W01", "jo.bloggs", state="deactivated")
    with pytest.raises(AuthenticationRequired, match="no longer publishes"):
        mobile.do_link_device(db, "jo.bloggs", issued.code, "Phone")


def test_a_revoked_device_is_refused(
    db: Database, world: World, staff: Actor, device: tuple[mobile.DeviceInfo, str]
) -> None:
    info, token = device
    revoked = mobile.do_revoke_device(db, staff, world.env.id, info.id)
    assert revoked.revoked_at is not None
    assert revoked.revoked_by == staff.label
    with pytest.raises(AuthenticationRequired, match="unlinked"):
        mobile.authenticate_device(db, token)
    with pytest.raises(AuthenticationRequired):
        mobile.pull(db, info, None)
    # Revoking again changes nothing and writes no second audit row.
    mobile.do_revoke_device(db, staff, world.env.id, info.id)
    assert _audit(db, "mobile_device") == [("link", "device"), ("revoke", "token")]
    assert mobile.list_devices(db, world.env.id) == []
    assert [d.id for d in mobile.list_devices(db, world.env.id, include_revoked=True)] == [info.id]
    with pytest.raises(NotFound):
        mobile.do_revoke_device(db, staff, world.env.id + 1000, info.id)


def test_linking_again_under_the_same_name_replaces_the_old_device(
    db: Database, world: World, staff: Actor, device: tuple[mobile.DeviceInfo, str]
) -> None:
    old, old_token = device
    issued = mobile.do_issue_link_code(db, staff, world.env.id, "W01")
    new, new_token = mobile.do_link_device(db, "jo.bloggs", issued.code, old.name)
    assert [d.id for d in mobile.list_devices(db, world.env.id)] == [new.id]
    with pytest.raises(AuthenticationRequired):
        mobile.authenticate_device(db, old_token)
    assert mobile.authenticate_device(db, new_token).id == new.id
    # A second device under another name lives alongside.
    issued = mobile.do_issue_link_code(db, staff, world.env.id, "W01")
    tablet, _ = mobile.do_link_device(db, "jo.bloggs", issued.code, "Tablet")
    assert {d.id for d in mobile.list_devices(db, world.env.id)} == {new.id, tablet.id}


def test_tokens_that_are_not_device_tokens_are_refused(db: Database, world: World, published: Published) -> None:
    for token in ("", world.token, "chd_" + "x" * 43, "chd_" + "x" * 200):
        with pytest.raises(AuthenticationRequired):
            mobile.authenticate_device(db, token)


def test_stale_devices(
    db: Database, world: World, staff: Actor, published: Published, device: tuple[mobile.DeviceInfo, str]
) -> None:
    info, _ = device
    env = world.env.id
    linked = info.linked_at
    # Never synced: counted from when it was linked.
    assert mobile.stale_devices(db, env, linked + timedelta(minutes=29)) == []
    assert [d.id for d in mobile.stale_devices(db, env, linked + timedelta(minutes=31))] == [info.id]
    synced_at = linked + timedelta(minutes=40)
    mobile.pull(db, info, None, now=synced_at)
    assert mobile.stale_devices(db, env, synced_at + timedelta(minutes=30)) == []
    late = synced_at + timedelta(minutes=31)
    stale = mobile.stale_devices(db, env, late)
    assert [d.id for d in stale] == [info.id]
    assert stale[0].last_sync_at == synced_at
    assert stale[0].is_stale(late)
    assert mobile.stale_devices(db, env, late, older_than=timedelta(hours=1)) == []
    # A worker no longer published is not expected to sync; nor is a revoked device.
    published.worker("W01", "jo.bloggs", state="deactivated")
    assert mobile.stale_devices(db, env, late) == []
    published.worker("W01", "jo.bloggs", state="active")
    mobile.do_revoke_device(db, staff, env, info.id)
    assert mobile.stale_devices(db, env, late) == []
