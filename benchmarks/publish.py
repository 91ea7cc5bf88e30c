"""Publishing benchmark: a full publish evaluation with diff over a whole data set.

``python -m benchmarks.publish [--scale large] [--db all] [--runs 3]``

For each database: a fresh database gets the data set through the file import,
every group a 14-day publish schedule and the demo's monitored contracts
ticked (the first publish, timed as ``publish apply (first)``). Then, each in
its own process so its peak memory is its own:

- ``evaluate (steady)``: a full run (``do_reconcile(preview=True)``) when the
  published copy is up to date: every rule evaluated set-wise, the diff worked
  out, nothing to write. This is the issue's target (< 15 s, within 3x of the
  reference, < 1.5 GiB).
- ``evaluate (first)``: the same before anything is published
  (``do_set_monitored(preview=True)``): the diff is the whole data set, and its
  writes are made and rolled back.
- reference: one bare SQL pass reading the same rows with the same joins (visits
  with clients, schedules, published copy and allocated workers; clients and
  workers with branches and published copy; plan visits with clients and care
  plans), fetched to Python, with no rule evaluated.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from benchmarks import data, databases
from benchmarks.postgres import ensure_postgres
from benchmarks.work import _peak_kib, run_import

ZONE = ZoneInfo("Europe/London")
NOW = datetime.combine(data.TODAY, clock(6), tzinfo=ZONE).astimezone(UTC)
TARGET_SECONDS = 15.0
TARGET_RATIO = 3.0


def _db(url: str) -> Any:
    from carehub.platform.db import Database, make_engine  # noqa: PLC0415 - child processes import lazily

    return Database(make_engine(url))


def _actor(environment_id: int) -> Any:
    from carehub.platform.auth.actor import Actor, Role  # noqa: PLC0415 - child processes import lazily

    return Actor(kind="system", id=None, label="benchmark", environment_id=environment_id, role=Role.ADMIN)


def prepare(url: str, environment_id: int, scale: str) -> dict[str, Any]:
    """Import the data set, schedule every group 14 days ahead; return contract and group ids."""
    from carehub.roster.domain.kinds import RecordKind  # noqa: PLC0415 - child processes import lazily

    _, source = data.source(scale)
    _, paths = data.files(scale, "csv")
    imported = run_import(url, environment_id, "csv", paths[RecordKind.VISIT].parent)
    from carehub.publishing.service import config  # noqa: PLC0415 - child processes import lazily

    db = _db(url)
    groups = sorted(str(g["id"]) for g in source.records(RecordKind.GROUP))
    config.do_publish_schedule(
        db, _actor(environment_id), environment_id, groups, data.TODAY + timedelta(days=14), now=NOW
    )
    contracts = sorted(getattr(source, "monitored_contract_ids", ()))
    return {"contracts": contracts, "records": imported["records"], "import_seconds": imported["seconds"]}


def step(what: str, url: str, environment_id: int, contracts: list[str]) -> dict[str, Any]:
    """One measured step, in this process."""
    from carehub.publishing.service import config  # noqa: PLC0415 - child processes import lazily

    db = _db(url)
    actor = _actor(environment_id)
    started = time.perf_counter()
    if what == "first":
        result = config.do_set_monitored(db, actor, environment_id, contracts, monitored=True, preview=True, now=NOW)
    elif what == "apply":
        result = config.do_set_monitored(db, actor, environment_id, contracts, monitored=True, now=NOW)
    elif what == "steady":
        result = config.do_reconcile(db, actor, environment_id, preview=True, now=NOW)
    else:
        rows = reference(db, environment_id)
        return {"seconds": time.perf_counter() - started, "rows": rows, "changes": 0, "peak_kib": _peak_kib()}
    seconds = time.perf_counter() - started
    counts = result.as_dict()["counts"]
    return {"seconds": seconds, "rows": 0, "changes": result.changes, "counts": counts, "peak_kib": _peak_kib()}


def reference(db: Any, environment_id: int) -> int:
    """The bare pass: the same rows with the same joins, no rules; returns the rows read."""
    from sqlalchemy import and_, select  # noqa: PLC0415 - child processes import lazily

    from carehub.publishing.service.context import SCHEDULES  # noqa: PLC0415 - child processes import lazily
    from carehub.publishing.service.selects import (  # noqa: PLC0415 - child processes import lazily
        P_BRANCHES,
        P_CARE_PLANS,
        P_CLIENTS,
        P_VISITS,
        P_WORKERS,
        R,
        at,
    )

    v, c, a, w, b, p = R.visits, R.clients, R.allocations, R.workers, R.branches, R.plan_visits
    start = at(NOW - timedelta(hours=6))
    queries = [
        select(
            v.c.id,
            v.c.external_id,
            v.c.start_at,
            v.c.end_at,
            v.c.contract_id,
            c.c.external_id,
            SCHEDULES.c.window_end_at,
            P_VISITS.c.state,
            P_VISITS.c.workers,
            w.c.status,
            w.c.mobile_enabled,
        )
        .select_from(
            v.join(c, c.c.id == v.c.client_id)
            .outerjoin(
                SCHEDULES, and_(SCHEDULES.c.environment_id == environment_id, SCHEDULES.c.group_id == c.c.group_id)
            )
            .outerjoin(P_VISITS, P_VISITS.c.visit_id == v.c.id)
            .outerjoin(a, a.c.visit_id == v.c.id)
            .outerjoin(w, w.c.id == a.c.worker_id)
        )
        .where(v.c.environment_id == environment_id, v.c.start_at >= start),
        select(
            c.c.id,
            c.c.external_id,
            c.c.first_name,
            c.c.last_name,
            c.c.status,
            b.c.name,
            P_CLIENTS.c.state,
            P_BRANCHES.c.name,
        )
        .select_from(
            c.join(b, b.c.id == c.c.branch_id)
            .outerjoin(P_CLIENTS, P_CLIENTS.c.client_id == c.c.id)
            .outerjoin(P_BRANCHES, P_BRANCHES.c.id == P_CLIENTS.c.branch_id)
        )
        .where(c.c.environment_id == environment_id),
        select(
            w.c.id,
            w.c.external_id,
            w.c.first_name,
            w.c.last_name,
            w.c.status,
            b.c.name,
            P_WORKERS.c.state,
            P_BRANCHES.c.name,
        )
        .select_from(
            w.join(b, b.c.id == w.c.branch_id)
            .outerjoin(P_WORKERS, P_WORKERS.c.worker_id == w.c.id)
            .outerjoin(P_BRANCHES, P_BRANCHES.c.id == P_WORKERS.c.branch_id)
        )
        .where(w.c.environment_id == environment_id),
        select(p.c.id, p.c.external_id, p.c.visit_type_description, c.c.external_id, P_CARE_PLANS.c.state)
        .select_from(p.join(c, c.c.id == p.c.client_id).outerjoin(P_CARE_PLANS, P_CARE_PLANS.c.plan_visit_id == p.c.id))
        .where(p.c.environment_id == environment_id),
    ]
    rows = 0
    with db.read() as session:
        for q in queries:
            for part in session.execute(q.execution_options(yield_per=50_000)).partitions():
                rows += len(part)
    return rows


def _child(args: list[str]) -> dict[str, Any]:
    out = subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "benchmarks.publish", *args], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        msg = f"publish benchmark step {args[0]} failed"
        raise RuntimeError(msg)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _row(
    workload: str, scale: str, db: str, runs: list[dict[str, Any]], ref: list[dict[str, Any]], records: int
) -> dict[str, Any]:
    seconds = statistics.median(r["seconds"] for r in runs)
    ref_seconds = statistics.median(r["seconds"] for r in ref)
    return {
        "workload": workload,
        "scale": scale,
        "db": db,
        "records": records,
        "runs": len(runs),
        "seconds": seconds,
        "all_seconds": [round(r["seconds"], 3) for r in runs],
        "per_second": records / seconds,
        "peak_mib": max(r["peak_kib"] for r in runs) / 1024,
        "changes": runs[0]["changes"],
        "reference": {"seconds": ref_seconds, "per_second": records / ref_seconds, "rows": ref[0]["rows"]},
    }


def bench(db: str, runs: int, scale: str = "large") -> list[dict[str, Any]]:
    """Prepare one database and measure every step ``runs`` times; one row per workload."""
    with tempfile.TemporaryDirectory(prefix="carehub-bench-") as tmp:
        target = databases.fresh(db, Path(tmp))
        url, env = target.url, str(target.environment_id)
        print(f"\n== publish, {scale} on {db}: importing", flush=True)
        prepared = _child(["prepare", url, env, scale])
        contracts = ",".join(prepared["contracts"])
        records = prepared["records"]
        print(f"   imported {records:,} records in {prepared['import_seconds']:.1f}s", flush=True)
        ref = []
        first = []
        for i in range(runs):
            ref.append(_child(["reference", url, env, contracts]))
            first.append(_child(["first", url, env, contracts]))
            print(f"   run {i + 1}: reference {ref[-1]['seconds']:.2f}s, first {first[-1]['seconds']:.2f}s", flush=True)
        applied = _child(["apply", url, env, contracts])
        print(f"   publish apply (first): {applied['seconds']:.2f}s, {applied['changes']:,} changes", flush=True)
        steady = []
        for i in range(runs):
            steady.append(_child(["steady", url, env, contracts]))
            print(f"   steady run {i + 1}: {steady[-1]['seconds']:.2f}s, {steady[-1]['changes']} changes", flush=True)
        rows = [
            _row("evaluate (steady)", scale, db, steady, ref, records),
            _row("evaluate (first)", scale, db, first, ref, records),
            _row("publish apply (first)", scale, db, [applied], ref, records),
        ]
    databases.drop(db)
    return rows


def report(rows: list[dict[str, Any]]) -> None:
    """Print the results table."""
    head = (
        f"{'scale':<7}{'db':<11}{'workload':<23}{'records':>10}{'runs':>5}{'median s':>10}"
        f"{'changes':>10}{'peak MiB':>9}{'ref s':>8}{'ratio':>7}"
    )
    print("\n" + head)
    print("-" * len(head))
    for r in rows:
        ratio = r["seconds"] / r["reference"]["seconds"]
        print(
            f"{r['scale']:<7}{r['db']:<11}{r['workload']:<23}{r['records']:>10,}{r['runs']:>5}{r['seconds']:>10.2f}"
            f"{r['changes']:>10,}{r['peak_mib']:>9,.0f}{r['reference']['seconds']:>8.2f}{ratio:>7.2f}"
        )
    print(
        f"\nratio = time / reference time (same run). Targets for evaluate (steady): < {TARGET_SECONDS:.0f} s, "
        f"ratio <= {TARGET_RATIO:.0f}, peak < 1.5 GiB."
    )


def main() -> None:
    """Entry point: the suite, or one step in a child process."""
    if len(sys.argv) > 1 and sys.argv[1] in {"prepare", "first", "apply", "steady", "reference"}:
        what, url, env, *rest = sys.argv[1:]
        if what == "prepare":
            result = prepare(url, int(env), rest[0])
        else:
            result = step(what, url, int(env), rest[0].split(",") if rest and rest[0] else [])
        print(json.dumps(result, default=str))
        return
    parser = argparse.ArgumentParser(prog="python -m benchmarks.publish", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=["small", "medium", "large"], default="large")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    dbs = ["postgresql", "sqlite"] if args.db == "all" else [args.db]
    if "postgresql" in dbs:
        ensure_postgres()
    rows = []
    for db in dbs:
        rows += bench(db, args.runs, args.scale)
    report(rows)
    out = data.RESULTS / f"publish-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2, default=str))
    print(f"results saved to {out}")


if __name__ == "__main__":
    main()
