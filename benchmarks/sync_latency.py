"""Sync latency: how soon a roster change made through the API shows in the affected worker's device feed.

``python -m benchmarks.sync_latency [--db sqlite|postgresql|all] [--runs N] [--changes N] [--scale medium]``

Per database: a fresh, migrated database; the demo provider of ``--scale``
(visits from today) loaded through the file path; its monitored contracts
ticked and every group published two weeks ahead; devices linked for
``--devices`` published workers, each fully synced. Carehub then runs under
uvicorn in its own process (``benchmarks.server``) and, over real HTTP,
``--changes`` roster changes are made, alternating:

- allocate one of the device workers to a visit in the window that has a free
  place (``POST /api/v1/visits/{id}/allocations``);
- move a visit the worker holds by 15 minutes (``PUT /api/v1/visits/{id}``).

For each change the clock starts just before the API request and stops when
the worker's device, polling ``GET /api/mobile/v1/sync`` with its cursor, sees
the change (the visit, or its new start). Reference, measured in the same run
against the same server: the round trip of a feed pull when nothing changed.

Target (issue 3): visible within 1 s at the 95th percentile, median under 100 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select, text

from benchmarks import databases
from carehub.demo.generator import Scale, generate
from carehub.demo.load import load_as_files, publish
from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import SYSTEM
from carehub.platform.clock import utc_now
from carehub.platform.db import Database, make_engine
from carehub.publishing.mobile import service as mobile
from carehub.publishing.tables import MonitoredContract, PublishedWorker
from carehub.roster.tables import Visit, VisitAllocation
from carehub.tenancy import service as tenancy

# Its own database: other benchmarks may run at the same time (CAREHUB_BENCH_SYNC_DATABASE names another).
PG_DATABASE = os.environ.get("CAREHUB_BENCH_SYNC_DATABASE", "carehub_bench_sync")
RESULTS = Path(__file__).parent / "results"
TIMEOUT = 10.0  # a change not visible after this long counts as missed (at this latency)
P95_TARGET_MS, P50_TARGET_MS = 1000.0, 100.0


# --------------------------------------------------------------------------- set-up


@dataclass(frozen=True, slots=True)
class Target:
    """A loaded, published database."""

    url: str
    environment_id: int
    token: str
    records: int
    load_seconds: float


def fresh(db: str, workdir: Path, scale: str) -> Target:
    """A fresh database with the demo provider of ``scale`` loaded and published."""
    made = databases.fresh(db, workdir, name=PG_DATABASE, file="sync.db", tenant_name="Sync Care")
    url, token = made.url, made.token
    engine = make_engine(url)
    database = Database(engine)
    env = tenancy.get_environment(database, made.environment_id)
    actor = auth.actor_for_token(database, token)
    today = utc_now().astimezone(env.zone).date()
    data = generate(Scale(scale), today=today)
    started = time.perf_counter()
    loaded = load_as_files(database, actor, env.id, data, fmt="csv")
    # Ticking contracts and publish schedules is tenant configuration, not the rostering system's (its token's).
    publish(database, SYSTEM, env.id, data, today)
    seconds = time.perf_counter() - started
    if db == "postgresql":
        # Fresh statistics, as autovacuum would gather soon after a bulk load: the steady state is measured.
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
    engine.dispose()
    return Target(url, env.id, token, sum(k.created for k in loaded.values()), seconds)


def drop(db: str) -> None:
    """Remove the benchmark database (PostgreSQL)."""
    databases.drop(db, PG_DATABASE)


@dataclass
class Device:
    """A linked device of one worker, holding its feed as an app would."""

    worker_pk: int
    worker_id: str
    token: str
    cursor: str | None = None
    visits: dict[int, dict[str, Any]] = field(default_factory=dict)

    def apply(self, page: dict[str, Any]) -> None:
        """Apply one feed page."""
        for v in page["visits"]:
            self.visits[v["id"]] = v
        for d in page["drops"]:
            if d["kind"] == "visit":
                self.visits.pop(d["id"], None)
        self.cursor = page["cursor"]


def _pull(client: httpx.Client, device: Device, days: int = 14) -> dict[str, Any]:
    params: dict[str, Any] = {"days": days}
    if device.cursor:
        params["cursor"] = device.cursor
    answer = client.get("/api/mobile/v1/sync", params=params, headers={"Authorization": f"Bearer {device.token}"})
    answer.raise_for_status()
    page: dict[str, Any] = answer.json()
    device.apply(page)
    return page


def _sync_all(client: httpx.Client, device: Device) -> None:
    while _pull(client, device)["has_more"]:
        pass


def link_devices(url: str, environment_id: int, count: int) -> list[Device]:
    """Devices for ``count`` published workers spread over the environment, busiest first."""
    database = Database(make_engine(url))
    try:
        with database.read() as session:
            busy = (
                select(VisitAllocation.worker_id, func.count().label("n"))
                .join(Visit, Visit.id == VisitAllocation.visit_id)
                .where(Visit.start_at >= utc_now())
                .group_by(VisitAllocation.worker_id)
                .subquery()
            )
            rows = session.execute(
                select(PublishedWorker.worker_id, PublishedWorker.external_id, PublishedWorker.username)
                .join(busy, busy.c.worker_id == PublishedWorker.worker_id)
                .where(PublishedWorker.environment_id == environment_id, PublishedWorker.state == "active")
                .order_by(busy.c.n.desc(), PublishedWorker.external_id)
                .limit(count)
            ).all()
        devices = []
        for pk, external_id, username in rows:
            issued = mobile.do_issue_link_code(database, SYSTEM, environment_id, external_id)
            _, token = mobile.do_link_device(database, username, issued.code, f"bench phone {external_id}")
            devices.append(Device(pk, external_id, token))
        return devices
    finally:
        database.engine.dispose()


def allocation_pool(url: str, environment_id: int, devices: list[Device]) -> dict[str, list[str]]:
    """Per device worker: visits in the window with a free place they are not on (monitored, not confirmed)."""
    database = Database(make_engine(url))
    now = utc_now()
    try:
        with database.read() as session:
            monitored = select(MonitoredContract.contract_id).where(MonitoredContract.environment_id == environment_id)
            rows = session.execute(
                select(Visit.id, Visit.external_id, Visit.carers_needed)
                .where(
                    Visit.environment_id == environment_id,
                    Visit.deleted_at.is_(None),
                    Visit.status == "scheduled",
                    Visit.confirmed_at.is_(None),
                    Visit.start_at >= now + timedelta(days=1),
                    Visit.start_at < now + timedelta(days=10),
                    Visit.contract_id.in_(monitored),
                )
                .order_by(Visit.start_at, Visit.id)
            ).all()
            taken: Counter[int] = Counter()
            on: set[tuple[int, int]] = set()
            ids = [r.id for r in rows]
            for i in range(0, len(ids), 5000):
                for visit_pk, worker_pk in session.execute(
                    select(VisitAllocation.visit_id, VisitAllocation.worker_id).where(
                        VisitAllocation.visit_id.in_(ids[i : i + 5000])
                    )
                ):
                    taken[visit_pk] += 1
                    on.add((visit_pk, worker_pk))
    finally:
        database.engine.dispose()
    pool: dict[str, list[str]] = {d.worker_id: [] for d in devices}
    free = [(pk, ext) for pk, ext, needed in rows if taken[pk] < needed]
    for i, (visit_pk, external_id) in enumerate(free):
        d = devices[i % len(devices)]
        if (visit_pk, d.worker_pk) not in on:
            pool[d.worker_id].append(external_id)
    return pool


# --------------------------------------------------------------------------- the measurement


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


@dataclass(frozen=True, slots=True)
class Timed:
    """One change: its kind, the seconds until the device saw it, and the seconds of the API request alone."""

    kind: str
    seconds: float
    api_seconds: float


def _wait_visible(client: httpx.Client, device: Device, check: Any, t0: float) -> float:
    """Poll the device's feed until ``check(device)``; the seconds since ``t0`` (TIMEOUT when it never shows)."""
    while True:
        page = _pull(client, device)
        if check(device):
            return time.perf_counter() - t0
        if time.perf_counter() - t0 > TIMEOUT:
            return TIMEOUT
        if not page["has_more"]:
            time.sleep(0.002)


def _allocate(client: httpx.Client, device: Device, pool: dict[str, list[str]]) -> Timed | None:
    candidates = pool[device.worker_id]
    while candidates:
        visit = candidates.pop(0)
        t0 = time.perf_counter()
        answer = client.post(f"/api/v1/visits/{visit}/allocations", json={"worker_id": device.worker_id})
        api = time.perf_counter() - t0
        if answer.status_code != 200:
            continue  # taken meanwhile, or refused: try the next one

        def shown(d: Device, ext: str = visit) -> bool:
            return any(v["external_id"] == ext for v in d.visits.values())

        return Timed("allocate", _wait_visible(client, device, shown, t0), api)
    return None


def _move(client: httpx.Client, device: Device, step: int) -> Timed | None:
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    held = sorted(
        (v for v in device.visits.values() if datetime.fromisoformat(v["start_at"]) > tomorrow),
        key=lambda v: (v["start_at"], v["id"]),
    )
    if not held:
        return None
    visit = held[step % len(held)]
    record = client.get(f"/api/v1/visits/{visit['external_id']}").json()
    shift = timedelta(minutes=15 if step % 4 < 2 else -15)
    start = datetime.fromisoformat(record["start"]) + shift
    end = datetime.fromisoformat(record["end"]) + shift
    body = {k: record[k] for k in ("id", "client_id", "contract_id", "plan_visit_id", "kind", "carers_needed")}
    body |= {"version": record["version"] + 1, "start": start.isoformat(), "end": end.isoformat()}
    body["worker_ids"] = record["worker_ids"]
    visit_id = visit["id"]
    t0 = time.perf_counter()
    answer = client.put(f"/api/v1/visits/{visit['external_id']}", json=body)
    api = time.perf_counter() - t0
    if answer.status_code not in (200, 201):
        return None

    def moved(d: Device) -> bool:
        v = d.visits.get(visit_id)
        return v is not None and datetime.fromisoformat(v["start_at"]) == start

    return Timed("move", _wait_visible(client, device, moved, t0), api)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def _make_changes(client: httpx.Client, devices: list[Device], pool: dict[str, list[str]], changes: int) -> list[Timed]:
    """Alternate allocations and moves over the devices until ``changes`` are timed (or candidates run out)."""
    timed: list[Timed] = []
    for step in range(changes * 3):
        if len(timed) >= changes:
            break
        d = devices[step % len(devices)]
        if step % 2 == 0:
            done = _allocate(client, d, pool) or _move(client, d, step)
        else:
            done = _move(client, d, step) or _allocate(client, d, pool)
        if done is not None:
            timed.append(done)
    return timed


def _reference(client: httpx.Client, devices: list[Device], n: int) -> list[float]:
    """Round trips of pulls when nothing changed."""
    out = []
    for i in range(n):
        d = devices[i % len(devices)]
        t0 = time.perf_counter()
        page = _pull(client, d)
        out.append(time.perf_counter() - t0)
        assert page["visits"] == [], "the reference pull found changes"
        assert page["drops"] == [], "the reference pull found changes"
    return out


def measure(target: Target, devices: list[Device], pool: dict[str, list[str]], changes: int) -> dict[str, Any]:
    """Start the server, make ``changes`` changes and time each to visibility; the reference pulls; peak memory."""
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "benchmarks.server", target.url, str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        client = httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {target.token}"}, timeout=60
        )
        for _ in range(300):
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        for d in devices:
            _sync_all(client, d)
        reference = _reference(client, devices, max(changes, 50))
        timed = _make_changes(client, devices, pool, changes)
        client.close()
        peak = _peak_kib(server.pid)
    finally:
        server.terminate()
        try:
            out, _ = server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            out, _ = server.communicate()
    if out and out.strip():
        print(out.strip(), file=sys.stderr)
    return {"timed": timed, "reference": reference, "peak_kib": peak}


def bench(db: str, runs: int, *, scale: str = "medium", changes: int = 200, devices: int = 20) -> list[dict[str, Any]]:
    """Sync latency on ``db``: one row, latencies pooled over ``runs`` runs (each on a freshly loaded database)."""
    all_latencies: dict[str, list[float]] = {"allocate": [], "move": []}
    api_seconds: list[float] = []
    reference: list[float] = []
    peaks: list[int] = []
    records = 0
    loads: list[float] = []
    with tempfile.TemporaryDirectory(prefix="carehub-sync-bench-") as tmp:
        for i in range(runs):
            target = fresh(db, Path(tmp), scale)
            records, loads = target.records, [*loads, target.load_seconds]
            linked = link_devices(target.url, target.environment_id, devices)
            pool = allocation_pool(target.url, target.environment_id, linked)
            result = measure(target, linked, pool, changes)
            for t in result["timed"]:
                all_latencies[t.kind].append(t.seconds)
                api_seconds.append(t.api_seconds)
            reference += result["reference"]
            peaks.append(result["peak_kib"])
            pooled = [t.seconds for t in result["timed"]]
            print(
                f"   run {i + 1} on {db}: {len(pooled)} changes, p50 {_percentile(pooled, 0.5) * 1000:.1f} ms, "
                f"p95 {_percentile(pooled, 0.95) * 1000:.1f} ms, max {max(pooled, default=0) * 1000:.1f} ms; "
                f"unchanged pull p50 {_percentile(result['reference'], 0.5) * 1000:.1f} ms "
                f"(load + publish {target.load_seconds:.0f} s)",
                flush=True,
            )
    drop(db)
    pooled = [x for v in all_latencies.values() for x in v]
    p50 = _percentile(pooled, 0.5)
    ref_p50 = _percentile(reference, 0.5)
    return [
        {
            "workload": "sync latency (API change -> device feed)",
            "scale": scale,
            "db": db,
            "records": records,
            "changes": len(pooled),
            "devices": devices,
            "runs": runs,
            "seconds": p50,
            "per_second": 1 / p50 if p50 else 0.0,
            "p50_ms": p50 * 1000,
            "p95_ms": _percentile(pooled, 0.95) * 1000,
            "max_ms": max(pooled, default=0.0) * 1000,
            "missed": sum(1 for x in pooled if x >= TIMEOUT),
            "api_p50_ms": _percentile(api_seconds, 0.5) * 1000,
            "api_p95_ms": _percentile(api_seconds, 0.95) * 1000,
            "by_change": {
                kind: {
                    "n": len(v),
                    "p50_ms": _percentile(v, 0.5) * 1000,
                    "p95_ms": _percentile(v, 0.95) * 1000,
                    "max_ms": max(v, default=0.0) * 1000,
                }
                for kind, v in all_latencies.items()
            },
            "peak_mib": max(peaks, default=0) / 1024,
            "load_seconds": statistics.median(loads) if loads else 0.0,
            "reference": {
                "workload": "unchanged feed pull (round trip)",
                "seconds": ref_p50,
                "per_second": 1 / ref_p50 if ref_p50 else 0.0,
                "p50_ms": ref_p50 * 1000,
                "p95_ms": _percentile(reference, 0.95) * 1000,
                "n": len(reference),
            },
            "targets": {"p95_ms": P95_TARGET_MS, "p50_ms": P50_TARGET_MS},
        }
    ]


def report(rows: list[dict[str, Any]]) -> None:
    """Print the results table."""
    head = (
        f"{'db':<11}{'scale':<8}{'changes':>8}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'missed':>7}"
        f"{'ref p50':>9}{'ref p95':>9}{'peak MiB':>9}  target met?"
    )
    print("\n" + head)
    print("-" * len(head))
    for r in rows:
        met = r["p95_ms"] <= P95_TARGET_MS and r["p50_ms"] < P50_TARGET_MS and not r["missed"]
        ref = r["reference"]
        print(
            f"{r['db']:<11}{r['scale']:<8}{r['changes']:>8}{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}{r['max_ms']:>9.1f}"
            f"{r['missed']:>7}{ref['p50_ms']:>9.1f}{ref['p95_ms']:>9.1f}{r['peak_mib']:>9.0f}  {'yes' if met else 'NO'}"
        )
        for kind, s in r["by_change"].items():
            print(
                f"    {kind:<9} n={s['n']:<4} p50 {s['p50_ms']:.1f} ms  p95 {s['p95_ms']:.1f} ms  max {s['max_ms']:.1f}"
            )
        print(f"    of which the roster API request alone: p50 {r['api_p50_ms']:.1f} ms, p95 {r['api_p95_ms']:.1f} ms")
    print(
        "\nLatency: from just before the roster API request to the device's pull that shows the change "
        "(API request + propagation + pull). ref = round trip of a pull when nothing changed, same server. "
        f"Target: p95 <= {P95_TARGET_MS:.0f} ms, median < {P50_TARGET_MS:.0f} ms."
    )


def main() -> None:
    """Parse options, run, print and save the results."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sync_latency", description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument("--runs", type=int, default=1, help="runs, each on a freshly loaded database")
    parser.add_argument("--changes", type=int, default=200, help="roster changes measured per run")
    parser.add_argument("--devices", type=int, default=20, help="linked devices (workers) the changes go to")
    parser.add_argument("--scale", choices=["small", "medium", "large"], default="medium")
    args = parser.parse_args()
    dbs = ["postgresql", "sqlite"] if args.db == "all" else [args.db]
    if "postgresql" in dbs:
        from benchmarks.postgres import ensure_postgres  # noqa: PLC0415 - only PostgreSQL runs need it

        ensure_postgres()
    started = time.time()
    rows = []
    for db in dbs:
        print(f"\n== sync latency, {args.scale} on {db}", flush=True)
        rows += bench(db, args.runs, scale=args.scale, changes=args.changes, devices=args.devices)
    report(rows)
    out = RESULTS / f"sync-latency-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"started": started, "args": vars(args), "rows": rows}, indent=2))
    print(f"results saved to {out}")


if __name__ == "__main__":
    main()
