"""A reference reading of seed 000's publishing rules over generated records, to check the scenarios.

The publishing capability is built later; this is only what the tests need to
show that each curated record really fails the rule it is listed under.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timedelta

from carehub.demo.generator import PUBLISH_WINDOW_DAYS, DemoData
from carehub.roster.domain.kinds import RecordKind

Failures = dict[tuple[RecordKind, str], set[str]]


def failures(data: DemoData) -> Failures:  # noqa: C901, PLR0912 - the seed's rules, kind by kind
    """Which rules each record fails, with a publish window of 14 days from the start of ``today``."""
    opens = datetime.combine(data.today, time(0), tzinfo=data.zone)
    closes = opens + timedelta(days=PUBLISH_WINDOW_DAYS)
    monitored = data.monitored_contract_ids
    workers = {w["id"]: w for w in data.records(RecordKind.WORKER)}
    plan_visits = list(data.records(RecordKind.PLAN_VISIT))
    out: Failures = defaultdict(set)

    published_plan_visits: set[str] = set()
    worker_in_window: set[str] = set()
    client_links: dict[str, set[str]] = defaultdict(set)  # client -> contracts it is linked through
    for pv in plan_visits:
        client_links[pv["client_id"]].add(pv["contract_id"])
    for v in data.records(RecordKind.VISIT):
        key = (RecordKind.VISIT, v["id"])
        start = datetime.fromisoformat(v["start"])
        in_window = opens <= start < closes
        if v["contract_id"] not in monitored:
            out[key].add("visit.monitored_contract")
        if not in_window:
            out[key].add("visit.in_window")
        if not any(workers[w]["mobile_enabled"] for w in v["worker_ids"]):
            out[key].add("visit.mobile_worker")
        if v["id"] in data.confirmed_visit_ids:
            out[key].add("visit.not_confirmed_before_publish")
        if v["worker_ids"]:
            client_links[v["client_id"]].add(v["contract_id"])
            if in_window and v["contract_id"] in monitored:
                worker_in_window.update(v["worker_ids"])
        if not out[key] and v["plan_visit_id"]:
            published_plan_visits.add(v["plan_visit_id"])
    for pv in plan_visits:
        key = (RecordKind.PLAN_VISIT, pv["id"])
        if pv["contract_id"] not in monitored:
            out[key].add("plan_visit.monitored_contract")
        if pv["id"] not in published_plan_visits:
            out[key].add("plan_visit.visit_published")
        if not pv["visit_type_description"]:
            out[key].add("plan_visit.has_description")
    for w in workers.values():
        key = (RecordKind.WORKER, w["id"])
        if w["status"] != "active":
            out[key].add("worker.active")
        if not w["mobile_enabled"]:
            out[key].add("worker.mobile_enabled")
        if w["id"] not in worker_in_window:
            out[key].add("worker.allocated_in_window")
    for c in data.records(RecordKind.CLIENT):
        key = (RecordKind.CLIENT, c["id"])
        if c["status"] != "active":
            out[key].add("client.active")
        if not client_links[c["id"]] & monitored:
            out[key].add("client.monitored_contract")
        if not client_links[c["id"]]:
            out[key].add("client.linked")
    return out
