"""Seed 001's statements about access, on SQLite and PostgreSQL, at the service layer and over HTTP.

"Role-based access continues to work as normal. Staff in one branch can't see case files from another."
"Will role-based access still work? Yes. Branch visibility and access controls remain unchanged."
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from carehub import bootstrap
from carehub.app import create_app
from carehub.platform.audit import AuditEntry
from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import SYSTEM, Role
from carehub.platform.clock import utc_now
from carehub.platform.db import Database
from carehub.platform.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from carehub.publishing.mobile import service as mobile
from carehub.publishing.service import explain
from carehub.roster.domain.kinds import RecordKind
from carehub.roster.service import browse, queries
from carehub.tenancy import connect
from carehub.tenancy import service as tenancy
from carehub.tenancy.access import service as access
from tests.access.conftest import Site, signed_in
from tests.access.support import branch_records, leaks
from tests.conftest import PASSWORD, World


def _views(db: Database, entity: str) -> list[tuple[str, str]]:
    with db.read() as session:
        rows = session.execute(
            select(AuditEntry.actor_label, AuditEntry.external_id)
            .where(AuditEntry.entity == entity, AuditEntry.action == "view")
            .order_by(AuditEntry.id)
        ).all()
    return [(str(a), str(b)) for a, b in rows]


def test_rule_staff_in_one_branch_cannot_see_case_files_from_another_in_the_services(db: Database, site: Site) -> None:
    env = site.world.env.id
    for username in ("manager", "coord"):
        actor = site.actor(db, username)
        assert actor.branch_ids is not None
        assert len(actor.branch_ids) == 1
        now = utc_now()
        assert browse.do_view_client(db, actor, env, "C-OWN", now).client.name == "Ada Own"
        for view, ident in (
            (browse.do_view_client, "C-OTHER"),
            (browse.do_view_worker, "W-OTHER"),
        ):
            with pytest.raises(NotFound):
                view(db, actor, env, ident, now)
        with pytest.raises(NotFound):
            browse.do_view_visit(db, actor, env, "V-OTHER")
        for kind in (RecordKind.CLIENT, RecordKind.WORKER, RecordKind.VISIT, RecordKind.PLAN_VISIT):
            prefix = {"client": "C", "worker": "W", "visit": "V", "plan_visit": "P"}[kind.value]
            with pytest.raises(NotFound):
                queries.do_view_record(db, actor, env, kind, f"{prefix}-OTHER")
            with pytest.raises(NotFound):
                queries.record_history(db, env, kind, f"{prefix}-OTHER", branch_ids=actor.branch_ids)
            page = queries.list_records(db, env, kind, branch_ids=actor.branch_ids)
            assert [i["id"] for i in page.items] == [f"{prefix}-OWN"]
            assert page.total == 1
        for explain_kind in ("client", "worker", "visit", "plan-visit"):
            prefix = {"client": "C", "worker": "W", "visit": "V", "plan-visit": "P"}[explain_kind]
            with pytest.raises(NotFound):
                explain.do_explain(db, actor, env, explain_kind, f"{prefix}-OTHER")
            assert explain.do_explain(db, actor, env, explain_kind, f"{prefix}-OWN").id == f"{prefix}-OWN"
        clients = browse.list_clients(db, env, browse.ClientFilter(q="Hidden"), branch_ids=actor.branch_ids)
        assert clients.total == 0
        visits = browse.list_visits(
            db,
            env,
            browse.VisitFilter(now - timedelta(days=2), now + timedelta(days=5)),
            branch_ids=actor.branch_ids,
        )
        assert [v.external_id for v in visits.items] == ["V-OWN"]
        assert [o.value for o in browse.branch_options(db, env, branch_ids=actor.branch_ids)] == ["B-OWN"]
        assert [d.worker_external_id for d in mobile.list_devices(db, env, branch_ids=actor.branch_ids)] == ["W-OWN"]
        assert [w.external_id for w in mobile.linkable_workers(db, env, branch_ids=actor.branch_ids)] == ["W-OWN"]
        with pytest.raises(NotFound):
            mobile.do_issue_link_code(db, actor, env, "W-OTHER")
        with pytest.raises(NotFound if username == "manager" else PermissionDenied):
            mobile.do_revoke_device(db, actor, env, site.devices["other"])
    admin = site.actor(db, "admin")
    assert admin.branch_ids is None
    assert browse.do_view_client(db, admin, env, "C-OTHER", utc_now()).client.name == "Zelda Hidden"


def test_rule_a_user_without_a_branch_sees_nothing(db: Database, world: World, site: Site) -> None:
    auth.do_create_user(
        db, SYSTEM, tenant_id=world.tenant.id, username="newbie", password=PASSWORD, role=Role.COORDINATOR
    )
    actor = auth.authenticate(db, "newbie", PASSWORD)
    assert actor.branch_ids == frozenset()
    for kind in RecordKind:
        page = queries.list_records(db, world.env.id, kind, branch_ids=actor.branch_ids)
        shared = ["K-SHARED"] if kind is RecordKind.CONTRACT else []  # only the tenant-wide contract
        assert [i["id"] for i in page.items] == shared
        assert page.total == len(shared)
    with pytest.raises(NotFound):
        browse.do_view_client(db, actor, world.env.id, "C-OWN", utc_now())


def test_rule_viewing_a_client_case_file_is_audited(db: Database, site: Site, clients: dict[str, TestClient]) -> None:
    before = len(_views(db, "client"))
    assert clients["coord"].get("/roster/clients/C-OWN").status_code == 200
    assert clients["manager"].get("/api/v1/clients/C-OWN").status_code == 200
    assert clients["coord"].get("/api/v1/explain/client/C-OWN").status_code == 200
    assert clients["admin"].get("/roster/clients/C-OTHER").status_code == 200
    assert _views(db, "client")[before:] == [
        ("coord", "C-OWN"),
        ("manager", "C-OWN"),
        ("coord", "C-OWN"),
        ("admin", "C-OTHER"),
    ]
    # A refused view is not a view: nothing was shown, nothing is recorded.
    assert clients["coord"].get("/roster/clients/C-OTHER").status_code == 404
    assert clients["coord"].get("/api/v1/clients/C-OTHER").status_code == 404
    assert len(_views(db, "client")) == before + 4
    # Who viewed is listed with the case file's history.
    trail = clients["admin"].get("/api/v1/clients/C-OWN/history", params={"views": "true"}).json()
    assert [e["actor"]["label"] for e in trail["entries"] if e["action"] == "view"] == ["coord", "manager", "coord"]


def test_rule_role_based_access_still_works_with_several_environments(
    container: bootstrap.Container, db: Database, world: World, api: TestClient
) -> None:
    """Two environments with the very same branch, client and worker ids: grants are per environment."""
    branch_records("own", "Bristol", "Ada", "Primary", api=api, shared_contract=True)
    plan = connect.do_connect_environment(
        db, SYSTEM, tenant_id=world.tenant.id, name="SouthWest", prefix="SW", dry_run=False, create_token=True
    )
    assert plan.environment is not None
    assert plan.token is not None
    second = plan.environment.id
    with TestClient(create_app_for(container), headers={"Authorization": f"Bearer {plan.token}"}) as sw:
        branch_records("own", "Bristol", "Bea", "Southwest", api=sw, shared_contract=True)
    auth.do_create_user(
        db, SYSTEM, tenant_id=world.tenant.id, username="swm", password=PASSWORD, role=Role.BRANCH_MANAGER
    )
    access.do_grant_branch(db, SYSTEM, "swm", "B-OWN", environment_id=second, tenant_id=world.tenant.id)
    manager = auth.authenticate(db, "swm", PASSWORD)
    # The same ids in the primary environment are another branch: not found.
    with pytest.raises(NotFound):
        browse.do_view_client(db, manager, world.env.id, "C-OWN", utc_now())
    assert browse.do_view_client(db, manager, second, "C-OWN", utc_now()).client.last_name == "Southwest"
    browser = signed_in(container, "swm")
    try:
        assert browser.get("/api/v1/clients/C-OWN").status_code == 404
        listed = browser.get("/api/v1/clients", params={"environment": second}).json()
        assert [(i["id"], i["last_name"]) for i in listed["items"]] == [("C-OWN", "Southwest")]
        assert browser.get("/api/v1/clients").json()["total"] == 0
        assert "Primary" not in browser.get("/roster/clients").text
        # Granting the primary's branch too: both, each in its own environment, and still nothing else.
        access.do_grant_branch(db, SYSTEM, "swm", "B-OWN", tenant_id=world.tenant.id)
        assert browser.get("/api/v1/clients/C-OWN").json()["last_name"] == "Primary"
        assert browser.get("/api/v1/clients/C-OWN", params={"environment": second}).json()["last_name"] == "Southwest"
    finally:
        browser.__exit__(None, None, None)
    # A grant names an environment of the user's tenant; another tenant's is not found.
    other, other_env = tenancy.do_create_tenant(db, SYSTEM, name="Elsewhere", timezone="Europe/London")
    with pytest.raises(NotFound):
        access.do_grant_branch(db, SYSTEM, "swm", "B-OWN", environment_id=other_env.id, tenant_id=world.tenant.id)
    assert other.id != world.tenant.id


def test_rule_branch_visibility_and_access_controls_remain_unchanged_after_connecting(
    db: Database, world: World, site: Site, clients: dict[str, TestClient]
) -> None:
    before = {u: clients[u].get("/api/v1/clients").json() for u in ("manager", "coord")}
    grants = {a.user.username: a.branches for a in access.list_users(db, SYSTEM, tenant_id=world.tenant.id)}
    connect.do_connect_environment(db, SYSTEM, tenant_id=world.tenant.id, name="North", prefix="N", dry_run=False)
    assert {u: clients[u].get("/api/v1/clients").json() for u in ("manager", "coord")} == before
    assert {a.user.username: a.branches for a in access.list_users(db, SYSTEM, tenant_id=world.tenant.id)} == grants
    assert clients["coord"].get("/roster/clients/C-OTHER").status_code == 404


def test_grants_are_for_administrators_validated_and_audited(db: Database, world: World, site: Site) -> None:
    manager = site.actor(db, "manager")
    with pytest.raises(PermissionDenied):
        access.do_grant_branch(db, manager, "coord", "B-OTHER")
    with pytest.raises(PermissionDenied):
        access.list_users(db, manager)
    with pytest.raises(PermissionDenied):
        access.do_set_role(db, manager, "coord", Role.ADMIN)
    admin = site.actor(db, "admin")
    with pytest.raises(NotFound, match="no branch"):
        access.do_grant_branch(db, admin, "coord", "B-NOPE")
    with pytest.raises(NotFound, match="no user"):
        access.do_grant_branch(db, admin, "nobody", "B-OWN")
    with pytest.raises(InvalidInput):
        access.do_grant_branch(db, admin, "coord", " ")
    with pytest.raises(Conflict, match="care workers"):
        access.do_grant_branch(db, admin, "carer", "B-OWN")
    with pytest.raises(Conflict, match="every branch"):
        access.do_grant_branch(db, admin, "admin", "B-OWN")
    found = access.do_grant_branch(db, admin, "coord", "B-OTHER")
    assert [b.external_id for b in found.branches] == ["B-OWN", "B-OTHER"] or sorted(
        b.external_id for b in found.branches
    ) == ["B-OTHER", "B-OWN"]
    again = access.do_grant_branch(db, admin, "coord", "B-OTHER")  # twice: nothing changes
    assert again.branches == found.branches
    assert site.actor(db, "coord").branch_ids is not None
    assert len(site.actor(db, "coord").branch_ids or ()) == 2
    access.do_revoke_branch(db, admin, "coord", "B-OTHER")
    access.do_revoke_branch(db, admin, "coord", "B-OTHER")
    assert len(site.actor(db, "coord").branch_ids or ()) == 1
    with db.read() as session:
        actions = session.execute(
            select(AuditEntry.action, AuditEntry.actor_label, AuditEntry.changes)
            .where(AuditEntry.entity == "user", AuditEntry.action.in_(("grant_branch", "revoke_branch")))
            .order_by(AuditEntry.id)
        ).all()
    assert [(a, label, c) for a, label, c in actions][-2:] == [
        ("grant_branch", "admin", {"branch": [None, "B-OTHER"]}),
        ("revoke_branch", "admin", {"branch": ["B-OTHER", None]}),
    ]


def test_roles_and_deactivation_take_effect_at_the_next_request(
    db: Database, site: Site, clients: dict[str, TestClient]
) -> None:
    admin = site.actor(db, "admin")
    coord = clients["coord"]
    assert coord.get("/roster/clients/C-OWN").status_code == 200
    access.do_revoke_branch(db, admin, "coord", "B-OWN")
    assert coord.get("/roster/clients/C-OWN").status_code == 404
    access.do_set_role(db, admin, "coord", Role.CARE_WORKER)
    assert coord.get("/roster/clients").status_code == 403
    access.do_set_role(db, admin, "coord", Role.ADMIN)
    assert coord.get("/roster/clients/C-OTHER").status_code == 200
    access.do_set_active(db, admin, "coord", active=False)
    assert coord.get("/roster/clients").status_code == 303  # signed out
    with pytest.raises(Conflict):
        access.do_set_active(db, admin, "admin", active=False)
    with pytest.raises(Conflict):
        access.do_set_role(db, admin, "admin", Role.COORDINATOR)


def test_rule_care_workers_use_the_mobile_app_only(clients: dict[str, TestClient]) -> None:
    carer = clients["carer"]
    for url in ("/roster/clients", "/roster/visits", "/publishing/explain", "/mobile/devices", "/users"):
        assert carer.get(url).status_code == 403, url
    for url in ("/api/v1/clients", "/api/v1/explain/client/C-OWN", "/api/v1/mobile/devices", "/api/v1/users"):
        assert carer.get(url).status_code == 403, url


def test_a_device_sees_only_its_own_workers_records(
    db: Database, site: Site, clients: dict[str, TestClient], container: bootstrap.Container
) -> None:
    with TestClient(create_app_for(container)) as phone:
        for side, other in (("own", "OTHER"), ("other", "OWN")):
            r = phone.get("/api/mobile/v1/sync", headers={"Authorization": f"Bearer {site.device_tokens[side]}"})
            assert r.status_code == 200, r.text
            body = r.text
            assert f"V-{side.upper()}" in body
            assert f"V-{other}" not in body
            assert f"C-{other}" not in body
            if side == "own":
                assert not leaks(body)
            # A device token opens nothing of the staff API.
            staff = phone.get("/api/v1/clients", headers={"Authorization": f"Bearer {site.device_tokens[side]}"})
            assert staff.status_code == 401


def create_app_for(container: bootstrap.Container) -> FastAPI:
    return create_app(container)
