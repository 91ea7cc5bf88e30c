"""Property: connecting environments with arbitrary, overlapping identifiers never collides nor changes the primary.

On SQLite and PostgreSQL.

Every example builds a tenant of its own whose primary environment publishes a
random roster, and one to three standalone source tenants whose branch names,
worker names and ids, client ids and visit ids overlap the primary's and each
other's (case variants included, and names that already look prefixed, such as
a primary branch literally called "SW7 - Bristol"). The sources are connected
one at a time: a dry run, then apply when nothing blocks it, else apply must
refuse and change nothing. Afterwards: usernames, published branches and
published visit IDs are unique in the tenant, no row of the primary
environment changed, and every collision a dry run reported was real.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import SYSTEM
from carehub.platform.db import Database
from carehub.platform.errors import Conflict
from carehub.publishing.service import config
from carehub.publishing.tables import PublishedBranch, PublishedClient, PublishedVisit, PublishedWorker
from carehub.tenancy import connect
from carehub.tenancy import service as tenancy
from carehub.tenancy.domain.naming import MAX_BRANCH, MAX_USERNAME, MAX_VISIT_ID
from carehub.tenancy.tables import Environment, EnvironmentLogin
from tests.conftest import World
from tests.publishing.support import visit
from tests.tenancy.support import primary_rows, snapshot

# Prefix stems, the same in different cases; each example adds its own number (prefixes are unique in Carehub).
STEMS = ("SW", "sw", "SouthWest", "SOUTHWEST", "North", "N")
# Branch, visit and worker names; "{0}" and "{1}" become the first and second source's prefix, as typed or
# in another case, so that names already look prefixed.
BRANCH_NAMES = ("Bristol", "bristol", "Bath", "{0} - Bristol", "{0u} - Bristol", "{1} - Bath", "{0} - {1} - Bath")
VISIT_IDS = ("V1", "v1", "V2", "{0}-V1", "{0l}-V1", "{1}-{0}-V1", "{0}-v1")
BRANCH_IDS = ("B1", "b1", "B2")
WORKER_IDS = ("W1", "w1", "W2")
CLIENT_IDS = ("C1", "c1", "C2")
PEOPLE = (("Wren", "Mobile"), ("wren", "mobile"), ("Ann", "O'Neil"), ("Ånn", "Oneil"), ("Wren", "Mobile2"), ("Ω", "Ж"))
FORMATS = (
    ("{prefix} - {branch}", "{prefix}.{username}", "{prefix}-{id}"),
    ("{prefix} - {branch}", "{prefix}.{username}", "{prefix}-{id}"),
    ("{branch} - {prefix}", "{username}.{prefix}", "{id}-{prefix}"),
    ("{prefix}: {branch}", "{prefix}_{username}", "{prefix}/{id}"),
)

rosters = st.fixed_dictionaries(
    {
        "branches": st.dictionaries(st.sampled_from(BRANCH_IDS), st.sampled_from(BRANCH_NAMES), min_size=1),
        "workers": st.dictionaries(
            st.sampled_from(WORKER_IDS), st.tuples(st.sampled_from(PEOPLE), st.integers(0, 2), st.booleans())
        ),
        "clients": st.dictionaries(st.sampled_from(CLIENT_IDS), st.integers(0, 2)),
        "visits": st.dictionaries(
            st.sampled_from(VISIT_IDS), st.tuples(st.integers(0, 2), st.lists(st.integers(0, 2), max_size=2))
        ),
    }
)
sources = st.tuples(st.sampled_from(STEMS), st.sampled_from(FORMATS), rosters)
scenarios = st.tuples(rosters, st.lists(sources, min_size=1, max_size=3))

_examples = itertools.count(1)


def examples(backend: str) -> settings:
    """Modest runs: each example builds two to four tenants through the roster API and connects them."""
    return settings(
        max_examples=25 if backend == "sqlite" else 10,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@dataclass(frozen=True)
class Tenant:
    """A tenant of this example, with its primary environment and a roster API token."""

    world: World
    headers: dict[str, str]


def _tenant(db: Database, name: str) -> Tenant:
    info, env = tenancy.do_create_tenant(db, SYSTEM, name=name, timezone="Europe/London")
    _, token = auth.do_create_token(db, SYSTEM, tenant_id=info.id, environment_id=env.id, name="roster")
    return Tenant(World(info, env, token, "-"), {"Authorization": f"Bearer {token}"})


def _text(template: str, prefixes: list[str]) -> str:
    """A generated name with the example's prefixes put in (as typed, upper- or lower-case)."""
    out = template
    for i, p in enumerate(prefixes[:2]):
        out = out.replace(f"{{{i}u}}", p.upper()).replace(f"{{{i}l}}", p.lower()).replace(f"{{{i}}}", p)
    return out.replace("{0u}", "X").replace("{0l}", "x").replace("{0}", "X").replace("{1}", "Y")


def _send(api: TestClient, db: Database, tenant: Tenant, roster: dict[str, Any], prefixes: list[str]) -> None:
    """Send a roster through the API and publish it: every worker, client and visit is in one of its branches."""
    branches: list[str] = sorted(roster["branches"])

    def branch(i: int) -> str:
        return branches[i % len(branches)]

    def post(plural: str, records: list[dict[str, Any]]) -> None:
        if records:
            r = api.post(f"/api/v1/{plural}/batch", json={"records": records}, headers=tenant.headers)
            assert r.status_code == 200, r.text
            assert r.json()["rejected"] == 0, r.json()

    post(
        "branches",
        [{"id": b, "version": 1, "name": _text(n, prefixes)} for b, n in sorted(roster["branches"].items())],
    )
    post("contracts", [{"id": "K1", "version": 1, "name": "Council", "funder": "council"}])
    clients = sorted(roster["clients"]) or ["C1"]
    post(
        "clients",
        [
            {"id": c, "version": 1, "branch_id": branch(roster["clients"].get(c, 0)), "first_name": "Ada"}
            | {"last_name": c, "status": "active"}
            for c in clients
        ],
    )
    workers = sorted(roster["workers"])
    post(
        "workers",
        [
            {"id": w, "version": 1, "branch_id": branch(b), "first_name": first, "last_name": last}
            | {"status": "active", "mobile_enabled": mobile}
            for w, ((first, last), b, mobile) in sorted(roster["workers"].items())
        ],
    )
    visits = {_text(v, prefixes): plan for v, plan in sorted(roster["visits"].items())}  # ids may meet: once each
    post(
        "visits",
        [
            visit(
                v,
                client=clients[c % len(clients)],
                workers=tuple(sorted({workers[i % len(workers)] for i in allocated})) if workers else (),
            )
            for v, (c, allocated) in sorted(visits.items())
        ],
    )
    config.do_set_monitored(db, SYSTEM, tenant.world.env.id, ["K1"], monitored=True)


def _real(db: Database, tenant_id: int, collision: connect.Collision) -> bool:  # noqa: PLR0911 - one per field
    """The collision a dry run reported is true of the database as it is."""
    limits = {"branch_format": MAX_BRANCH, "username_format": MAX_USERNAME, "visit_id_format": MAX_VISIT_ID}
    value = collision.value
    with db.read() as session:
        envs = select(Environment.id).where(Environment.tenant_id == tenant_id)
        match collision.field, collision.code:
            case ("prefix", "prefix_taken"):
                return session.scalar(select(Environment.id).where(Environment.prefix_key == value.lower())) is not None
            case ("name", _):
                return session.scalar(envs.where(Environment.name == value)) is not None
            case ("branch", _):
                found = select(PublishedBranch.id).where(
                    PublishedBranch.tenant_id == tenant_id, PublishedBranch.name == value
                )
                return session.scalar(found) is not None
            case ("visit_id", _):
                found = select(PublishedVisit.id).where(
                    PublishedVisit.environment_id.in_(envs), PublishedVisit.external_id == value
                )
                return session.scalar(found) is not None
            case ("username", _):
                worker = select(PublishedWorker.id).where(
                    PublishedWorker.tenant_id == tenant_id, PublishedWorker.username == value
                )
                reserved = select(EnvironmentLogin.id).where(
                    EnvironmentLogin.tenant_id == tenant_id, EnvironmentLogin.new_username == value
                )
                return session.scalar(worker) is not None or session.scalar(reserved) is not None
            case (field, "too_long"):
                return len(value) > limits[field]
    return False


def _unchanged(before: dict[str, set[tuple[Any, ...]]], after: dict[str, set[tuple[Any, ...]]]) -> None:
    """No row of the primary environment (or its tenant) changed or went; only the added one's rows are new."""
    shared = ("published_branches", "published_workers", "environment_logins", "environments")
    for name, rows in before.items():
        assert rows <= after[name], (name, rows - after[name])
        if name not in shared:
            assert after[name] == rows, (name, after[name] - rows)


def _check_tenant(db: Database, tenant_id: int) -> None:
    """Usernames, published branches and published visit IDs are unique in the tenant; no branch is shared."""
    with db.read() as session:
        usernames = session.scalars(select(PublishedWorker.username).where(PublishedWorker.tenant_id == tenant_id))
        lowered = Counter(u.lower() for u in usernames)
        branches = Counter(
            session.scalars(select(PublishedBranch.name).where(PublishedBranch.tenant_id == tenant_id)).all()
        )
        visit_ids = Counter(
            session.scalars(
                select(PublishedVisit.external_id)
                .join(Environment, Environment.id == PublishedVisit.environment_id)
                .where(Environment.tenant_id == tenant_id)
            ).all()
        )
        # A published branch holds the records of one environment only (its name came from that one).
        shared = {
            branch: envs
            for branch, envs in session.execute(
                select(PublishedBranch.name, func.count(func.distinct(PublishedWorker.environment_id)))
                .join(PublishedWorker, PublishedWorker.branch_id == PublishedBranch.id)
                .where(PublishedBranch.tenant_id == tenant_id)
                .group_by(PublishedBranch.name)
            )
            if envs > 1
        }
        shared |= {
            branch: envs
            for branch, envs in session.execute(
                select(PublishedBranch.name, func.count(func.distinct(PublishedClient.environment_id)))
                .join(PublishedClient, PublishedClient.branch_id == PublishedBranch.id)
                .where(PublishedBranch.tenant_id == tenant_id)
                .group_by(PublishedBranch.name)
            )
            if envs > 1
        }
    assert [u for u, n in lowered.items() if n > 1] == []
    assert [b for b, n in branches.items() if n > 1] == []
    assert [v for v, n in visit_ids.items() if n > 1] == []
    assert shared == {}


def _connect_all(api: TestClient, db: Database, scenario: tuple[Any, ...]) -> None:
    primary_roster, source_list = scenario
    n = next(_examples)
    prefixes = [f"{stem}{n}" for stem, _, _ in source_list]
    note(f"prefixes: {prefixes}")
    primary = _tenant(db, f"Primary {n}")
    _send(api, db, primary, primary_roster, prefixes)
    tenant_id = primary.world.tenant.id
    for i, (prefix, (branch_format, username_format, visit_id_format), roster) in enumerate(
        zip(prefixes, (f for _, f, _ in source_list), (r for _, _, r in source_list), strict=True)
    ):
        source = _tenant(db, f"Source {n}.{i}")
        _send(api, db, source, roster, prefixes)
        args: dict[str, Any] = {
            "name": prefix,
            "prefix": prefix,
            "tenant_id": tenant_id,
            "branch_format": branch_format,
            "username_format": username_format,
            "visit_id_format": visit_id_format,
            "source_tenant": source.world.tenant.name,
        }
        before = primary_rows(db, primary.world)
        dry = connect.do_connect_environment(db, SYSTEM, **args, dry_run=True)
        note(f"connect {prefix} {username_format}: collisions {[c.as_dict() for c in dry.collisions]}")
        for collision in dry.collisions:
            assert _real(db, tenant_id, collision), collision
        if dry.ok:
            applied = connect.do_connect_environment(db, SYSTEM, **args, dry_run=False)
            assert applied.ok
            assert applied.environment is not None
            assert [u.new_username for u in applied.usernames] == [u.new_username for u in dry.usernames]
        else:
            everything = snapshot(db)
            with pytest.raises(Conflict) as refused:
                connect.do_connect_environment(db, SYSTEM, **args, dry_run=False)
            assert [(e.field, e.value) for e in refused.value.errors] == [(c.field, c.value) for c in dry.collisions]
            assert snapshot(db) == everything
        _unchanged(before, primary_rows(db, primary.world))
        _check_tenant(db, tenant_id)


def test_property_connecting_overlapping_environments_never_collides_nor_changes_the_primary(
    api: TestClient, db: Database, backend: str
) -> None:
    @examples(backend)
    @given(scenarios)
    def check(scenario: tuple[Any, ...]) -> None:
        _connect_all(api, db, scenario)

    check()
