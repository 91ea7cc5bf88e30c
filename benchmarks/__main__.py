"""Carehub's benchmark suite: ``./dev bench`` (or ``python -m benchmarks``).

Workloads, each measured against its reference in the same run:

- ``file``: load a whole data set from files (CSV by default) through
  ``do_import_file``, kind by kind, in a separate process (its peak memory is
  reported). Reference: the same files read with pyarrow and loaded into bare
  tables (PostgreSQL ``COPY``; SQLite ``executemany``).
- ``batch``: load the same data set through the batch API over real HTTP
  (uvicorn, one server process; 5,000 records a request). Reference: the same
  pyarrow + ``COPY`` limit; the issue's target (10,000 visits/s) is shown too.
- ``publish``: a full publish evaluation with diff (benchmarks/publish.py).
  Reference: one bare SQL pass reading the same rows with the same joins.
- ``delivery``: outbox events delivered to a local webhook receiver by one
  worker on PostgreSQL (benchmarks/delivery.py). Reference: the same POSTs
  sent by a bare HTTP client.
- ``sync``: a roster change through the API until it shows in the worker's
  device feed (benchmarks/sync_latency.py). Reference: an unchanged feed pull.

Every run starts from a fresh, migrated database. Medians over ``--runs`` runs.
See docs/performance.md for the method and the measured figures.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import batch, data, databases
from benchmarks.postgres import ensure_postgres
from carehub.roster.domain.kinds import RecordKind

VISIT_TARGET = 10_000  # visits a second through the batch API (the target)
FILE_TARGET = 1 / 3  # of the reference's throughput (the target for the file path on PostgreSQL)


def _child(args: list[str]) -> dict[str, Any]:
    out = subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "benchmarks.work", *args], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        msg = f"benchmark step {args[0]} failed"
        raise RuntimeError(msg)
    if out.stderr.strip():
        print(out.stderr.strip(), file=sys.stderr)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = statistics.median(r["seconds"] for r in runs)
    visits = statistics.median(r["per_kind"].get(RecordKind.VISIT.value, 0.0) for r in runs)
    steps: dict[str, float] = {}
    for r in runs:
        for k, v in r.get("steps", {}).items():
            steps.setdefault(k, 0.0)
            steps[k] += v / len(runs)
    return {
        "runs": len(runs),
        "seconds": seconds,
        "all_seconds": [round(r["seconds"], 3) for r in runs],
        "records": runs[0]["records"],
        "rejected": runs[0]["rejected"],
        "per_second": runs[0]["records"] / seconds,
        "cpu": statistics.median(r.get("cpu", 0.0) for r in runs),
        "db_cpu": statistics.median(r.get("db_cpu", 0.0) for r in runs),
        "visit_seconds": visits,
        "peak_mib": max(r["peak_kib"] for r in runs) / 1024,
        "steps": steps,
    }


def bench(scale: str, db: str, workloads: list[str], runs: int, fmt: str, concurrency: int) -> list[dict[str, Any]]:
    """Run the workloads of one scale on one database; one result row per workload."""
    origin, paths = data.files(scale, fmt)
    directory = paths[RecordKind.VISIT].parent
    visits = data.count_lines(paths[RecordKind.VISIT], fmt)
    print(f"\n== {scale} on {db}: {visits:,} visits, data from {origin}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="carehub-bench-") as tmp:
        work = Path(tmp)
        reference = []
        for i in range(runs):
            target = databases.fresh(db, work)
            reference.append(_child(["reference", target.url, fmt, str(directory)]))
            print(f"   reference run {i + 1}: {reference[-1]['seconds']:.2f}s", flush=True)
        ref = _summary(reference)
        if "file" in workloads:
            measured = []
            for i in range(runs):
                target = databases.fresh(db, work)
                measured.append(_child(["import", target.url, str(target.environment_id), fmt, str(directory)]))
                print(f"   file run {i + 1}: {measured[-1]['seconds']:.2f}s", flush=True)
            rows.append({"workload": f"file ({fmt})", **_summary(measured), "reference": ref})
        if "batch" in workloads:
            payload = batch.bodies(data.files(scale, "jsonl")[1])
            measured = []
            for i in range(runs):
                target = databases.fresh(db, work)
                measured.append(batch.run(target.url, target.token, payload, concurrency))
                print(f"   batch run {i + 1}: {measured[-1]['seconds']:.2f}s", flush=True)
            rows.append({"workload": f"batch API (x{concurrency})", **_summary(measured), "reference": ref})
    for row in rows:
        row.update(scale=scale, db=db, visits=visits)
    return rows


def report(rows: list[dict[str, Any]]) -> None:
    """Print the results table."""
    head = (
        f"{'scale':<7}{'db':<11}{'workload':<17}{'records':>10}{'runs':>5}{'median s':>10}{'rec/s':>9}"
        f"{'visits/s':>10}{'peak MiB':>9}{'ref s':>8}{'ref rec/s':>10}{'ratio':>7}{'cpu s':>8}{'ref cpu':>8}"
    )
    print("\n" + head)
    print("-" * len(head))
    for r in rows:
        ref = r["reference"]
        ratio = r["per_second"] / ref["per_second"]
        visits_per_s = r["visits"] / r["visit_seconds"] if r["visit_seconds"] else 0
        print(
            f"{r['scale']:<7}{r['db']:<11}{r['workload']:<17}{r['records']:>10,}{r['runs']:>5}{r['seconds']:>10.2f}"
            f"{r['per_second']:>9,.0f}{visits_per_s:>10,.0f}{r['peak_mib']:>9,.0f}{ref['seconds']:>8.2f}"
            f"{ref['per_second']:>10,.0f}{ratio:>7.2f}{r['cpu'] + r['db_cpu']:>8.1f}{ref['cpu'] + ref['db_cpu']:>8.1f}"
        )
    print(
        "\nratio = throughput / reference throughput (same records, same run). cpu s = CPU seconds of the process "
        "doing the work plus the PostgreSQL processes serving it (medians; unlike wall time, not stretched when "
        "other work shares the machine). Targets: batch API "
        f">= {VISIT_TARGET:,} visits/s; file path on PostgreSQL >= {FILE_TARGET:.2f} of the reference; "
        "peak memory < 1.5 GiB for large."
    )


EXTRA = {"publish": "benchmarks.publish", "delivery": "benchmarks.delivery", "sync": "benchmarks.sync_latency"}
"""Workloads with their own module: ``bench(db, runs[, scale])`` returns result rows."""


def extra(workload: str, db: str, runs: int, scale: str) -> list[dict[str, Any]]:
    """Run one of the :data:`EXTRA` workloads."""
    module = importlib.import_module(EXTRA[workload])
    rows: list[dict[str, Any]] = module.bench(db, runs, scale) if workload == "publish" else module.bench(db, runs)
    return rows


def report_extra(rows: list[dict[str, Any]]) -> None:
    """Print the rows of the other workloads: time and throughput against their references."""
    head = (
        f"{'scale':<8}{'db':<11}{'workload':<26}{'records':>10}{'runs':>5}{'median s':>10}{'per s':>10}"
        f"{'peak MiB':>9}{'ref s':>8}{'ref per s':>10}{'ratio':>7}"
    )
    print("\n" + head)
    print("-" * len(head))
    for r in rows:
        ref = r["reference"]
        print(
            f"{r['scale']!s:<8}{r['db']:<11}{r['workload']:<26}{r['records']:>10,}{r['runs']:>5}{r['seconds']:>10.2f}"
            f"{r['per_second']:>10,.0f}{r['peak_mib']:>9,.0f}{ref['seconds']:>8.2f}{ref['per_second']:>10,.0f}"
            f"{r['seconds'] / ref['seconds']:>7.2f}"
        )
    print(
        "\nratio = time / reference time (same run). Targets: publish evaluate (steady) < 15 s and ratio <= 3 on "
        "large; delivery >= 2,000 events/s; sync p95 < 1 s (p50 < 100 ms)."
    )


def main() -> None:  # noqa: C901 - one branch per workload family
    """Parse options, run, print and save the results."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=["small", "medium", "large", "all"], default="medium")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument("--workload", choices=["file", "batch", *EXTRA, "all"], default="all")
    parser.add_argument("--runs", type=int, default=3, help="runs per workload (median reported); >= 3 advised")
    parser.add_argument("--format", choices=["csv", "jsonl"], default="csv", help="file format of the file path")
    parser.add_argument("--concurrency", type=int, default=2, help="client threads posting batches")
    args = parser.parse_args()
    scales = ["medium", "large"] if args.scale == "all" else [args.scale]
    dbs = ["postgresql", "sqlite"] if args.db == "all" else [args.db]
    workloads = ["file", "batch", *EXTRA] if args.workload == "all" else [args.workload]
    if "postgresql" in dbs:
        ensure_postgres()
    rows: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    started = time.time()
    for scale in scales:
        for db in dbs:
            # The batch API's target is on PostgreSQL; on SQLite only the file path is measured.
            wanted = [w for w in workloads if w in {"file", "batch"} and (db == "postgresql" or w == "file")]
            if wanted:
                rows += bench(scale, db, wanted, args.runs, args.format, args.concurrency)
            if "publish" in workloads:
                others.extend(extra("publish", db, args.runs, scale))
    for db in dbs:
        # Delivery's target is one worker on PostgreSQL; sync latency is measured on each database.
        if "delivery" in workloads and db == "postgresql":
            others.extend(extra("delivery", db, args.runs, scales[0]))
        if "sync" in workloads:
            others.extend(extra("sync", db, args.runs, scales[0]))
    for db in dbs:
        databases.drop(db)
    if rows:
        report(rows)
    if others:
        report_extra(others)
    out = data.RESULTS / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"started": started, "args": vars(args), "rows": rows + others}, indent=2, default=str))
    print(f"results saved to {out}")


if __name__ == "__main__":
    main()
