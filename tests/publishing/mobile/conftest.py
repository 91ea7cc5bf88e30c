"""Fixtures for mobile sync: roster workers, and a published copy written directly.

The published rows are written here the way publishing writes them (each
change takes the environment's next ``seq``; a change to a visit bumps every
``published_visit_workers`` row of it), so the feed is tested on its own; the
end-to-end test drives real roster changes through publishing instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from carehub import bootstrap
from carehub.app import create_app
from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import Actor
from carehub.platform.clock import utc_now
from carehub.platform.db import Database
from carehub.publishing.mobile import service as mobile
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
from carehub.roster.service.upsert import do_upsert_batch
from tests.conftest import World


def day_at(days: int, hour: int, minute: int = 0, now: datetime | None = None) -> datetime:
    """``days`` after today (UTC) at ``hour:minute`` UTC."""
    today = (now or utc_now()).astimezone(UTC).date()
    return datetime.combine(today + timedelta(days=days), time(hour, minute), tzinfo=UTC)


@dataclass
class Published:
    """Writes the published copy of one environment as publishing would."""

    db: Database
    env_id: int
    tenant_id: int
    branch_id: int
    workers: dict[str, int]  # roster external id -> roster primary key

    def _next_seq(self, session: Session) -> int:
        settings = session.get(PublishSettings, self.env_id)
        if settings is None:
            settings = PublishSettings(environment_id=self.env_id, seq=0)
            session.add(settings)
        settings.seq = (settings.seq or 0) + 1
        session.flush()
        return settings.seq

    @property
    def seq(self) -> int:
        with self.db.read() as session:
            return session.scalar(select(PublishSettings.seq).where(PublishSettings.environment_id == self.env_id)) or 0

    def worker(self, external_id: str, username: str, state: str = "active") -> int:
        pk = self.workers[external_id]
        now = utc_now()
        with self.db.transaction() as session:
            seq = self._next_seq(session)
            row = session.scalar(select(PublishedWorker).where(PublishedWorker.worker_id == pk))
            if row is None:
                first, last = username.capitalize(), "Worker"
                session.add(
                    PublishedWorker(
                        environment_id=self.env_id,
                        external_id=external_id,
                        state=state,
                        seq=seq,
                        first_published_at=now,
                        updated_at=now,
                        worker_id=pk,
                        tenant_id=self.tenant_id,
                        username=username,
                        first_name=first,
                        last_name=last,
                        branch_id=self.branch_id,
                    )
                )
            else:
                row.state, row.seq, row.updated_at = state, seq, now
        return pk

    def client(self, client_id: int, name: str = "Ada", state: str = "active", **fields: Any) -> int:
        now = utc_now()
        with self.db.transaction() as session:
            seq = self._next_seq(session)
            row = session.scalar(select(PublishedClient).where(PublishedClient.client_id == client_id))
            if row is None:
                row = PublishedClient(
                    environment_id=self.env_id,
                    external_id=f"C{client_id}",
                    first_published_at=now,
                    client_id=client_id,
                    first_name=name,
                    last_name="Client",
                    branch_id=self.branch_id,
                )
                session.add(row)
            row.state, row.seq, row.updated_at = state, seq, now
            for k, v in fields.items():
                setattr(row, k, v)
        return seq

    def care_plan(
        self, plan_visit_id: int, client_id: int, description: str = "Morning call", state: str = "active"
    ) -> int:
        now = utc_now()
        with self.db.transaction() as session:
            seq = self._next_seq(session)
            row = session.scalar(
                select(PublishedCarePlan).where(
                    PublishedCarePlan.plan_visit_id == plan_visit_id, PublishedCarePlan.revision == 1
                )
            )
            if row is None:
                row = PublishedCarePlan(
                    environment_id=self.env_id,
                    external_id=f"PV{plan_visit_id}",
                    first_published_at=now,
                    plan_visit_id=plan_visit_id,
                    revision=1,
                    client_id=client_id,
                    contract_id=1,
                    visit_type_code="AM",
                    days="MON,TUE,WED,THU,FRI",
                    start_time="08:00",
                    duration_minutes=45,
                    carers_needed=1,
                )
                session.add(row)
            row.description, row.state, row.seq, row.updated_at = description, state, seq, now
        return seq

    def visit(
        self,
        visit_id: int,
        client_id: int,
        start_at: datetime,
        workers: Sequence[str],
        *,
        state: str = "active",
        plan_visit_id: int | None = None,
        notes: str | None = None,
    ) -> int:
        """Publish or change a visit: its workers are exactly ``workers`` (others on it become inactive)."""
        now = utc_now()
        with self.db.transaction() as session:
            seq = self._next_seq(session)
            row = session.scalar(select(PublishedVisit).where(PublishedVisit.visit_id == visit_id))
            if row is None:
                row = PublishedVisit(
                    environment_id=self.env_id,
                    external_id=f"V{visit_id}",
                    first_published_at=now,
                    visit_id=visit_id,
                    contract_id=1,
                    kind="planned",
                )
                session.add(row)
            row.client_id, row.plan_visit_id, row.start_at, row.end_at = (
                client_id,
                plan_visit_id,
                start_at,
                start_at + timedelta(minutes=45),
            )
            row.state, row.seq, row.updated_at, row.notes = state, seq, now, notes
            row.cancelled_at = now if state == "cancelled" else None
            wanted = {self.workers[w] for w in workers}
            existing = {
                r.worker_id: r
                for r in session.scalars(select(PublishedVisitWorker).where(PublishedVisitWorker.visit_id == visit_id))
            }
            for pk in wanted - set(existing):
                session.add(
                    PublishedVisitWorker(
                        visit_id=visit_id, worker_id=pk, environment_id=self.env_id, active=True, seq=seq
                    )
                )
            session.execute(
                update(PublishedVisitWorker)
                .where(PublishedVisitWorker.visit_id == visit_id)
                .values(seq=seq, active=PublishedVisitWorker.worker_id.in_(wanted) if wanted else False)
            )
        return seq


ROSTER_WORKERS = ("W01", "W02", "W03")


@pytest.fixture
def staff(db: Database, admin_token: str) -> Actor:
    """An admin API token of the world's tenant as an actor (acts as a tenant administrator)."""
    return auth.actor_for_token(db, admin_token)


@pytest.fixture
def published(db: Database, world: World, staff: Actor) -> Published:
    """Three roster workers; W01 (jo.bloggs) and W02 (sam.smith) published, W03 not."""
    env = world.env.id
    for kind, records in (
        (RecordKind.BRANCH, [{"id": "B1", "version": 1, "name": "Bristol"}]),
        (
            RecordKind.WORKER,
            [
                {
                    "id": w,
                    "version": 1,
                    "branch_id": "B1",
                    "first_name": f"First{w}",
                    "last_name": f"Last{w}",
                    "status": "active",
                    "mobile_enabled": True,
                }
                for w in ROSTER_WORKERS
            ],
        ),
    ):
        result = do_upsert_batch(db, staff, env, kind, records, max_records=5000)
        assert not [r for r in result.results if r.errors]
    pks = {w: queries.get_record(db, env, RecordKind.WORKER, w)["_pk"] for w in ROSTER_WORKERS}
    with db.transaction() as session:
        branch = PublishedBranch(tenant_id=world.tenant.id, name="Bristol", created_at=utc_now())
        session.add(branch)
        session.flush()
        branch_id = branch.id
    p = Published(db, env, world.tenant.id, branch_id, pks)
    p.worker("W01", "jo.bloggs")
    p.worker("W02", "sam.smith")
    return p


@pytest.fixture
def device(db: Database, world: World, staff: Actor, published: Published) -> tuple[mobile.DeviceInfo, str]:
    """W01's phone, linked with a fresh code: (device, token)."""
    issued = mobile.do_issue_link_code(db, staff, world.env.id, "W01")
    return mobile.do_link_device(db, "jo.bloggs", issued.code, "Jo's phone")


@pytest.fixture
def mobile_client(container: bootstrap.Container, world: World) -> Iterator[TestClient]:
    """An HTTP client with no credentials (a device adds its own)."""
    with TestClient(create_app(container)) as client:
        yield client


def drain(db: Database, device: mobile.DeviceInfo, cursor: str | None, **kwargs: Any) -> tuple[str, list[Any]]:
    """Pull until ``has_more`` is false; returns the last cursor and every page."""
    pages = []
    for _ in range(1000):
        page = mobile.pull(db, device, cursor, **kwargs)
        pages.append(page)
        cursor = page.cursor
        if not page.has_more:
            return cursor, pages
    pytest.fail("the feed never finished")
