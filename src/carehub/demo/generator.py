"""A deterministic generator of a realistic UK home-care provider.

``generate(scale, today=...)`` builds the provider's branches, runs (groups),
contracts, clients, workers and care packages (plan visits) up front, which is
cheap even for the large scale, and expands the visits lazily: iterating
``records(RecordKind.VISIT)`` streams them one dict at a time, so a data set of
more than a million visits is never held in memory.

Scales:

- ``small``: 50 clients, 30 workers, visits for the next 28 days (the demo).
- ``medium``: 2,000 clients, 800 workers, visits for the next 28 days.
- ``large``: 25,000 clients, 10,000 workers and at least 1.2 million visits,
  generated for the next **14 days only** (the publish window), to match the
  benchmark of the largest providers.

Everything depends only on the arguments: the same ``scale``, ``today``,
``zone`` and ``seed`` give the same records, in the same order. Randomness comes
from ``random.Random(seed)``, never the global generator or the clock.

Pattern times are local wall-clock times in ``zone``; visit ``start``/``end``
are ISO 8601 strings with the local offset, converted per day through
:func:`carehub.roster.domain.patterns.local_to_utc`, so an 08:00 call stays at
08:00 local across the daylight-saving changes.

Every scale also holds a handful of curated records (branch 1, the end of the
client and worker numbering) that each fail one publishing rule of seed 000;
they are listed in :attr:`DemoData.scenarios`.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from itertools import islice
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from carehub.roster.domain.kinds import LOAD_ORDER, RecordKind
from carehub.roster.domain.patterns import DAY_CODES, local_to_utc
from carehub.roster.schemas import SCHEMAS

PUBLISH_WINDOW_DAYS = 14
"""The longest publish window of seed 000 ("up to two weeks in the future")."""

TENANT_NAME = "Sunrise Home Care"
LONDON = ZoneInfo("Europe/London")
_WRITE_CHUNK = 10_000


class Scale(StrEnum):
    """How big the generated provider is."""

    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


@dataclass(frozen=True, slots=True)
class ScaleSpec:
    """The size of one scale."""

    branches: int
    groups_per_branch: int
    clients: int
    workers: int
    days: int


SPECS: dict[Scale, ScaleSpec] = {
    Scale.SMALL: ScaleSpec(branches=3, groups_per_branch=2, clients=50, workers=30, days=28),
    Scale.MEDIUM: ScaleSpec(branches=8, groups_per_branch=4, clients=2_000, workers=800, days=28),
    Scale.LARGE: ScaleSpec(branches=20, groups_per_branch=6, clients=25_000, workers=10_000, days=14),
}


@dataclass(frozen=True, slots=True)
class Scenario:
    """A record that deliberately fails one publishing rule, and why."""

    rule: str
    kind: RecordKind
    external_id: str
    description: str


# --- reference data --------------------------------------------------------------------------------

# (branch, council, integrated care board, postcode districts)
_BRANCHES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    (
        "Bristol",
        "Bristol City Council",
        "NHS Bristol, North Somerset and South Gloucestershire ICB",
        ("BS1", "BS3", "BS4", "BS5", "BS6", "BS7", "BS9", "BS13", "BS14", "BS16"),
    ),
    (
        "Bath",
        "Bath and North East Somerset Council",
        "NHS Bath and North East Somerset, Swindon and Wiltshire ICB",
        ("BA1", "BA2"),
    ),
    (
        "Swindon",
        "Swindon Borough Council",
        "NHS Bath and North East Somerset, Swindon and Wiltshire ICB",
        ("SN1", "SN2", "SN3", "SN5", "SN25"),
    ),
    ("Gloucester", "Gloucestershire County Council", "NHS Gloucestershire ICB", ("GL1", "GL2", "GL3", "GL4")),
    ("Cheltenham", "Gloucestershire County Council", "NHS Gloucestershire ICB", ("GL50", "GL51", "GL52", "GL53")),
    ("Taunton", "Somerset Council", "NHS Somerset ICB", ("TA1", "TA2", "TA3")),
    ("Exeter", "Devon County Council", "NHS Devon ICB", ("EX1", "EX2", "EX4", "EX5")),
    ("Plymouth", "Plymouth City Council", "NHS Devon ICB", ("PL1", "PL2", "PL3", "PL4", "PL5", "PL6", "PL9")),
    (
        "Weston-super-Mare",
        "North Somerset Council",
        "NHS Bristol, North Somerset and South Gloucestershire ICB",
        ("BS22", "BS23", "BS24"),
    ),
    ("Yeovil", "Somerset Council", "NHS Somerset ICB", ("BA20", "BA21", "BA22")),
    ("Salisbury", "Wiltshire Council", "NHS Bath and North East Somerset, Swindon and Wiltshire ICB", ("SP1", "SP2")),
    (
        "Chippenham",
        "Wiltshire Council",
        "NHS Bath and North East Somerset, Swindon and Wiltshire ICB",
        ("SN14", "SN15"),
    ),
    ("Stroud", "Gloucestershire County Council", "NHS Gloucestershire ICB", ("GL5", "GL6")),
    ("Bridgwater", "Somerset Council", "NHS Somerset ICB", ("TA5", "TA6", "TA7")),
    ("Torquay", "Torbay Council", "NHS Devon ICB", ("TQ1", "TQ2")),
    ("Truro", "Cornwall Council", "NHS Cornwall and the Isles of Scilly ICB", ("TR1", "TR2", "TR3", "TR4")),
    ("Barnstaple", "Devon County Council", "NHS Devon ICB", ("EX31", "EX32")),
    ("Trowbridge", "Wiltshire Council", "NHS Bath and North East Somerset, Swindon and Wiltshire ICB", ("BA14",)),
    ("Frome", "Somerset Council", "NHS Somerset ICB", ("BA11",)),
    ("Cirencester", "Gloucestershire County Council", "NHS Gloucestershire ICB", ("GL7",)),
)
_BRANCH_WEIGHTS = (5, 3, 3, 2, 2, 2, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)
_RUNS = ("North", "South", "East", "West", "Central", "Rural")
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"

_CLIENT_FEMALE = (
    "Margaret", "Dorothy", "Joan", "Patricia", "Betty", "Jean", "Barbara", "Eileen", "Irene", "Doris", "Brenda",
    "Sheila", "Maureen", "June", "Pauline", "Valerie", "Sylvia", "Kathleen", "Audrey", "Elsie", "Mary", "Joyce",
    "Shirley", "Marjorie", "Edna", "Gladys", "Beryl", "Hazel", "Iris", "Vera", "Phyllis", "Ruby", "Winifred",
    "Rita", "Gwendoline", "Olive", "Mavis", "Ethel", "Janet", "Susan",
)  # fmt: skip
_CLIENT_MALE = (
    "John", "David", "Michael", "Peter", "Brian", "Robert", "Alan", "Kenneth", "Geoffrey", "Derek", "Roy", "Ronald",
    "Raymond", "Keith", "Dennis", "Trevor", "Colin", "Barry", "Stanley", "George", "Arthur", "Frank", "Leonard",
    "Albert", "Harold", "Norman", "Eric", "Gordon", "Terence", "Bernard", "Donald", "Malcolm", "Graham", "Clive",
)  # fmt: skip
_WORKER_FIRST = (
    "Emma", "Sophie", "Chloe", "Jessica", "Amy", "Hannah", "Laura", "Rebecca", "Lauren", "Charlotte", "Gemma",
    "Kelly", "Natalie", "Stacey", "Danielle", "Sarah", "Claire", "Nicola", "Joanne", "Leanne", "Priya", "Aisha",
    "Grace", "Blessing", "Chipo", "Maria", "Ana", "Oksana", "Agnieszka", "Fatima", "Precious", "Jade", "Kirsty",
    "Joseph", "Daniel", "James", "Tom", "Ryan", "Liam", "Kwame", "Tendai", "Mohammed", "Adebayo", "Florin",
    "Rajesh", "Marcus", "Craig", "Sam", "Jordan", "Ben",
)  # fmt: skip
_SURNAMES = (
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas", "Johnson", "Roberts",
    "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards", "Hughes", "Green", "Hall", "Lewis", "Harris",
    "Clarke", "Patel", "Jackson", "Wood", "Turner", "Martin", "Cooper", "Hill", "Ward", "Morris", "Moore", "Clark",
    "Lee", "King", "Baker", "Harrison", "Morgan", "Allen", "James", "Scott", "Phillips", "Watson", "Davis", "Parker",
    "Price", "Bennett", "Young", "Griffiths", "Mitchell", "Kelly", "Cook", "Carter", "Richardson", "Bailey",
    "Collins", "Bell", "Shaw", "Murphy", "Miller", "Cox", "Richards", "Khan", "Marshall", "Anderson", "Simpson",
    "Ellis", "Adams", "Singh", "Begum", "Wilkinson", "Foster", "Chapman", "Powell", "Webb", "Rogers", "Gray",
    "Mason", "Ali", "Hunt", "Hussain", "Campbell", "Matthews", "Owen", "Palmer", "Holmes", "Mills", "Barnes",
    "Knight", "Lloyd", "Butler", "Russell", "Barker", "Fisher", "Stevens", "Jenkins", "Murray", "Dixon", "Harvey",
    "Pearce", "Tucker", "Hooper", "Coles", "Chard", "Vowles", "Pugsley", "Luxton", "Tremayne", "Penrose",
)  # fmt: skip

VISIT_TYPES: dict[str, str | None] = {
    "PERS": "Personal care",
    "MEDS": "Medication support",
    "MEAL": "Meal preparation",
    "BED": "Bedtime routine",
    "WELL": "Welfare check",
    "SIT": "Sitting service",
    "DOM": "Domestic support",
    "SHOP": "Shopping and errands",
    "RESP": None,  # set up years ago without a description
    "ESC": None,
}
"""Visit type codes and descriptions; two codes lack a description (plan_visit.has_description)."""

_ALL_DAYS = (0, 1, 2, 3, 4, 5, 6)
_WEEKDAYS = (0, 1, 2, 3, 4)

# contract kinds of a client: (weight, key)
_FUNDING = ((0.70, "council"), (0.80, "chc"), (0.92, "private"), (0.96, "companionship"), (1.0, "direct"))
_DAILY_CALLS = ((0.80, 4), (0.92, 3), (0.97, 2), (1.0, 1))


@dataclass(slots=True)
class _Client:
    id: str
    version: int
    branch_id: str
    group_id: str | None
    first_name: str
    last_name: str
    ssref: str | None
    postcode: str | None
    status: str
    contract_id: str
    branch: int

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "branch_id": self.branch_id,
            "group_id": self.group_id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "ssref": self.ssref,
            "postcode": self.postcode,
            "status": self.status,
        }


@dataclass(slots=True)
class _Worker:
    id: str
    version: int
    branch_id: str
    first_name: str
    last_name: str
    status: str
    mobile_enabled: bool

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "branch_id": self.branch_id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "status": self.status,
            "mobile_enabled": self.mobile_enabled,
        }


@dataclass(slots=True)
class _PlanVisit:
    num: int
    id: str
    version: int
    client_id: str
    contract_id: str
    code: str
    days: frozenset[int]
    start: time
    duration: int
    carers: int
    starts_on: date
    ends_on: date | None
    regular: tuple[str, ...]  # allocated Monday to Friday
    weekend: tuple[str, ...]  # allocated Saturday and Sunday
    cover: tuple[str, ...]  # the client's other regular carers, for cover
    allocate: bool = True  # False: no carer found yet, every visit unallocated

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "client_id": self.client_id,
            "contract_id": self.contract_id,
            "visit_type_code": self.code,
            "visit_type_description": VISIT_TYPES[self.code],
            "days": ",".join(DAY_CODES[d] for d in sorted(self.days)),
            "start_time": self.start.strftime("%H:%M"),
            "duration_minutes": self.duration,
            "carers_needed": self.carers,
            "starts_on": self.starts_on.isoformat(),
            "ends_on": None if self.ends_on is None else self.ends_on.isoformat(),
        }


@dataclass(slots=True)
class _Extra:
    """An unplanned or ad-hoc visit (no plan visit)."""

    id: str
    version: int
    client_id: str
    contract_id: str
    kind: str
    offset: int
    start: time
    duration: int
    carers: int
    workers: tuple[str, ...]


@dataclass(slots=True)
class DemoData:
    """A generated provider. Build it with :func:`generate`."""

    scale: Scale
    today: date
    zone: ZoneInfo
    seed: int
    days: int
    """Visits are generated for ``today`` and the following ``days - 1`` days."""
    monitored_contract_ids: frozenset[str]
    """Contracts an administrator would mark as monitored (tenant configuration, seed 000)."""
    scenarios: list[Scenario]
    """Curated records that each fail one publishing rule."""
    confirmed_visit_ids: frozenset[str]
    """Visits confirmed manually (not part of the upsert record; ``demo load`` applies them)."""
    _branches: list[dict[str, Any]] = field(repr=False)
    _groups: list[dict[str, Any]] = field(repr=False)
    _contracts: list[dict[str, Any]] = field(repr=False)
    _clients: list[_Client] = field(repr=False)
    _workers: list[_Worker] = field(repr=False)
    _plan_visits: list[_PlanVisit] = field(repr=False)
    _extras: list[_Extra] = field(repr=False)
    _overrides: dict[tuple[int, int], tuple[str, ...]] = field(repr=False)
    _counts: dict[RecordKind, int] | None = field(default=None, repr=False)

    def records(self, kind: RecordKind) -> Iterator[dict[str, Any]]:
        """The records of one kind in the API shape; visits are streamed, never held all at once."""
        if kind is RecordKind.BRANCH:
            yield from (dict(r) for r in self._branches)
        elif kind is RecordKind.GROUP:
            yield from (dict(r) for r in self._groups)
        elif kind is RecordKind.CONTRACT:
            yield from (dict(r) for r in self._contracts)
        elif kind is RecordKind.CLIENT:
            yield from (c.record() for c in self._clients)
        elif kind is RecordKind.WORKER:
            yield from (w.record() for w in self._workers)
        elif kind is RecordKind.PLAN_VISIT:
            yield from (p.record() for p in self._plan_visits)
        else:
            yield from self._visits()

    def all_records(self) -> Iterator[tuple[RecordKind, dict[str, Any]]]:
        """Every record, kind by kind in load order."""
        for kind in LOAD_ORDER:
            for record in self.records(kind):
                yield kind, record

    def counts(self) -> dict[RecordKind, int]:
        """Exact record counts per kind, in load order; visits are counted without being generated."""
        if self._counts is None:
            planned = sum(len(self._offsets(p)) for p in self._plan_visits)
            self._counts = {
                RecordKind.BRANCH: len(self._branches),
                RecordKind.GROUP: len(self._groups),
                RecordKind.CONTRACT: len(self._contracts),
                RecordKind.CLIENT: len(self._clients),
                RecordKind.WORKER: len(self._workers),
                RecordKind.PLAN_VISIT: len(self._plan_visits),
                RecordKind.VISIT: planned + len(self._extras),
            }
        return dict(self._counts)

    # --- visits --------------------------------------------------------------------------------

    def _offsets(self, pv: _PlanVisit) -> list[int]:
        first = max(0, (pv.starts_on - self.today).days)
        last = self.days - 1 if pv.ends_on is None else min(self.days - 1, (pv.ends_on - self.today).days)
        weekday = self.today.weekday()
        return [o for o in range(first, last + 1) if (weekday + o) % 7 in pv.days]

    def visit_id(self, plan_visit_id: str, offset: int) -> str:
        """The id of the visit a plan visit has ``offset`` days after ``today``."""
        return f"V{plan_visit_id[2:]}-{(self.today + timedelta(days=offset)):%Y%m%d}"

    def _visits(self) -> Iterator[dict[str, Any]]:
        rnd = random.Random(self.seed * 1_000_003 + 17)  # noqa: S311 - demo data, not security
        times: dict[tuple[int, time, int], tuple[str, str]] = {}
        zone = self.zone
        today = self.today

        def span(offset: int, start: time, duration: int) -> tuple[str, str]:
            key = (offset, start, duration)
            found = times.get(key)
            if found is None:
                utc = local_to_utc(today + timedelta(days=offset), start, zone)
                found = (
                    utc.astimezone(zone).isoformat(),
                    (utc + timedelta(minutes=duration)).astimezone(zone).isoformat(),
                )
                times[key] = found
            return found

        overrides = self._overrides
        weekday = today.weekday()
        for pv in self._plan_visits:
            for offset in self._offsets(pv):
                r = rnd.random()
                override = overrides.get((pv.num, offset))
                workers = override if override is not None else _allocation(pv, offset, (weekday + offset) % 7, r)
                start, end = span(offset, pv.start, pv.duration)
                yield {
                    "id": f"V{pv.id[2:]}-{(today + timedelta(days=offset)):%Y%m%d}",
                    "version": 2 if r < 0.08 else 1,
                    "client_id": pv.client_id,
                    "contract_id": pv.contract_id,
                    "plan_visit_id": pv.id,
                    "kind": "planned",
                    "start": start,
                    "end": end,
                    "carers_needed": pv.carers,
                    "worker_ids": list(workers),
                }
        for extra in self._extras:
            start, end = span(extra.offset, extra.start, extra.duration)
            yield {
                "id": extra.id,
                "version": extra.version,
                "client_id": extra.client_id,
                "contract_id": extra.contract_id,
                "plan_visit_id": None,
                "kind": extra.kind,
                "start": start,
                "end": end,
                "carers_needed": extra.carers,
                "worker_ids": list(extra.workers),
            }


def _allocation(pv: _PlanVisit, offset: int, weekday: int, r: float) -> tuple[str, ...] | list[str]:
    """Who a plan visit's occurrence is allocated to, from one uniform draw ``r``."""
    if not pv.allocate:
        return ()
    if offset > 0 and r < (0.015 if offset < PUBLISH_WINDOW_DAYS else 0.12):
        # Not allocated yet (the further out, the less complete the rota); a double-up may have one carer.
        return pv.regular[:1] if pv.carers > 1 and r < 0.005 else ()
    if r > 0.95 and pv.cover:
        workers = [*pv.regular[:-1], pv.cover[int(r * 1000) % len(pv.cover)]]
        return workers if len(set(workers)) == len(workers) else pv.regular
    return pv.weekend if weekday >= 5 else pv.regular


# --- building --------------------------------------------------------------------------------------


def _pick(rnd: random.Random, table: tuple[tuple[float, Any], ...]) -> Any:
    r = rnd.random()
    for limit, value in table:
        if r < limit:
            return value
    return table[-1][1]


def _quarter(rnd: random.Random, first: str, last: str) -> time:
    h1, m1 = map(int, first.split(":"))
    h2, m2 = map(int, last.split(":"))
    minutes = rnd.randrange(h1 * 60 + m1, h2 * 60 + m2 + 1, 15)
    return time(minutes // 60, minutes % 60)


class _Builder:
    def __init__(self, scale: Scale, today: date, zone: ZoneInfo, seed: int) -> None:
        self.scale = scale
        self.spec = SPECS[scale]
        self.today = today
        self.zone = zone
        self.seed = seed
        self.rnd = random.Random(seed)  # noqa: S311 - demo data, not security
        self.branches: list[dict[str, Any]] = []
        self.groups: list[dict[str, Any]] = []
        self.branch_groups: list[list[str]] = []
        self.contracts: list[dict[str, Any]] = []
        self.funding: list[dict[str, str]] = []  # per branch: council, chc contract ids
        self.monitored: set[str] = set()
        self.clients: list[_Client] = []
        self.workers: list[_Worker] = []
        self.pool: list[list[str]] = []  # active workers per branch
        self.plan_visits: list[_PlanVisit] = []
        self.extras: list[_Extra] = []
        self.overrides: dict[tuple[int, int], tuple[str, ...]] = {}
        self.confirmed: set[str] = set()
        self.scenarios: list[Scenario] = []
        self.ssref = 2_104_000
        self.unplanned = 0
        self.adhoc = 0

    # organisation ---------------------------------------------------------------------------------

    def organisation(self) -> None:
        councils_seen: set[str] = set()
        for b in range(self.spec.branches):
            name, council, icb, _ = _BRANCHES[b]
            bid = f"BR{b + 1:02d}"
            self.branches.append({"id": bid, "version": 1, "name": name})
            groups = []
            for g in range(self.spec.groups_per_branch):
                gid = f"GR{b + 1:02d}{g + 1:02d}"
                groups.append(gid)
                self.groups.append({"id": gid, "version": 1, "name": f"{name} {_RUNS[g]}", "branch_id": bid})
            self.branch_groups.append(groups)
            framework = f"{council} – Home Care Framework"
            if council in councils_seen:
                framework += f" ({name} lot)"
            councils_seen.add(council)
            la, chc = f"CON-{b + 1:02d}-LA", f"CON-{b + 1:02d}-CHC"
            self.contracts.append(
                {"id": la, "version": 2, "name": framework, "funder": "council", "branch_id": bid, "active": True}
            )
            self.contracts.append(
                {
                    "id": chc,
                    "version": 1,
                    "name": f"{icb} – Continuing Healthcare ({name})",
                    "funder": "other",
                    "branch_id": bid,
                    "active": True,
                }
            )
            self.monitored.update((la, chc))
            self.funding.append({"council": la, "chc": chc})
        tenant_wide = (
            ("CON-PRIV", "Private Clients – Standard Terms", "private", True, True),
            ("CON-PRIV-COMP", "Private Clients – Companionship", "private", True, False),
            ("CON-DP", "Direct Payments – Individual Service Funds", "other", True, False),
            ("CON-01-REAB", "Bristol City Council – Reablement Pilot 2023", "council", False, False),
        )
        for cid, name, funder, active, monitored in tenant_wide:
            self.contracts.append(
                {
                    "id": cid,
                    "version": 1,
                    "name": name,
                    "funder": funder,
                    "branch_id": "BR01" if cid == "CON-01-REAB" else None,
                    "active": active,
                }
            )
            if monitored:
                self.monitored.add(cid)

    def postcode(self, branch: int) -> str:
        district = self.rnd.choice(_BRANCHES[branch][3])
        return (
            f"{district} {self.rnd.randint(1, 9)}{self.rnd.choice(_INWARD_LETTERS)}{self.rnd.choice(_INWARD_LETTERS)}"
        )

    def branch_choice(self) -> int:
        weights = _BRANCH_WEIGHTS[: self.spec.branches]
        return self.rnd.choices(range(self.spec.branches), weights=weights)[0]

    # people ---------------------------------------------------------------------------------------

    def add_worker(self, branch: int, first: str, last: str, status: str, *, mobile: bool) -> _Worker:
        worker = _Worker(
            id=f"WK{len(self.workers) + 1:06d}",
            version=self.rnd.randint(1, 6),
            branch_id=self.branches[branch]["id"],
            first_name=first,
            last_name=last,
            status=status,
            mobile_enabled=mobile,
        )
        self.workers.append(worker)
        return worker

    def workforce(self, count: int) -> None:
        self.pool = [[] for _ in range(self.spec.branches)]
        # Every branch gets at least a few carers so every client can have a team.
        branches = [b % self.spec.branches for b in range(self.spec.branches * 3)]
        branches += [self.branch_choice() for _ in range(count - len(branches))]
        for branch in branches:
            r = self.rnd.random()
            status = "inactive" if r < 0.04 else "left" if r < 0.07 else "active"
            mobile = self.rnd.random() < (0.94 if status == "active" else 0.7)
            worker = self.add_worker(
                branch, self.rnd.choice(_WORKER_FIRST), self.rnd.choice(_SURNAMES), status, mobile=mobile
            )
            if status == "active":
                self.pool[branch].append(worker.id)

    def add_client(
        self,
        branch: int,
        first: str,
        last: str,
        funding: str,
        *,
        status: str = "active",
        group: str | None = None,
    ) -> _Client:
        contract = {
            "council": self.funding[branch]["council"],
            "chc": self.funding[branch]["chc"],
            "private": "CON-PRIV",
            "companionship": "CON-PRIV-COMP",
            "direct": "CON-DP",
        }[funding]
        ssref = None
        if funding in {"council", "direct"}:
            self.ssref += self.rnd.randint(1, 37)
            ssref = str(self.ssref)
        client = _Client(
            id=f"CL{len(self.clients) + 1:06d}",
            version=self.rnd.randint(1, 4),
            branch_id=self.branches[branch]["id"],
            group_id=group,
            first_name=first,
            last_name=last,
            ssref=ssref,
            postcode=self.postcode(branch),
            status=status,
            contract_id=contract,
            branch=branch,
        )
        self.clients.append(client)
        return client

    def add_plan_visit(
        self,
        client: _Client,
        code: str,
        days: tuple[int, ...],
        start: time,
        duration: int,
        team: tuple[str, ...],
        *,
        carers: int = 1,
        starts_on: date | None = None,
        ends_on: date | None = None,
        contract_id: str | None = None,
    ) -> _PlanVisit:
        rnd = self.rnd
        regular = team[:carers]
        weekend = team[-carers:] if len(team) > carers else regular
        num = len(self.plan_visits) + 1
        pv = _PlanVisit(
            num=num,
            id=f"PV{num:07d}",
            version=rnd.randint(1, 4),
            client_id=client.id,
            contract_id=contract_id or client.contract_id,
            code=code,
            days=frozenset(days),
            start=start,
            duration=duration,
            carers=carers,
            starts_on=starts_on or self.today - timedelta(days=rnd.randint(7, 1500)),
            ends_on=ends_on,
            regular=regular,
            weekend=weekend,
            cover=tuple(w for w in team if w not in regular),
            allocate=bool(team),
        )
        self.plan_visits.append(pv)
        return pv

    def team(self, branch: int, size: int) -> tuple[str, ...]:
        pool = self.pool[branch]
        return tuple(self.rnd.sample(pool, min(size, len(pool))))

    def package(self, client: _Client) -> None:
        """A client's plan visits: up to four calls a day, sometimes a weekly extra."""
        rnd = self.rnd
        calls = _pick(rnd, _DAILY_CALLS)
        double = calls >= 2 and rnd.random() < 0.08
        team = self.team(client.branch, 4 if double else 3)
        slots = {4: ("am", "lunch", "tea", "bed"), 3: ("am", rnd.choice(("lunch", "tea")), "bed"), 2: ("am", "bed")}
        chosen = slots.get(calls) or (rnd.choice(("am", "lunch")),)
        days = _WEEKDAYS if calls == 1 and rnd.random() < 0.4 else _ALL_DAYS
        r = rnd.random()
        starts_on = None
        ends_on = None
        if r < 0.02:
            starts_on = self.today + timedelta(days=rnd.randint(2, self.spec.days - 1))
        elif r < 0.035:
            ends_on = self.today + timedelta(days=rnd.randint(1, self.spec.days - 2))
        for slot in chosen:
            carers = 1
            if slot == "am":
                code, start, duration = "PERS", _quarter(rnd, "07:00", "09:30"), rnd.choice((30, 45, 45, 60))
                carers = 2 if double else 1
            elif slot == "lunch":
                code = rnd.choice(("MEAL", "MEAL", "MEAL", "MEDS", "WELL", "PERS"))
                start, duration = _quarter(rnd, "11:45", "13:30"), 15 if code in {"MEDS", "WELL"} else 30
            elif slot == "tea":
                code = rnd.choice(("MEAL", "MEAL", "MEDS", "PERS"))
                start, duration = _quarter(rnd, "16:00", "18:00"), 15 if code == "MEDS" else 30
            else:
                code, start, duration = "BED", _quarter(rnd, "19:30", "22:00"), rnd.choice((30, 30, 45))
                carers = 2 if double else 1
            if len(team) < carers:
                carers = 1
            self.add_plan_visit(
                client, code, days, start, duration, team, carers=carers, starts_on=starts_on, ends_on=ends_on
            )
        if rnd.random() < 0.2:
            code = rnd.choice(("SIT", "SIT", "DOM", "SHOP", "ESC" if rnd.random() < 0.1 else "RESP"))
            extra_days = rnd.choice(((0, 2, 4), (1, 3), (2,), (4,), (1,)))
            self.add_plan_visit(
                client,
                code,
                extra_days,
                _quarter(rnd, "10:00", "15:00"),
                60 if code in {"SIT", "DOM", "RESP"} else 45,
                team[::-1],
                starts_on=starts_on,
                ends_on=ends_on,
            )

    def population(self, clients: int) -> None:
        rnd = self.rnd
        linked: list[_Client] = []
        for _ in range(clients):
            branch = self.branch_choice()
            groups = self.branch_groups[branch]
            first = rnd.choice(_CLIENT_FEMALE if rnd.random() < 0.64 else _CLIENT_MALE)
            status = "inactive" if rnd.random() < 0.03 else "active"
            client = self.add_client(
                branch,
                first,
                rnd.choice(_SURNAMES),
                _pick(rnd, _FUNDING),
                status=status,
                group=None if rnd.random() < 0.01 else rnd.choice(groups),
            )
            if rnd.random() < 0.04:
                client.postcode = None
            if status == "active" and rnd.random() > 0.015:
                self.package(client)
                linked.append(client)
        # Unplanned (added to the roster, no service requirement) and ad-hoc (one-off) visits.
        if not linked:
            return
        teams: dict[str, tuple[str, ...]] = {}
        for pv in self.plan_visits:
            teams.setdefault(pv.client_id, pv.regular + pv.cover)
        for kind, rate in (("unplanned", 0.01), ("adhoc", 0.004)):
            for _ in range(round(len(linked) * self.spec.days * rate)):
                client = rnd.choice(linked)
                team = teams.get(client.id, ())
                allocated = bool(team) and rnd.random() > 0.1
                self.add_extra(
                    client,
                    kind,
                    rnd.randrange(self.spec.days),
                    _quarter(rnd, "09:00", "19:00"),
                    rnd.choice((30, 45, 60)),
                    (rnd.choice(team),) if allocated else (),
                )

    def add_extra(
        self,
        client: _Client,
        kind: str,
        offset: int,
        start: time,
        duration: int,
        workers: tuple[str, ...],
        *,
        carers: int = 1,
    ) -> _Extra:
        if kind == "unplanned":
            self.unplanned += 1
            vid = f"VU{self.unplanned:07d}"
        else:
            self.adhoc += 1
            vid = f"VA{self.adhoc:07d}"
        extra = _Extra(vid, 1, client.id, client.contract_id, kind, offset, start, duration, carers, workers)
        self.extras.append(extra)
        return extra

    # confirmations --------------------------------------------------------------------------------

    def confirmations(self, data: DemoData) -> None:
        """About 2% of this morning's allocated calls were confirmed manually by a coordinator."""
        rnd = random.Random(self.seed + 1)  # noqa: S311 - demo data, not security
        for pv in self.plan_visits:
            if not pv.allocate or pv.start >= time(12) or (pv.num, 0) in self.overrides:
                continue
            offsets = data._offsets(pv)  # noqa: SLF001 - the builder and the data belong together
            if offsets and offsets[0] == 0 and rnd.random() < 0.02:
                self.confirmed.add(data.visit_id(pv.id, 0))

    # scenarios ------------------------------------------------------------------------------------

    def scenario(self, rule: str, kind: RecordKind, external_id: str, description: str) -> None:
        self.scenarios.append(Scenario(rule, kind, external_id, description))

    def curated(self) -> None:
        """Records in Bristol that each fail one publishing rule of seed 000."""
        today = self.today
        daily = _ALL_DAYS
        group = self.branch_groups[0][0]
        w_left = self.add_worker(0, "Kerry", "Dawson", "left", mobile=True)
        w_desk = self.add_worker(0, "Paul", "Mercer", "active", mobile=False)
        w_new = self.add_worker(0, "Zainab", "Okafor", "active", mobile=True)
        w_reg = self.add_worker(0, "Megan", "Hartley", "active", mobile=True)
        team = (w_reg.id,)

        c_hosp = self.add_client(0, "Dorothy", "Pemberton", "council", status="inactive", group=group)
        pv_hosp = self.add_plan_visit(c_hosp, "MEDS", daily, time(9), 15, team)
        c_comp = self.add_client(0, "Harold", "Finch", "companionship", group=group)
        pv_comp = self.add_plan_visit(c_comp, "SIT", daily, time(15), 60, team)
        c_new = self.add_client(0, "Violet", "Ashby", "council", group=group)
        c_main = self.add_client(0, "Arthur", "Bramley", "council", group=group)
        pv_main = self.add_plan_visit(c_main, "PERS", daily, time(8), 45, team)
        pv_resp = self.add_plan_visit(c_main, "RESP", (0, 2, 4), time(14), 60, team)
        pv_sit = self.add_plan_visit(c_main, "SIT", (1, 3), time(10, 30), 60, ())
        self.overrides[(pv_main.num, 1)] = (w_desk.id,)
        self.overrides[(pv_main.num, 3)] = ()
        self.overrides[(pv_main.num, 0)] = team
        double = self.add_extra(c_main, "adhoc", 2, time(11), 60, (w_reg.id, w_left.id), carers=2)
        later = self.add_extra(c_main, "unplanned", 20, time(11), 45, (w_new.id,))
        data_days = self.spec.days
        first_comp = next(o for o in range(1, data_days) if (today.weekday() + o) % 7 in pv_comp.days)
        comp_visit = f"V{pv_comp.id[2:]}-{(today + timedelta(days=first_comp)):%Y%m%d}"
        main = f"V{pv_main.id[2:]}-"

        def on(offset: int) -> str:
            return f"{main}{(today + timedelta(days=offset)):%Y%m%d}"

        self.confirmed.add(on(0))
        s = self.scenario
        s(
            "client.active",
            RecordKind.CLIENT,
            c_hosp.id,
            "Dorothy Pemberton is inactive (in hospital) but her medication calls are still rostered",
        )
        s(
            "client.monitored_contract",
            RecordKind.CLIENT,
            c_comp.id,
            "Harold Finch is funded only by 'Private Clients – Companionship', which is not a monitored contract",
        )
        s(
            "client.linked",
            RecordKind.CLIENT,
            c_new.id,
            "Violet Ashby is a new referral with no plan visit and no allocated visit yet",
        )
        s("worker.active", RecordKind.WORKER, w_left.id, "Kerry Dawson has left but is still allocated to a double-up")
        s(
            "worker.mobile_enabled",
            RecordKind.WORKER,
            w_desk.id,
            "Paul Mercer is allocated to visits but is not enabled as a mobile care worker",
        )
        s(
            "worker.allocated_in_window",
            RecordKind.WORKER,
            w_new.id,
            "Zainab Okafor's only allocation is a visit 20 days ahead, beyond the 14-day publish window",
        )
        s(
            "visit.monitored_contract",
            RecordKind.VISIT,
            comp_visit,
            "Harold Finch's sitting visit is on 'Private Clients – Companionship', which is not monitored",
        )
        s("visit.in_window", RecordKind.VISIT, later.id, "Arthur Bramley's unplanned visit starts in 20 days")
        s(
            "visit.mobile_worker",
            RecordKind.VISIT,
            on(1),
            "Arthur Bramley's 08:00 call tomorrow is allocated only to Paul Mercer, who is not mobile-enabled",
        )
        s(
            "visit.mobile_worker",
            RecordKind.VISIT,
            on(3),
            "Arthur Bramley's 08:00 call in 3 days has no carer allocated",
        )
        s(
            "visit.not_confirmed_before_publish",
            RecordKind.VISIT,
            on(0),
            "Arthur Bramley's 08:00 call today was confirmed manually before it was first published",
        )
        s(
            "plan_visit.monitored_contract",
            RecordKind.PLAN_VISIT,
            pv_comp.id,
            "Harold Finch's daily sitting service is on the unmonitored companionship contract",
        )
        s(
            "plan_visit.visit_published",
            RecordKind.PLAN_VISIT,
            pv_sit.id,
            "Arthur Bramley's Tuesday/Thursday sitting service has no carer allocated to any visit",
        )
        s(
            "plan_visit.has_description",
            RecordKind.PLAN_VISIT,
            pv_resp.id,
            "Arthur Bramley's respite plan visit uses visit type RESP, which has no description",
        )
        del pv_hosp, double  # linked for realism; no scenario of their own

    def build(self) -> DemoData:
        curated_clients, curated_workers = 4, 4
        self.organisation()
        self.workforce(self.spec.workers - curated_workers)
        self.population(self.spec.clients - curated_clients)
        self.curated()
        data = DemoData(
            scale=self.scale,
            today=self.today,
            zone=self.zone,
            seed=self.seed,
            days=self.spec.days,
            monitored_contract_ids=frozenset(self.monitored),
            scenarios=self.scenarios,
            confirmed_visit_ids=frozenset(),
            _branches=self.branches,
            _groups=self.groups,
            _contracts=self.contracts,
            _clients=self.clients,
            _workers=self.workers,
            _plan_visits=self.plan_visits,
            _extras=self.extras,
            _overrides=self.overrides,
        )
        self.confirmations(data)
        data.confirmed_visit_ids = frozenset(self.confirmed)
        return data


def generate(scale: Scale, *, today: date, zone: ZoneInfo = LONDON, seed: int = 2026) -> DemoData:
    """Generate a provider of ``scale`` whose visits start on ``today``; deterministic for equal arguments.

    Visits cover 28 days for ``small`` and ``medium`` and 14 days (the publish window) for ``large``.
    """
    return _Builder(Scale(scale), today, zone, seed).build()


# --- files -----------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def file_name(kind: RecordKind, fmt: Literal["csv", "jsonl"]) -> str:
    """``plan-visits.csv`` and the like."""
    return f"{kind.plural}.{fmt}"


def write_files(
    data: DemoData,
    directory: Path,
    fmt: Literal["csv", "jsonl"],
    *,
    progress: Callable[[RecordKind, int], None] | None = None,
) -> dict[RecordKind, Path]:
    """Write one file per kind, streaming; CSV (header row, empty = absent, ``;``-joined lists) or JSON lines.

    ``progress(kind, n)`` is called after every few thousand records written.
    """
    directory.mkdir(parents=True, exist_ok=True)
    paths: dict[RecordKind, Path] = {}
    fields_of = {kind: list(SCHEMAS[kind].model_fields) for kind in LOAD_ORDER}
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for kind in LOAD_ORDER:
        path = directory / file_name(kind, fmt)
        fields = fields_of[kind]
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, lineterminator="\n")
            if fmt == "csv":
                writer.writerow(fields)
            records = data.records(kind)
            while chunk := list(islice(records, _WRITE_CHUNK)):
                if fmt == "csv":
                    writer.writerows([_cell(record.get(f)) for f in fields] for record in chunk)
                else:
                    out.writelines(dumps(record) + "\n" for record in chunk)
                if progress is not None:
                    progress(kind, len(chunk))
        paths[kind] = path
    return paths
