"""The batch API workload: a real uvicorn server process and an HTTP client posting batches.

The server (``benchmarks.server``) serves ``carehub.app.create_app`` in one
process; the client posts every kind's records in load order, 5,000 a request,
to ``POST /api/v1/{kind}/batch`` with an API token, from ``concurrency``
threads (requests of one kind overlap; kinds follow each other). Bodies are
serialised before the clock starts, so the client costs the server's cores as
little as possible.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy.engine import make_url

from benchmarks.cpu import backends_cpu, process_cpu
from carehub.roster.domain.kinds import LOAD_ORDER, RecordKind

BATCH = 5000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _peak_kib(pid: int) -> int:
    """The peak resident memory (VmHWM) of a running process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def bodies(paths: dict[RecordKind, Path]) -> dict[RecordKind, list[bytes]]:
    """Every kind's records (from its JSON-lines file) as request bodies of BATCH records."""
    out: dict[RecordKind, list[bytes]] = {}
    for kind in LOAD_ORDER:
        with paths[kind].open("rb") as lines:
            records = (orjson.loads(line) for line in lines if line.strip())
            out[kind] = []
            while chunk := list(islice(records, BATCH)):
                out[kind].append(orjson.dumps({"records": chunk}))
    return out


def run(url: str, token: str, payload: dict[RecordKind, list[bytes]], concurrency: int) -> dict[str, Any]:
    """Start a server on ``url``'s database, load everything through the API, stop it; timings and peak memory."""
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "benchmarks.server", url, str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        client = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=600,
        )
        for _ in range(300):
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        per_kind: dict[str, float] = {}
        records = rejected = 0

        def post(path: str, body: bytes) -> dict[str, Any]:
            response = client.post(path, content=body)
            response.raise_for_status()
            result: dict[str, Any] = orjson.loads(response.content)
            return result

        database = make_url(url).database or ""
        cpu0, db0 = process_cpu(server.pid), backends_cpu(database)
        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            for kind in LOAD_ORDER:
                t0 = time.perf_counter()
                path = f"/api/v1/{kind.plural}/batch"
                for result in pool.map(lambda body, p=path: post(p, body), payload[kind]):
                    records += result["received"]
                    rejected += result["rejected"]
                per_kind[kind.value] = time.perf_counter() - t0
        seconds = time.perf_counter() - started
        cpu, db_cpu = process_cpu(server.pid) - cpu0, backends_cpu(database) - db0
        client.close()
        peak = _peak_kib(server.pid)
    finally:
        server.terminate()
        try:
            out, _ = server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            out, _ = server.communicate()
    if out.strip():
        print(out.strip(), file=sys.stderr)
    return {
        "seconds": seconds,
        "cpu": cpu,
        "db_cpu": db_cpu,
        "per_kind": per_kind,
        "records": records,
        "rejected": rejected,
        "peak_kib": peak,
    }
