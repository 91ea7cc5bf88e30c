"""Publishing runs end to end: roster API changes publish at once, on SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient

from carehub.platform.db import Database
from tests.conftest import World
from tests.publishing.support import monitor, put, roster, states, visit


def test_nothing_publishes_until_a_contract_is_monitored(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    put(api, "visits", visit("V1"))
    assert states(db, "visit") == {}
    result = monitor(db, world.env.id, "K1")
    assert states(db, "visit") == {"V1": "active"}
    assert states(db, "client") == {"C1": "active"}
    assert states(db, "worker") == {"W1": "active"}
    assert states(db, "care_plan") == {}
    assert result.counts["visit"]["published"] == 1
