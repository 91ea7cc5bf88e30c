"""The delivery loop of ``carehub worker``: fan out, claim, send, record; and run due periodic jobs.

One asyncio loop sends the requests; the database work runs in one thread
beside it, so requests keep flowing while a batch of outcomes is written.
Each round:

1. writes the outcomes of the requests that finished since the last round
   (set-wise, ``store.record``);
2. fans new outbox events out to delivery rows (``fanout.fan_out``);
3. claims, subscription by subscription, as many due deliveries as that
   subscription has room for (``store.claim``, with a lease), and starts
   sending them.

A failing or slow subscriber never holds up the others: each subscription has
at most ``per_subscription`` requests in flight and claims only what it can
send in about two seconds (at least twice ``per_subscription``), every
request has a ``timeout``, and a failure only schedules that
delivery's retry. Retries back off exponentially with jitter (``backoff``);
after ``max_attempts`` failures in a row a delivery is dead.

Stopping (SIGTERM or SIGINT): nothing more is claimed, requests in flight
finish (each within ``timeout``), their outcomes are written and the leases of
anything claimed but not sent are given back. A second signal cuts the
requests in flight short and gives their leases back too (they are sent again;
the receiver may have got them). A worker killed outright loses nothing
either: its leases run out (``lease``) and another worker, or this one
restarted, sends those deliveries again (at-least-once; the
``Idempotency-Key`` lets receivers drop the repeat).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import signal
import socket
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import orjson

from carehub.platform import jobs
from carehub.platform.clock import utc_now
from carehub.platform.db import Database
from carehub.platform.delivery import fanout, store
from carehub.platform.delivery.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, idempotency_key, sign
from carehub.platform.delivery.tables import DEAD, DELIVERED, PENDING
from carehub.platform.delivery.transport import Target, Transport, TransportError, parse_url

log = logging.getLogger("carehub.worker")
T = TypeVar("T")

MAX_ERROR = 500
CLAIM_HORIZON = 2.0  # seconds of sending a subscription claims at once (well under the lease)
MAX_CLAIMED = 10_000  # deliveries claimed and not yet recorded, all subscriptions together
FAN_OUT_EVERY = 0.05  # seconds between fan-out passes while busy (at once again after a full batch)


@dataclass
class _RoundResult:
    fanned: fanout.FanOutResult = field(default_factory=fanout.FanOutResult.nothing)
    claimed: dict[int, list[store.Claimed]] = field(default_factory=dict)
    asked: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """How the worker sends. Times in seconds."""

    concurrency: int = 64  # requests in flight at once, all subscriptions together
    per_subscription: int = 16  # requests in flight at once to one subscription
    timeout: float = 10.0  # one request: connect, send and answer
    lease: float = 120.0  # how long a claim holds; a killed worker's claims are free again after it
    retry_base: float = 30.0  # first retry after this, then doubling ...
    retry_max: float = 3600.0  # ... up to this (each with ±20% jitter)
    claim_batch: int = 2000  # deliveries claimed for one subscription at once, at most
    fanout_batch: int = fanout.BATCH
    poll: float = 0.5  # how often an idle worker looks for new events and due retries
    jobs_every: float = 1.0  # how often due periodic jobs are looked for

    def check(self) -> WorkerConfig:
        """This config, or ValueError saying which value is wrong."""
        if self.concurrency < 1 or self.per_subscription < 1:
            raise ValueError("concurrency and per-subscription concurrency are at least 1")
        if self.timeout <= 0 or self.poll <= 0:
            raise ValueError("timeout and poll interval are above 0")
        if self.lease < 2 * self.timeout + 1:
            raise ValueError(f"the lease ({self.lease:g} s) must be over twice the timeout ({self.timeout:g} s)")
        if self.retry_base < 0 or self.retry_max < self.retry_base:
            raise ValueError("retry base is at least 0 and retry max at least the base")
        return self


def backoff(failures: int, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Seconds before the next attempt after ``failures`` failures in a row: base·2^(n-1), capped, ±20% jitter."""
    delay = min(cap, base * 2.0 ** max(0, failures - 1))
    return float(delay * (0.8 + 0.4 * rand()))


@dataclass
class Stats:
    """What a worker did."""

    delivered: int = 0
    failed: int = 0
    dead: int = 0
    fanned_out: int = 0
    jobs: list[jobs.RunResult] = field(default_factory=list)

    def line(self) -> str:
        """One line for the log."""
        return (
            f"delivered {self.delivered}, failed attempts {self.failed}, dead {self.dead}, "
            f"deliveries queued {self.fanned_out}, jobs run {len(self.jobs)}"
        )


def worker_name() -> str:
    """This worker's name in leases and attempts: host, process and a random tag."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(3)}"


def _event_body(c: store.Claimed) -> bytes:
    return orjson.dumps(
        {
            "id": c.event_id,
            "topic": c.topic,
            "created_at": c.created_at.isoformat(),
            "environment_id": c.environment_id,
            "entity": c.entity,
            "entity_id": c.entity_id,
            "data": c.payload,
        }
    )


@dataclass
class _Sub:
    target: store.SubscriptionTarget
    url: Target | None
    url_problem: str | None
    semaphore: asyncio.Semaphore
    claimed: int = 0  # claimed and not yet recorded
    next_look: float = 0.0  # monotonic time before which an idle subscription is not asked again
    seconds: float = 0.1  # how long its requests take (moving average): sets how much to claim at once

    def room(self, config: WorkerConfig) -> int:
        """How many more deliveries to claim: what it can send in about CLAIM_HORIZON seconds."""
        can_send = config.per_subscription * CLAIM_HORIZON / max(self.seconds, 0.001)
        return min(config.claim_batch, max(2 * config.per_subscription, int(can_send))) - self.claimed


class Worker:
    """One delivery worker. ``run`` until ``stop`` is set (or, with ``once``, until nothing is due)."""

    def __init__(self, db: Database, config: WorkerConfig | None = None, name: str | None = None) -> None:
        self.db = db
        self.config = (config or WorkerConfig()).check()
        self.name = name or worker_name()
        self.stats = Stats()
        self._subs: dict[int, _Sub] = {}
        self._subs_loaded = -1e9
        self._outcomes: list[store.Outcome] = []
        self._given_up: list[int] = []  # claims not sent in time, to give back
        self._stopping = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._transport = Transport()
        self._total = asyncio.Semaphore(self.config.concurrency)
        self._db_thread = ThreadPoolExecutor(1, thread_name_prefix="carehub-db")
        self._job_thread = ThreadPoolExecutor(1, thread_name_prefix="carehub-jobs")
        self._job_run: Future[list[jobs.RunResult]] | None = None
        self._next_jobs = 0.0
        self._next_fan_out = 0.0

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._db_thread, fn, *args)

    # ------------------------------------------------------------ subscriptions

    async def _refresh_subscriptions(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._subs_loaded < 5.0:
            return
        self._subs_loaded = now
        try:
            targets = await self._db(store.active_subscriptions, self.db)
        except Exception:  # the database is away: keep what we know and try again in a while
            log.exception("could not read the subscriptions; trying again")
            return
        fresh: dict[int, _Sub] = {}
        for t in targets:
            sub = self._subs.get(t.id)
            if sub is not None and sub.target == t:
                fresh[t.id] = sub
                continue
            url: Target | None = None
            problem = None
            try:
                url = parse_url(t.url)
            except ValueError as exc:
                problem = f"the subscription's URL is not valid: {exc}"
            if sub is None:
                sub = _Sub(t, url, problem, asyncio.Semaphore(self.config.per_subscription))
            else:  # changed (URL, secret, attempts): the same object, so requests in flight count against it
                sub.target, sub.url, sub.url_problem = t, url, problem
            fresh[t.id] = sub
        for sub_id, old in self._subs.items():  # disabled while requests are in flight: keep until they finish
            if sub_id not in fresh and old.claimed:
                fresh[sub_id] = old
        self._subs = fresh

    # ------------------------------------------------------------ sending

    async def _send(self, sub: _Sub, c: store.Claimed, deadline: float) -> None:
        started = utc_now()
        t0 = time.perf_counter()
        code: int | None = None
        error: str | None = None
        try:
            async with sub.semaphore, self._total:
                if self._stopping:  # stopping: requests not started yet are given back unsent (release)
                    sub.claimed -= 1
                    return
                if time.monotonic() > deadline:  # waited too long for its turn: give it back unsent
                    sub.claimed -= 1
                    sub.next_look = 0.0
                    self._given_up.append(c.delivery_id)
                    self._wake.set()
                    return
                started = utc_now()
                t0 = time.perf_counter()
                if sub.url is None:
                    error = sub.url_problem
                elif not c.topic:
                    error = f"event {c.event_id} is no longer in the outbox"
                else:
                    body = _event_body(c)
                    headers = [
                        ("Content-Type", "application/json"),
                        (IDEMPOTENCY_HEADER, idempotency_key(c.event_id)),
                        (SIGNATURE_HEADER, sign(sub.target.secret, body)),
                        ("Carehub-Event-Id", str(c.event_id)),
                        ("Carehub-Event-Topic", c.topic),
                        ("Carehub-Attempt", str(c.attempts + 1)),
                    ]
                    reply = await self._transport.post(sub.url, body, headers, self.config.timeout)
                    code = reply.status
                    if not 200 <= reply.status < 300:
                        excerpt = " ".join(reply.excerpt.split())[:200]
                        error = f"HTTP {reply.status}" + (f": {excerpt}" if excerpt else "")
        except TransportError as exc:
            error = str(exc)
        except Exception as exc:
            log.exception("delivery %s: unexpected error", c.delivery_id)
            error = f"unexpected error: {type(exc).__name__}"
        seconds = time.perf_counter() - t0
        sub.seconds = 0.8 * sub.seconds + 0.2 * seconds
        self._outcomes.append(self._outcome(sub, c, started, seconds, code, error))
        self._wake.set()

    def _outcome(
        self, sub: _Sub, c: store.Claimed, started: datetime, seconds: float, code: int | None, error: str | None
    ) -> store.Outcome:
        number = c.attempts + 1
        ms = round(seconds * 1000)
        record = (sub.target.id, c.entity, c.entity_id)
        if error is None:
            self.stats.delivered += 1
            return store.Outcome(
                c.delivery_id, sub.target.id, number, started, ms, code, None, DELIVERED, 0, started, record
            )
        failures = c.failures + 1
        error = error[:MAX_ERROR]
        if failures >= sub.target.max_attempts:
            self.stats.dead += 1
            log.warning(
                "delivery %s (event %s, subscription %s) is dead after %s failures: %s",
                c.delivery_id,
                c.event_id,
                sub.target.id,
                failures,
                error,
            )
            return store.Outcome(
                c.delivery_id, sub.target.id, number, started, ms, code, error, DEAD, failures, started, record
            )
        self.stats.failed += 1
        wait = backoff(failures, self.config.retry_base, self.config.retry_max)
        then = utc_now() + timedelta(seconds=wait)
        return store.Outcome(
            c.delivery_id, sub.target.id, number, started, ms, code, error, PENDING, failures, then, record
        )

    def _start(self, sub: _Sub, claimed: list[store.Claimed]) -> None:
        sub.claimed += len(claimed)
        # A claim not sent by then is given up: its lease may run out before the request ends.
        deadline = time.monotonic() + self.config.lease - self.config.timeout - 1
        for c in claimed:
            task = asyncio.create_task(self._send(sub, c, deadline))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ one round

    def _round(
        self,
        outcomes: list[store.Outcome],
        fan: bool,
        wants: list[tuple[int, int]],
        spare: dict[int, int],
        given_up: list[int],
    ) -> _RoundResult:
        """The database side of a round, in the database thread: record, fan out, claim (each its own transaction)."""
        result = _RoundResult()
        now = utc_now()
        if given_up:
            try:
                store.release(self.db, self.name, now, given_up)
            except Exception:
                log.exception("could not give back %d claims; their leases run out", len(given_up))
        if outcomes:
            try:
                store.record(self.db, self.name, outcomes, now)
            except Exception:
                # Not written: the leases run out and the deliveries are sent again (at-least-once).
                log.exception(
                    "could not record %d outcomes; they are sent again when their leases run out", len(outcomes)
                )
        if fan:
            try:
                result.fanned = fanout.fan_out(self.db, self.config.fanout_batch)
            except Exception:
                log.exception("fan-out failed; trying again")
            wants = [*wants, *((s, spare[s]) for s in sorted(result.fanned.subscriptions) if s in spare)]
        if wants:
            try:
                result.claimed = store.claim(self.db, wants, self.name, utc_now(), timedelta(seconds=self.config.lease))
            except Exception:
                log.exception("claiming deliveries failed; trying again")
        result.asked = [sub_id for sub_id, _ in wants]
        return result

    def _plan(self, *, once: bool) -> tuple[bool, list[tuple[int, int]], dict[int, int]]:
        """Whether to fan out, which subscriptions to claim for and how many, and the room the others have."""
        now = time.monotonic()
        fan = once or now >= self._next_fan_out
        if fan:
            self._next_fan_out = now + FAN_OUT_EVERY
        total_room = MAX_CLAIMED - sum(s.claimed for s in self._subs.values())
        wants: list[tuple[int, int]] = []
        spare: dict[int, int] = {}  # asked for at once only if fan-out gives them new deliveries
        for sub in self._subs.values():
            room = min(sub.room(self.config), total_room)
            if room <= 0:
                continue
            if once or sub.next_look <= now:
                wants.append((sub.target.id, room))
                total_room -= room
            else:
                spare[sub.target.id] = room
        return fan, wants, spare

    async def _one_round(self, *, once: bool) -> tuple[int, int, int]:
        """Record what finished, fan out when due, claim what there is room for; (recorded, fanned out, claimed)."""
        outcomes, self._outcomes = self._outcomes, []
        given_up, self._given_up = self._given_up, []
        fan, wants, spare = self._plan(once=once)
        subs = dict(self._subs)  # the subscriptions asked for, whatever a refresh does meanwhile
        result = await self._db(self._round, outcomes, fan, wants, spare, given_up)
        for o in outcomes:
            done = self._subs.get(o.subscription_id)
            if done is not None:
                done.claimed -= 1
                done.next_look = 0.0  # a later event of the same record may be due now
        self.stats.fanned_out += result.fanned.deliveries
        if result.fanned.full:
            self._next_fan_out = 0.0
        claimed = 0
        after = time.monotonic()
        for sub_id in result.asked:
            got = result.claimed.get(sub_id, [])
            if got:
                self._start(subs[sub_id], got)
                claimed += len(got)
            else:
                subs[sub_id].next_look = after + self.config.poll
        if any(s not in self._subs for s in result.fanned.subscriptions):
            await self._refresh_subscriptions(force=True)
        return len(outcomes), result.fanned.events, claimed

    def _jobs_due(self, *, wait: bool) -> None:
        now = time.monotonic()
        if self._job_run is not None and self._job_run.done():
            with contextlib.suppress(Exception):
                self.stats.jobs.extend(self._job_run.result())
            self._job_run = None
        if self._job_run is None and now >= self._next_jobs and jobs.registered():
            self._next_jobs = now + self.config.jobs_every
            self._job_run = self._job_thread.submit(jobs.run_due, self.db, self.name)
        if wait and self._job_run is not None:
            with contextlib.suppress(Exception):
                self.stats.jobs.extend(self._job_run.result())
            self._job_run = None

    # ------------------------------------------------------------ the loop

    async def run(self, *, once: bool = False, stop: asyncio.Event | None = None) -> Stats:
        """Deliver until ``stop`` is set; with ``once``, until nothing is due and nothing is in flight."""
        stop = stop or asyncio.Event()
        log.info("worker %s started", self.name)
        try:
            await self._refresh_subscriptions(force=True)
            while not stop.is_set():
                self._wake.clear()
                await self._refresh_subscriptions()
                given_up = len(self._given_up)
                recorded, fanned, claimed = await self._one_round(once=once)
                if not once:
                    self._jobs_due(wait=False)
                elif not (recorded or fanned or claimed or given_up or self._tasks or self._outcomes):
                    break
                if self._outcomes or self._given_up or self._next_fan_out == 0.0:
                    continue  # more finished (or more to fan out) while the database worked: go on at once
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.config.poll)
        finally:
            await self._shutdown()
        if once:
            self._next_jobs = 0.0
            self._jobs_due(wait=True)
        log.info("worker %s stopped: %s", self.name, self.stats.line())
        return self.stats

    async def _shutdown(self) -> None:
        self._stopping = True
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._outcomes:
            outcomes, self._outcomes = self._outcomes, []
            await self._db(self._round, outcomes, False, [], {}, [])  # noqa: FBT003 - positional for run_in_executor
        try:
            released = await self._db(store.release, self.db, self.name, utc_now())
            if released:
                log.info("gave back %d claimed deliveries", released)
        except Exception:
            log.exception("could not give back leases; they run out in %s s", self.config.lease)
        await self._transport.aclose()

    def close(self) -> None:
        """Stop the worker's threads (waiting for a job that is running)."""
        self._db_thread.shutdown(wait=True)
        self._job_thread.shutdown(wait=True)


def run_once(db: Database, config: WorkerConfig | None = None, name: str | None = None) -> Stats:
    """Deliver everything that is due now, wait for it, run due jobs; then return (``carehub worker --once``)."""

    async def main() -> Stats:
        worker = Worker(db, config, name)
        try:
            return await worker.run(once=True)
        finally:
            worker.close()

    return asyncio.run(main())


def serve(db: Database, config: WorkerConfig | None = None, *, once: bool = False, name: str | None = None) -> Stats:
    """Run a worker in this process until SIGTERM or SIGINT (or, with ``once``, until idle)."""

    async def main() -> Stats:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        worker = Worker(db, config, name)

        def on_signal() -> None:
            if stop.is_set():  # a second signal: stop now, cutting requests short
                log.warning("stopping at once: requests in flight are sent again after their leases run out")
                for task in list(worker._tasks):  # noqa: SLF001 - the worker's own tasks
                    task.cancel()
                return
            log.info("stopping: finishing requests in flight")
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
        try:
            return await worker.run(once=once, stop=stop)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            worker.close()

    # The sending loop and the database thread share the GIL: hand it over sooner than every 5 ms.
    sys.setswitchinterval(0.001)
    try:
        import uvloop  # noqa: PLC0415 - optional, faster event loop (installed with uvicorn[standard])
    except ImportError:
        return asyncio.run(main())
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())
