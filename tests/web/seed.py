"""A small, realistic roster for the browser tests, seeded through the service layer.

Times are built in the tenant's zone (Europe/London) relative to today, so the
default visit window (today and the next 7 days) always has something in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import Actor
from carehub.platform.clock import utc_now
from carehub.platform.db import Database
from carehub.roster.domain.kinds import RecordKind
from carehub.roster.service import changes
from carehub.roster.service.upsert import do_upsert_batch
from tests.conftest import World

LONDON = ZoneInfo("Europe/London")

CLIENT_NAMES = [
    ("Ada", "Lovelace"), ("Mary", "Seacole"), ("Florence", "Nightingale"), ("Edith", "Cavell"),
    ("Elsie", "Inglis"), ("Agnes", "Hunt"), ("Ethel", "Fenwick"), ("Clara", "Barton"),
    ("Dorothy", "Hodgkin"), ("Rosalind", "Franklin"), ("Kathleen", "Lonsdale"), ("Hertha", "Ayrton"),
    ("Margaret", "Bondfield"), ("Ellen", "Wilkinson"), ("Barbara", "Castle"), ("Nancy", "Astor"),
    ("Millicent", "Fawcett"), ("Emmeline", "Pankhurst"), ("Sylvia", "Pankhurst"), ("Octavia", "Hill"),
    ("Elizabeth", "Garrett"), ("Sophia", "Jex-Blake"), ("Jennie", "Lee"), ("Vera", "Brittain"),
    ("Winifred", "Holtby"), ("Mary", "Somerville"), ("Caroline", "Herschel"), ("Anne", "Lister"),
    ("Grace", "Darling"), ("Beatrix", "Potter"), ("Marie", "Stopes"), ("Eleanor", "Rathbone"),
]  # fmt: skip

WORKER_NAMES = [
    ("Grace", "Hopper"), ("Alan", "Turing"), ("Tim", "Berners-Lee"), ("Karen", "Sparck Jones"),
    ("Sophie", "Wilson"), ("Steve", "Furber"), ("Tommy", "Flowers"), ("Joan", "Clarke"),
    ("Mavis", "Batey"), ("Dilly", "Knox"), ("Max", "Newman"), ("Bill", "Tutte"),
    ("Mary", "Coombs"), ("Dina", "St Johnston"), ("Stephanie", "Shirley"), ("Maurice", "Wilkes"),
    ("David", "Wheeler"), ("Kathleen", "Booth"), ("Andrew", "Booth"), ("Christopher", "Strachey"),
    ("Tony", "Hoare"), ("Robin", "Milner"), ("Ann", "Copestake"), ("Wendy", "Hall"),
    ("Ursula", "Martin"), ("Sue", "Black"), ("Dave", "Cliff"), ("Jon", "Crowcroft"),
]  # fmt: skip


@dataclass(frozen=True)
class Roster:
    """What the seed made, for tests to refer to."""

    today: date
    clients: int
    workers: int
    visits_in_week: int
    unallocated_in_week: int
    partly_in_week: int
    cancelled_visit: str
    confirmed_visit: str
    double_up_visit: str
    far_visit: str


def local(day: date, hour: int, minute: int = 0) -> str:
    """An ISO time with offset for ``day`` at ``hour:minute`` in London."""
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON).isoformat()


def _apply(db: Database, actor: Actor, env_id: int, kind: RecordKind, records: list[dict[str, Any]]) -> None:
    result = do_upsert_batch(db, actor, env_id, kind, records, max_records=5000)
    rejected = [r.as_dict() for r in result.results if r.errors]
    assert not rejected, rejected


def _clients() -> list[dict[str, Any]]:
    out = []
    for i, (first, last) in enumerate(CLIENT_NAMES, start=1):
        bath = i % 4 == 0
        out.append(
            {
                "id": f"C{i:03d}",
                "version": 1,
                "branch_id": "B2" if bath else "B1",
                "group_id": "G2" if bath else "G1",
                "first_name": first,
                "last_name": last,
                "ssref": f"SS-{10400 + i}",
                "postcode": f"BA{i % 9 + 1} {i % 7 + 1}QT" if bath else f"BS{i % 9 + 1} {i % 7 + 1}DJ",
                "status": "inactive" if i % 9 == 0 else "active",
            }
        )
    return out


def _workers() -> list[dict[str, Any]]:
    return [
        {
            "id": f"W{i:02d}",
            "version": 1,
            "branch_id": "B2" if i % 5 == 0 else "B1",
            "first_name": first,
            "last_name": last,
            "status": "left" if i == 27 else "inactive" if i % 11 == 0 else "active",
            "mobile_enabled": i % 3 != 0,
        }
        for i, (first, last) in enumerate(WORKER_NAMES, start=1)
    ]


def _visits(today: date) -> list[dict[str, Any]]:
    """Visits for the coming week: Ada's calls (single and double-up) and one call a day for others."""
    visits: list[dict[str, Any]] = []
    for d in range(8):
        day = today + timedelta(days=d)
        visits.append(
            {
                "id": f"V-ADA-AM-{d}",
                "version": 1,
                "client_id": "C001",
                "contract_id": "K1",
                "plan_visit_id": "PV1",
                "start": local(day, 8),
                "end": local(day, 8, 45),
                "worker_ids": ["W01"] if d % 2 == 0 else [],
            }
        )
        visits.append(
            {
                "id": f"V-ADA-PM-{d}",
                "version": 1,
                "client_id": "C001",
                "contract_id": "K1",
                "plan_visit_id": "PV2",
                "start": local(day, 17, 30),
                "end": local(day, 18),
                "carers_needed": 2,
                "worker_ids": ["W01", "W02"] if d % 2 == 1 else ["W02"],
            }
        )
        for j, client in enumerate(("C002", "C003", "C005"), start=1):
            visits.append(
                {
                    "id": f"V-{client}-{d}",
                    "version": 1,
                    "client_id": client,
                    "contract_id": "K2" if client == "C005" else "K1",
                    "kind": "unplanned" if j == 3 else "planned",
                    "start": local(day, 9 + 2 * j),
                    "end": local(day, 9 + 2 * j, 30),
                    "worker_ids": [f"W{j + 2:02d}"],
                }
            )
    visits.append(
        {
            "id": "V-FAR",
            "version": 1,
            "client_id": "C002",
            "contract_id": "K1",
            "kind": "adhoc",
            "start": local(today + timedelta(days=10), 12),
            "end": local(today + timedelta(days=10), 13),
            "worker_ids": [],
        }
    )
    return visits


def seed_roster(db: Database, world: World) -> Roster:
    """Branches, groups, contracts, 32 clients, 28 workers, plan visits and 41 visits, with some history."""
    actor = auth.actor_for_token(db, world.token)
    env = world.env.id
    today = utc_now().astimezone(LONDON).date()
    _apply(db, actor, env, RecordKind.BRANCH, [{"id": "B1", "version": 1, "name": "Bristol"}])
    _apply(db, actor, env, RecordKind.BRANCH, [{"id": "B2", "version": 1, "name": "Bath"}])
    groups = [
        {"id": "G1", "version": 1, "name": "Bristol North run", "branch_id": "B1"},
        {"id": "G2", "version": 1, "name": "Bath City run", "branch_id": "B2"},
    ]
    _apply(db, actor, env, RecordKind.GROUP, groups)
    contracts = [
        {"id": "K1", "version": 1, "name": "Bristol City Council framework", "funder": "council", "branch_id": "B1"},
        {"id": "K2", "version": 1, "name": "Private clients", "funder": "private"},
    ]
    _apply(db, actor, env, RecordKind.CONTRACT, contracts)
    _apply(db, actor, env, RecordKind.CLIENT, _clients())
    _apply(db, actor, env, RecordKind.WORKER, _workers())
    plans = [
        {
            "id": "PV1",
            "version": 1,
            "client_id": "C001",
            "contract_id": "K1",
            "visit_type_code": "AM-PC",
            "visit_type_description": "Morning call: personal care and breakfast",
            "days": "MON,TUE,WED,THU,FRI,SAT,SUN",
            "start_time": "08:00",
            "duration_minutes": 45,
            "starts_on": (today - timedelta(days=30)).isoformat(),
        },
        {
            "id": "PV2",
            "version": 1,
            "client_id": "C001",
            "contract_id": "K1",
            "visit_type_code": "TEA-DU",
            "visit_type_description": "Tea call with hoist transfer",
            "days": "MON,TUE,WED,THU,FRI,SAT,SUN",
            "start_time": "17:30",
            "duration_minutes": 30,
            "carers_needed": 2,
            "starts_on": (today - timedelta(days=30)).isoformat(),
        },
    ]
    _apply(db, actor, env, RecordKind.PLAN_VISIT, plans)
    visits = _visits(today)
    _apply(db, actor, env, RecordKind.VISIT, visits)
    # Some history: Ada moved house; one visit confirmed, one cancelled.
    moved = {**_clients()[0], "version": 2, "postcode": "BS8 1TH"}
    _apply(db, actor, env, RecordKind.CLIENT, [moved])
    changes.do_confirm_visit(db, actor, env, "V-C002-1")
    changes.do_cancel_visit(db, actor, env, "V-C003-2", "Client in hospital")
    in_week = [v for v in visits if v["id"] != "V-FAR"]
    return Roster(
        today=today,
        clients=len(CLIENT_NAMES),
        workers=len(WORKER_NAMES),
        visits_in_week=len(in_week),
        unallocated_in_week=sum(1 for v in in_week if not v["worker_ids"]),
        partly_in_week=sum(1 for v in in_week if 0 < len(v["worker_ids"]) < v.get("carers_needed", 1)),
        cancelled_visit="V-C003-2",
        confirmed_visit="V-C002-1",
        double_up_visit="V-ADA-PM-1",
        far_visit="V-FAR",
    )
