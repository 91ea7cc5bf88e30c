"""A small, deterministic synthetic roster for benchmarks when the demo generator is not available.

The shapes follow the roster API exactly (see docs/formats/roster-files.md).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from carehub.roster.domain.kinds import RecordKind


@dataclass(frozen=True, slots=True)
class Sizes:
    """How many records of each kind a scale has."""

    branches: int
    groups: int
    contracts: int
    clients: int
    workers: int
    plan_visits_per_client: int
    visits: int


SIZES = {
    "small": Sizes(2, 4, 4, 200, 80, 2, 10_000),
    "medium": Sizes(4, 12, 8, 5_000, 2_000, 3, 250_000),
    "large": Sizes(8, 30, 12, 25_000, 10_000, 3, 1_250_000),
}


class SyntheticData:
    """Records of every kind for one scale, generated on demand (visits are never all in memory)."""

    def __init__(self, scale: str, seed: int = 7) -> None:
        self.scale = scale
        self.sizes = SIZES[scale]
        self.seed = seed

    def count(self, kind: RecordKind) -> int:
        """How many records of ``kind`` there are."""
        s = self.sizes
        return {
            RecordKind.BRANCH: s.branches,
            RecordKind.GROUP: s.groups,
            RecordKind.CONTRACT: s.contracts,
            RecordKind.CLIENT: s.clients,
            RecordKind.WORKER: s.workers,
            RecordKind.PLAN_VISIT: s.clients * s.plan_visits_per_client,
            RecordKind.VISIT: s.visits,
        }[kind]

    def records(self, kind: RecordKind) -> Iterator[dict[str, Any]]:  # noqa: C901, PLR0912 - one generator per kind
        """The records of ``kind`` in API shape."""
        s = self.sizes
        rnd = random.Random(f"{self.seed}-{kind.value}")  # noqa: S311 - test data, not secrets
        if kind is RecordKind.BRANCH:
            for i in range(1, s.branches + 1):
                yield {"id": f"B{i}", "version": 1, "name": f"Branch {i}"}
        elif kind is RecordKind.GROUP:
            for i in range(1, s.groups + 1):
                yield {"id": f"G{i}", "version": 1, "name": f"Run {i}", "branch_id": f"B{1 + i % s.branches}"}
        elif kind is RecordKind.CONTRACT:
            funders = ("council", "private", "other")
            for i in range(1, s.contracts + 1):
                yield {"id": f"K{i}", "version": 1, "name": f"Contract {i}", "funder": funders[i % 3]}
        elif kind is RecordKind.CLIENT:
            for i in range(1, s.clients + 1):
                yield {
                    "id": f"C{i:06d}",
                    "version": 1,
                    "branch_id": f"B{1 + i % s.branches}",
                    "group_id": f"G{1 + i % s.groups}",
                    "first_name": rnd.choice(("Ada", "Bert", "Cora", "Dev", "Edna", "Fred")),
                    "last_name": f"Client{i}",
                    "ssref": f"SS{i:07d}",
                    "postcode": f"BS{1 + i % 9} {i % 10}AB",
                }
        elif kind is RecordKind.WORKER:
            for i in range(1, s.workers + 1):
                yield {
                    "id": f"W{i:06d}",
                    "version": 1,
                    "branch_id": f"B{1 + i % s.branches}",
                    "first_name": rnd.choice(("Gail", "Hugo", "Ivy", "Jon")),
                    "last_name": f"Worker{i}",
                    "mobile_enabled": i % 2 == 0,
                }
        elif kind is RecordKind.PLAN_VISIT:
            n = 0
            for c in range(1, s.clients + 1):
                for j in range(s.plan_visits_per_client):
                    n += 1
                    yield {
                        "id": f"P{n:07d}",
                        "version": 1,
                        "client_id": f"C{c:06d}",
                        "contract_id": f"K{1 + c % s.contracts}",
                        "visit_type_code": ("AM", "LUNCH", "PM")[j % 3],
                        "days": "MON,TUE,WED,THU,FRI",
                        "start_time": ("08:00", "12:30", "18:00")[j % 3],
                        "duration_minutes": 30,
                        "carers_needed": 2 if c % 10 == 0 else 1,
                        "starts_on": date(2026, 1, 1).isoformat(),
                    }
        else:
            yield from self._visits(rnd)

    def _visits(self, rnd: random.Random) -> Iterator[dict[str, Any]]:
        s = self.sizes
        first = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
        per = s.plan_visits_per_client
        for i in range(1, s.visits + 1):
            c = 1 + rnd.randrange(s.clients)
            start = first + timedelta(minutes=15 * rnd.randrange(4 * 24 * 56))
            double = c % 10 == 0
            workers = rnd.sample(range(1, s.workers + 1), 2 if double else 1)
            offset = "+01:00" if start.month >= 4 else "+00:00"  # British Summer Time from April
            local = start + (timedelta(hours=1) if offset == "+01:00" else timedelta())
            end = local + timedelta(minutes=rnd.choice((30, 45, 60)))
            record: dict[str, Any] = {
                "id": f"V{i:08d}",
                "version": 1,
                "client_id": f"C{c:06d}",
                "contract_id": f"K{1 + c % s.contracts}",
                "start": local.strftime("%Y-%m-%dT%H:%M:%S") + offset,
                "end": end.strftime("%Y-%m-%dT%H:%M:%S") + offset,
                "carers_needed": 2 if double else 1,
                "worker_ids": [f"W{w:06d}" for w in workers],
            }
            if i % 4:
                record["plan_visit_id"] = f"P{(c - 1) * per + 1 + i % per:07d}"
            else:
                record["kind"] = "unplanned"
            yield record
