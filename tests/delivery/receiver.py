"""A real local webhook receiver for the delivery tests: records every request; can be told to fail or be slow."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def event(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data

    @property
    def event_id(self) -> int:
        return int(self.event["id"])


Rule = Callable[[Received], int | None]  # a status to answer with, or None for the default 204


class Receiver:
    """An HTTP/1.1 server (keep-alive) on a free localhost port."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        self.rule: Rule = lambda _r: None
        self.delay = 0.0
        self.delays: dict[str, float] = {}  # per path
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                got = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
                with receiver.lock:
                    receiver.requests.append(got)
                    rule = receiver.rule
                delay = receiver.delays.get(self.path, receiver.delay)
                if delay:
                    time.sleep(delay)
                status = rule(got) or 204
                answer = b"" if status == 204 else f"refused by test receiver ({status})".encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a worker that timed out and hung up is part of the tests

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def received(self, path: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if path is None or r.path == path]

    def event_ids(self, path: str | None = None) -> list[int]:
        return [r.event_id for r in self.received(path)]

    def fail_first(self, n: int, status: int = 503, path: str | None = None) -> None:
        """Answer ``status`` to the first ``n`` requests (to ``path``), then 204."""
        count = [0]

        def rule(r: Received) -> int | None:
            if path is not None and r.path != path:
                return None
            count[0] += 1
            return status if count[0] <= n else None

        self.rule = rule

    def fail_always(self, status: int = 500, path: str | None = None) -> None:
        self.rule = lambda r: status if path is None or r.path == path else None

    def succeed(self) -> None:
        self.rule = lambda _r: None


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        receiver.thread.join(timeout=5)
