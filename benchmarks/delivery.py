"""Delivery throughput: one ``carehub worker`` POSTing outbox events to a local webhook receiver.

``python -m benchmarks.delivery [--events N] [--runs 3] [--db postgresql|sqlite] [--concurrency 32] [--per-record 2]``

Each run: a fresh, migrated database (``carehub_bench_delivery`` on
PostgreSQL) with one tenant and one subscription (topic ``publishing.``) to a
receiver in its own process (uvicorn, a minimal ASGI app answering 204 and
counting requests). ``carehub worker`` is started in its own process with
``--concurrency`` requests in flight (all to that one subscriber) and left to
settle; then ``--events`` events (``--per-record`` events per record, so
in-order delivery per record is exercised) are committed in one transaction,
and the clock runs from that commit until every delivery is ``delivered`` (the
deliveries table polled every 50 ms). That covers fan-out, claims, signing,
the POSTs and the recorded outcomes and attempts.

Reference, in the same run against the same receiver: the same number of POSTs
of a body of the same size from a bare ``httpx.AsyncClient`` with the same
concurrency and no database. On the 2-core benchmark machine httpx is far
slower than the worker (it spends most of its time in its own connection pool),
which is why the worker has its own HTTP client; so each row also reports
``transport_reference``: the same POSTs through that client alone, the
practical ceiling of one worker process.

Target (issue 3): at least 2,000 events a second with one worker on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from benchmarks.cpu import backends_cpu, process_cpu
from benchmarks.databases import PG_ADMIN_URL
from carehub.platform import outbox
from carehub.platform.auth.actor import SYSTEM
from carehub.platform.db import Database, make_engine
from carehub.platform.delivery import service
from carehub.platform.delivery.transport import Transport, parse_url
from carehub.platform.schema import upgrade
from carehub.tenancy import service as tenancy

PG_DATABASE = "carehub_bench_delivery"
TARGET = 2000  # events a second (the target)
ROOT = Path(__file__).resolve().parents[1]

_count = 0


async def receiver_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The webhook receiver: reads the body, answers 204; ``GET /count`` says how many POSTs it got."""
    global _count  # noqa: PLW0603 - one process, one counter
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    if scope["method"] == "GET":
        body = str(_count).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})
        return
    _count += 1
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _wait_http(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    msg = f"{url} did not answer"
    raise RuntimeError(msg)


def _fresh(db: str, workdir: Path) -> str:
    """A fresh, migrated database; its URL."""
    if db == "postgresql":
        admin = make_url(PG_ADMIN_URL)
        with psycopg.connect(
            host=admin.host, port=admin.port or 5432, user=admin.username, dbname=admin.database, autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{PG_DATABASE}"')
        url = admin.set(database=PG_DATABASE).render_as_string(hide_password=False)
    else:
        path = workdir / "delivery.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def _drop(db: str) -> None:
    if db == "postgresql":
        admin = make_url(PG_ADMIN_URL)
        with psycopg.connect(
            host=admin.host, port=admin.port or 5432, user=admin.username, dbname=admin.database, autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')


def _payload(i: int) -> dict[str, Any]:
    """An event payload about the size of a published visit's."""
    return {
        "id": f"V{i:08d}",
        "client": {"id": f"C{i % 5000:06d}", "name": "Ada Lovelace"},
        "start": "2026-03-02T08:00:00+00:00",
        "end": "2026-03-02T08:30:00+00:00",
        "workers": [f"W{i % 700:05d}"],
        "status": "scheduled",
        "version": 1 + i // 7,
    }


def _delivered(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM deliveries WHERE status = 'delivered'")).scalar() or 0)


def _start_worker(url: str, workdir: Path, concurrency: int) -> tuple[subprocess.Popen[bytes], Path]:
    log = workdir / "worker.log"
    env = {**os.environ, "CAREHUB_DATABASE_URL": url, "CAREHUB_DATA_DIR": str(workdir / "data")}
    args = ["worker", "--concurrency", str(concurrency), "--per-subscription", str(concurrency)]
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [sys.executable, "-m", "carehub", *args], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT
        )
    deadline = time.monotonic() + 60
    while b" started" not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the worker did not start:\n" + log.read_text(errors="replace"))
        time.sleep(0.05)
    time.sleep(1.0)  # let it settle into its idle loop
    return proc, log


def run(db: str, workdir: Path, events: int, per_record: int, concurrency: int, receiver: str) -> dict[str, Any]:
    """One measured run: fresh database, worker started, events committed, clock until all delivered."""
    url = _fresh(db, workdir)
    database = Database(make_engine(url))
    tenant, env = tenancy.do_create_tenant(database, SYSTEM, name="Delivery Bench", timezone="Europe/London")
    service.do_create_subscription(database, SYSTEM, tenant_id=tenant.id, name="bench", url=f"{receiver}/hook")
    worker, log = _start_worker(url, workdir, concurrency)
    before = int(httpx.get(f"{receiver}/count").text)
    records = max(1, events // per_record)
    try:
        cpu0, db_cpu0 = process_cpu(worker.pid), _db_cpu(url)
        with database.transaction() as session:
            outbox.emit_many(
                session,
                (
                    outbox.Event("publishing.visit.updated", "visit", i % records, _payload(i), env.id)
                    for i in range(events)
                ),
            )
        start = time.perf_counter()
        deadline = start + max(120.0, events / 50)
        while (done := _delivered(database)) < events:
            if time.perf_counter() > deadline or worker.poll() is not None:
                msg = f"only {done:,} of {events:,} delivered; worker log:\n{log.read_text(errors='replace')[-3000:]}"
                raise RuntimeError(msg)
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        cpu, db_cpu = process_cpu(worker.pid) - cpu0, _db_cpu(url) - db_cpu0
        peak = _peak_kib(worker.pid)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
        database.engine.dispose()
    received = int(httpx.get(f"{receiver}/count").text) - before
    if received < events:
        msg = f"the receiver got {received:,} POSTs for {events:,} events"
        raise RuntimeError(msg)
    return {"seconds": seconds, "cpu": cpu, "db_cpu": db_cpu, "peak_kib": peak, "received": received}


def _db_cpu(url: str) -> float:
    return backends_cpu(make_url(url).database or "") if url.startswith("postgresql") else 0.0


def reference(events: int, concurrency: int, receiver: str) -> dict[str, Any]:
    """The same number of POSTs of the same size from a bare httpx client with the same concurrency."""
    body = orjson.dumps(
        {
            "id": 10**6,
            "topic": "publishing.visit.updated",
            "created_at": "2026-03-02T07:00:00+00:00",
            "environment_id": 1,
            "entity": "visit",
            "entity_id": 123456,
            "data": _payload(123456),
        }
    )

    async def main() -> float:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            gate = asyncio.Semaphore(concurrency)

            async def one(i: int) -> None:
                async with gate:
                    headers = {"content-type": "application/json", "idempotency-key": f"evt-{i}"}
                    answer = await client.post(f"{receiver}/hook", content=body, headers=headers)
                    answer.raise_for_status()

            start = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(events)))
            return time.perf_counter() - start

    cpu0 = time.process_time()
    seconds = asyncio.run(main())
    return {"seconds": seconds, "per_second": events / seconds, "cpu": time.process_time() - cpu0}


def transport_reference(events: int, concurrency: int, receiver: str) -> dict[str, Any]:
    """The same POSTs through the worker's own HTTP client (``delivery.transport``), no database: its ceiling."""
    body = orjson.dumps({"id": 10**6, "topic": "publishing.visit.updated", "data": _payload(123456)})

    async def main() -> float:
        client = Transport()
        target = parse_url(f"{receiver}/hook")
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with gate:
                headers = [("Content-Type", "application/json"), ("Idempotency-Key", f"evt-{i}")]
                answer = await client.post(target, body, headers, 30)
                assert answer.status == 204

        start = time.perf_counter()
        try:
            await asyncio.gather(*(one(i) for i in range(events)))
        finally:
            await client.aclose()
        return time.perf_counter() - start

    seconds = asyncio.run(main())
    return {"seconds": seconds, "per_second": events / seconds}


def bench(
    db: str, runs: int, *, events: int = 20_000, per_record: int = 2, concurrency: int = 32
) -> list[dict[str, Any]]:
    """Delivery throughput on ``db``: one row (medians over ``runs``), with its reference from the same runs."""
    measured: list[dict[str, Any]] = []
    refs: list[dict[str, Any]] = []
    ceilings: list[dict[str, Any]] = []
    port = _free_port()
    receiver_proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [
            sys.executable,
            "-m",
            "uvicorn",
            "benchmarks.delivery:receiver_app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
        ],
        cwd=ROOT,
    )
    receiver = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{receiver}/count")
        with tempfile.TemporaryDirectory(prefix="carehub-delivery-bench-") as tmp:
            for i in range(runs):
                refs.append(reference(events, concurrency, receiver))
                ceilings.append(transport_reference(events, concurrency, receiver))
                measured.append(run(db, Path(tmp), events, per_record, concurrency, receiver))
                m, r, c = measured[-1], refs[-1], ceilings[-1]
                print(
                    f"   delivery run {i + 1} on {db}: {events:,} events in {m['seconds']:.2f} s "
                    f"({events / m['seconds']:,.0f}/s; worker cpu {m['cpu']:.1f} s, database cpu {m['db_cpu']:.1f} s); "
                    f"bare httpx {r['seconds']:.2f} s ({r['per_second']:,.0f}/s); "
                    f"bare transport {c['seconds']:.2f} s ({c['per_second']:,.0f}/s)",
                    flush=True,
                )
    finally:
        receiver_proc.terminate()
        receiver_proc.wait(timeout=30)
        _drop(db)
    seconds = statistics.median(m["seconds"] for m in measured)
    ref_seconds = statistics.median(r["seconds"] for r in refs)
    return [
        {
            "workload": f"delivery (1 worker, x{concurrency})",
            "scale": events,
            "db": db,
            "records": events,
            "distinct_records": max(1, events // per_record),
            "runs": runs,
            "seconds": seconds,
            "all_seconds": [round(m["seconds"], 3) for m in measured],
            "per_second": events / seconds,
            "cpu": statistics.median(m["cpu"] for m in measured),
            "db_cpu": statistics.median(m["db_cpu"] for m in measured),
            "peak_mib": max(m["peak_kib"] for m in measured) / 1024,
            "target_per_second": TARGET,
            "transport_reference": {
                "what": f"the worker's HTTP client alone, same {events:,} POSTs, x{concurrency}, no database",
                "seconds": statistics.median(c["seconds"] for c in ceilings),
                "per_second": events / statistics.median(c["seconds"] for c in ceilings),
            },
            "reference": {
                "what": f"bare httpx.AsyncClient, same {events:,} POSTs, x{concurrency}, no database",
                "seconds": ref_seconds,
                "per_second": events / ref_seconds,
                "cpu": statistics.median(r["cpu"] for r in refs),
            },
        }
    ]


def main() -> None:
    """Parse options, run, print the rows as JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.delivery", description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--per-record", type=int, default=2, help="events per record (in-order delivery per record)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight (worker and reference)")
    args = parser.parse_args()
    rows = bench(args.db, args.runs, events=args.events, per_record=args.per_record, concurrency=args.concurrency)
    for r in rows:
        ref = r["reference"]
        print(
            f"\n{r['workload']} on {r['db']}: {r['records']:,} events, median {r['seconds']:.2f} s = "
            f"{r['per_second']:,.0f} events/s (target >= {TARGET:,}); peak {r['peak_mib']:.0f} MiB; "
            f"reference (bare httpx) {ref['seconds']:.2f} s = {ref['per_second']:,.0f}/s; "
            f"worker's HTTP client alone {r['transport_reference']['per_second']:,.0f}/s"
        )
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
