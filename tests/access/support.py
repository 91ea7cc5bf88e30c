"""A tenant with two branches: everything of branch B-OWN is "own", everything of B-OTHER is "other".

Records of the other branch carry the marker ``OTHER`` in their ids and ``Hidden`` / ``Cardiff`` in their
names, so that a leak into any response (a list, a count, a page, an error message) can be searched for.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from carehub.platform.auth.actor import SYSTEM
from carehub.platform.db import Database
from carehub.publishing.service import config
from tests.conftest import World

HTML = {"Accept": "text/html"}
LEAKS = ("OTHER", "Hidden", "Cardiff", "Zelda", "Xavier")


def at(days: float, hour: int = 9) -> str:
    base = datetime.now(UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    return (base + timedelta(days=days)).isoformat()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def put(api: TestClient, plural: str, *records: dict[str, Any], environment_token: str | None = None) -> None:
    headers = {"Authorization": f"Bearer {environment_token}"} if environment_token else None
    r = api.post(f"/api/v1/{plural}/batch", json={"records": list(records)}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["rejected"] == 0, r.json()


def branch_records(
    side: str,
    branch: str,
    first: str,
    last: str,
    token: str | None = None,
    api: Any = None,
    *,
    shared_contract: bool = False,
) -> None:
    """One branch's roster: branch, group, contract, client, mobile worker, plan visit and visit tomorrow.

    ``shared_contract``: also send the tenant-wide contract K-SHARED the plan visit and visit are on.
    """
    s = side.upper()
    if shared_contract:
        put(
            api,
            "contracts",
            {"id": "K-SHARED", "version": 1, "name": "Council framework", "funder": "council"},
            environment_token=token,
        )
    put(api, "branches", {"id": f"B-{s}", "version": 1, "name": branch}, environment_token=token)
    put(
        api,
        "groups",
        {"id": f"G-{s}", "version": 1, "name": f"{branch} run", "branch_id": f"B-{s}"},
        environment_token=token,
    )
    put(
        api,
        "contracts",
        {"id": f"K-{s}", "version": 1, "name": f"{branch} private", "funder": "private", "branch_id": f"B-{s}"},
        environment_token=token,
    )
    put(
        api,
        "clients",
        {
            "id": f"C-{s}",
            "version": 1,
            "branch_id": f"B-{s}",
            "group_id": f"G-{s}",
            "first_name": first,
            "last_name": last,
            "status": "active",
        },
        environment_token=token,
    )
    put(
        api,
        "workers",
        {
            "id": f"W-{s}",
            "version": 1,
            "branch_id": f"B-{s}",
            "first_name": f"{first}w",
            "last_name": f"{last}w",
            "status": "active",
            "mobile_enabled": True,
        },
        environment_token=token,
    )
    put(
        api,
        "plan-visits",
        {
            "id": f"P-{s}",
            "version": 1,
            "client_id": f"C-{s}",
            "contract_id": "K-SHARED",
            "visit_type_code": "PC",
            "days": "MON,TUE,WED,THU,FRI,SAT,SUN",
            "start_time": "09:00",
            "duration_minutes": 60,
            "carers_needed": 1,
            "starts_on": at(-30)[:10],
        },
        environment_token=token,
    )
    put(
        api,
        "visits",
        {
            "id": f"V-{s}",
            "version": 1,
            "client_id": f"C-{s}",
            "contract_id": "K-SHARED",
            "plan_visit_id": f"P-{s}",
            "start": at(1),
            "end": at(1, hour=10),
            "carers_needed": 1,
            "worker_ids": [f"W-{s}"],
        },
        environment_token=token,
    )


def two_branches(api: TestClient, db: Database, world: World) -> None:
    """Branches B-OWN (Bristol: Ada Own) and B-OTHER (Cardiff: Zelda Hidden), a shared monitored contract."""
    put(api, "contracts", {"id": "K-SHARED", "version": 1, "name": "Council framework", "funder": "council"})
    branch_records("own", "Bristol", "Ada", "Own", api=api)
    branch_records("other", "Cardiff", "Zelda", "Hidden", api=api)
    config.do_set_monitored(db, SYSTEM, world.env.id, ["K-SHARED"], monitored=True)


def leaks(text: str) -> list[str]:
    """The other branch's markers found in ``text``."""
    return [m for m in LEAKS if m in text]
