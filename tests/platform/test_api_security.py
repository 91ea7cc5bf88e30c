"""Authentication on every route, revoked tokens, and secrets that never leave or rest in plain text."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from carehub import bootstrap
from carehub.app import create_app
from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import SYSTEM, Role
from carehub.platform.db import Database
from carehub.platform.errors import AuthenticationRequired, NotFound
from carehub.tables import metadata
from carehub.tenancy import service as tenancy
from tests.conftest import PASSWORD, World

# Reachable without signing in: liveness, the API contract and its viewers, static files, signing in and out.
PUBLIC = {
    ("GET", "/health"),
    ("GET", "/sign-in"),
    ("POST", "/sign-in"),
    ("POST", "/sign-out"),
    # A device links with a username and one-time code: it has no credentials yet.
    ("POST", "/api/mobile/v1/link"),
    # A stylesheet: no data.
    ("GET", "/publishing/static/publishing.css"),
}
PUBLIC_MOUNTS = {"/static"}


def _routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """Every (method, path) the app serves, including routes of included routers."""
    try:
        from fastapi.routing import iter_route_contexts  # noqa: PLC0415 - newer FastAPI nests included routers
    except ImportError:  # pragma: no cover - older FastAPI lists every route flat
        contexts = [(getattr(r, "path", ""), r) for r in app.routes]
    else:
        contexts = [(c.path or "", c.original_route) for c in iter_route_contexts(app.routes)]
    for path, route in contexts:
        methods = getattr(route, "methods", None)
        if methods is None:
            yield "MOUNT", path
            continue
        for method in sorted(set(methods) - {"HEAD", "OPTIONS"}):
            yield method, path


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}:]+(:[^}]+)?\}", "x1", path)


def _assert_refused(r_status: int, location: str, method: str, path: str) -> None:
    if path.startswith("/api/"):
        assert r_status == 401, f"{method} {path} answered {r_status} without credentials"
    else:
        signed_out = r_status in {401, 403} or (r_status in {302, 303, 307} and location.startswith("/sign-in"))
        assert signed_out, f"{method} {path} answered {r_status} ({location}) without signing in"


def test_no_route_but_the_public_ones_is_reachable_anonymously(anonymous: TestClient) -> None:
    app = anonymous.app
    assert isinstance(app, FastAPI)
    routes = sorted(set(_routes(app)))
    assert len(routes) > 40, routes
    checked = 0
    for method, path in routes:
        if (method, path) in PUBLIC:
            continue
        if method == "MOUNT":
            assert path in PUBLIC_MOUNTS, f"unexpected mount {path}"
            continue
        r = anonymous.request(method, _concrete(path), json={}, follow_redirects=False)
        _assert_refused(r.status_code, r.headers.get("location", ""), method, path)
        if path.startswith("/api/"):
            assert r.json()["error"]["code"] == "authentication_required"
            assert r.headers["www-authenticate"] == "Bearer"
        checked += 1
    assert checked > 40


def test_the_public_routes_answer_without_signing_in(anonymous: TestClient) -> None:
    for path in ("/health", "/sign-in", "/static/carehub.css"):
        assert anonymous.get(path).status_code == 200, path


def test_rule_the_api_contract_needs_a_token_or_a_signed_in_user(anonymous: TestClient, api: TestClient) -> None:
    """Everything but the health check needs authentication: the contract too (a roster token may read it)."""
    refused = anonymous.get("/api/v1/openapi.json")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "authentication_required"
    page = anonymous.get("/docs", follow_redirects=False)
    assert (page.status_code, page.headers["location"]) == (303, "/sign-in?next=%2Fdocs")
    assert anonymous.get("/redoc").status_code == 404
    contract = api.get("/api/v1/openapi.json")
    assert contract.status_code == 200
    assert "/api/v1/clients/batch" in contract.json()["paths"]
    assert "/api/v1/openapi.json" in api.get("/docs").text


@pytest.mark.parametrize(
    "header",
    ["Bearer chk_not-a-real-token", "Bearer ", "Bearer", "Basic YWRtaW46cGFzc3dvcmQ=", "chk_x", "Bearer chk_\x7f"],
)
def test_bad_credentials_are_401_on_every_kind_of_request(anonymous: TestClient, world: World, header: str) -> None:
    for method, path in (
        ("GET", "/api/v1/clients"),
        ("POST", "/api/v1/clients/batch"),
        ("DELETE", "/api/v1/clients/C1"),
    ):
        r = anonymous.request(method, path, headers={"Authorization": header}, json={"records": []})
        assert r.status_code == 401, (header, method, path)


def test_the_bearer_scheme_is_case_insensitive_and_the_token_exact(anonymous: TestClient, world: World) -> None:
    ok = anonymous.get("/api/v1/clients", headers={"authorization": f"bearer {world.token}"})
    assert ok.status_code == 200
    assert anonymous.get("/api/v1/clients", headers={"Authorization": f"Bearer {world.token}x"}).status_code == 401
    assert anonymous.get("/api/v1/clients", headers={"Authorization": f"Bearer {world.token[:-1]}"}).status_code == 401


def test_a_revoked_token_stops_working_at_once(container: bootstrap.Container, world: World) -> None:
    info, token = auth.do_create_token(
        container.db, SYSTEM, tenant_id=world.tenant.id, environment_id=world.env.id, name="to revoke"
    )
    with TestClient(create_app(container), headers={"Authorization": f"Bearer {token}"}) as client:
        assert client.get("/api/v1/clients").status_code == 200
        revoked = auth.do_revoke_token(container.db, SYSTEM, info.id)
        assert revoked.revoked_at is not None
        r = client.get("/api/v1/clients")
        assert (r.status_code, r.json()["error"]["code"]) == (401, "authentication_required")
        assert client.post("/api/v1/clients/batch", json={"records": []}).status_code == 401
        # Revoking again changes nothing; other tokens keep working.
        assert auth.do_revoke_token(container.db, SYSTEM, info.id).revoked_at == revoked.revoked_at
        assert client.get("/api/v1/clients", headers={"Authorization": f"Bearer {world.token}"}).status_code == 200
    with pytest.raises(AuthenticationRequired):
        auth.actor_for_token(container.db, token)


def test_a_token_of_another_tenant_cannot_be_revoked_by_its_users(db: Database, world: World) -> None:
    other, env = tenancy.do_create_tenant(db, SYSTEM, name="Other", timezone="Europe/London")
    info, _ = auth.do_create_token(db, SYSTEM, tenant_id=other.id, environment_id=env.id, name="theirs")
    admin = auth.authenticate(db, world.admin_username, PASSWORD)
    with pytest.raises(NotFound):
        auth.do_revoke_token(db, admin, info.id)


def _every_stored_value(db: Database) -> str:
    """The text of every value in every table, to search for leaked secrets."""
    parts: list[str] = []
    with db.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(text(f"SELECT * FROM {table.name}")):  # noqa: S608 - fixed table names
                parts.extend(str(v) for v in row)
    return "\n".join(parts)


def test_token_secrets_and_passwords_are_stored_only_as_hashes(db: Database, world: World) -> None:
    info, secret = auth.do_create_token(db, SYSTEM, tenant_id=world.tenant.id, environment_id=world.env.id, name="n")
    auth.do_create_user(
        db, SYSTEM, tenant_id=world.tenant.id, username="coord", password="another long pw", role=Role.COORDINATOR
    )
    auth.do_set_password(db, SYSTEM, "coord", "a changed long pw")
    stored = _every_stored_value(db)
    for plain in (secret, world.token, PASSWORD, "another long pw", "a changed long pw"):
        assert plain not in stored
    # Only the display prefix (marker plus 8 characters) of a token is kept readable.
    assert info.display_prefix == secret[:12]
    assert secret[12:20] not in stored
    assert hashlib.sha256(secret.encode()).hexdigest() in stored
    with db.engine.connect() as conn:
        hashes = conn.execute(text("SELECT password_hash FROM users")).scalars().all()
    assert hashes
    assert all(h.startswith("$argon2id$") for h in hashes)


def test_services_never_hand_out_hashes_or_secrets(db: Database, world: World) -> None:
    user = auth.list_users(db, world.tenant.id)[0]
    token = auth.list_tokens(db, world.tenant.id)[0]
    for info in (user, token):
        names = set(info.__slots__)
        assert not names & {"password_hash", "token_hash", "secret", "token", "password"}, names
    assert world.token not in repr(token)


def test_the_api_contract_exposes_no_secret_or_hash_fields(api: TestClient) -> None:
    contract = api.get("/api/v1/openapi.json").text
    for word in ("password_hash", "token_hash"):
        assert word not in contract
