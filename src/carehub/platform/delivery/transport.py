"""A lean HTTP/1.1 client for webhook POSTs: asyncio, keep-alive pools, ``httptools`` parsing.

Why not httpx: measured on the 2-core machine the benchmarks run on, httpx's
async client sends 500–1,200 small POSTs a second to a local receiver with 8
to 16 in flight, and under 300 with 32; its sync client, 1,600–2,000 from one
thread. That is before any database work, and the delivery target is 2,000
events a second end to end. The same POSTs over this module (asyncio plus the
C parser uvicorn already uses) reach about 9,000 a second. See
docs/delivery.md and ``benchmarks/delivery.py``.

What it does, and only that: ``POST`` with a body and headers to an ``http``
or ``https`` URL; connections kept alive and reused per origin; one overall
timeout per request (connect, send and answer); the status and the first
bytes of the answer returned. It follows no redirects (a 3xx is a failure, as
a webhook must answer at its own address), uses no proxy and sends no
``Accept-Encoding``. A request on a reused connection that the server had
closed meanwhile is sent once more on a new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import httptools

EXCERPT = 300  # bytes of an answer kept for the failure reason
MAX_IDLE = 256  # idle connections kept per origin
USER_AGENT = "Carehub-Webhooks/1.0"


class TransportError(Exception):
    """The request got no complete HTTP answer; the message says why, for people."""


class _StaleConnection(TransportError):
    """A reused keep-alive connection was closed by the server before it answered."""


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to one request."""

    status: int
    excerpt: str


@dataclass(frozen=True, slots=True)
class Target:
    """Where a URL points: what a connection needs and what the request line says."""

    scheme: str
    host: str
    port: int
    path: str
    host_header: str

    @property
    def origin(self) -> tuple[str, str, int]:
        """Connections are shared by requests with the same origin."""
        return (self.scheme, self.host, self.port)


def parse_url(url: str) -> Target:
    """Split an ``http(s)`` URL; ValueError when it is not one."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("the URL must start with http:// or https://")
    host = parts.hostname
    if not host:
        raise ValueError("the URL has no host")
    if parts.username or parts.password:
        raise ValueError("the URL must not carry a user name or password")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise ValueError("the URL's port is not a number from 1 to 65535") from exc
    if any(ch in url for ch in "\r\n\t ") or any(ord(ch) < 32 for ch in url):
        raise ValueError("the URL contains spaces or control characters")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    shown = f"[{host}]" if ":" in host else host
    default = 443 if parts.scheme == "https" else 80
    host_header = shown if port == default else f"{shown}:{port}"
    return Target(parts.scheme, host, port, path, host_header)


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection, parsing the answers it receives."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Reply] | None = None
        self.status = 0
        self.excerpt = bytearray()
        self.headers_done = False
        self.closed = False
        self.used = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(TransportError("the server switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(TransportError(f"invalid HTTP answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is None or self.waiter.done():
            return
        if self.headers_done:  # an answer without a length ends when the connection does
            self.waiter.set_result(Reply(self.status, self._text()))
        elif self.used and not self.status:
            self.waiter.set_exception(_StaleConnection("the server closed a kept-alive connection"))
        else:
            reason = f": {exc}" if exc else ""
            self.waiter.set_exception(TransportError(f"the connection closed before a complete answer{reason}"))

    # httptools callbacks

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.headers_done = self.status >= 200

    def on_body(self, body: bytes) -> None:
        room = EXCERPT - len(self.excerpt)
        if room > 0:
            self.excerpt += body[:room]

    def on_message_complete(self) -> None:
        if self.status < 200:  # 1xx informational: the real answer follows
            self.status = 0
            return
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(Reply(self.status, self._text()))
        if not self.parser.should_keep_alive():
            self.close()

    # use

    def _text(self) -> str:
        return self.excerpt.decode("utf-8", "replace")

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        self.close()

    def send(self, data: bytes) -> asyncio.Future[Reply]:
        self.waiter = asyncio.get_running_loop().create_future()
        if self.transport is None or self.transport.is_closing():
            self.waiter.set_exception(_StaleConnection("the connection is closed"))
            return self.waiter
        self.status, self.headers_done = 0, False
        self.excerpt.clear()
        self.transport.write(data)
        return self.waiter

    @property
    def reusable(self) -> bool:
        return not self.closed and self.transport is not None and not self.transport.is_closing()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _request_bytes(target: Target, body: bytes, headers: list[tuple[str, str]]) -> bytes:
    lines = [
        f"POST {target.path} HTTP/1.1",
        f"Host: {target.host_header}",
        f"User-Agent: {USER_AGENT}",
        f"Content-Length: {len(body)}",
    ]
    for name, value in headers:
        if any(ch in name + value for ch in "\r\n\0"):
            raise ValueError(f"header {name!r} contains a line break")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Transport:
    """Pools of kept-alive connections, one per origin; use from one event loop."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl = ssl_context
        self._idle: dict[tuple[str, str, int], deque[_Connection]] = {}

    def _tls(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    async def _connect(self, target: Target) -> _Connection:
        loop = asyncio.get_running_loop()
        tls: dict[str, Any] = {}
        if target.scheme == "https":
            tls = {"ssl": self._tls(), "server_hostname": target.host}
        try:
            _, conn = await loop.create_connection(_Connection, target.host, target.port, **tls)
        except ssl.SSLError as exc:
            raise TransportError(f"TLS handshake with {target.host} failed: {exc.reason or exc}") from exc
        except ConnectionRefusedError as exc:
            raise TransportError(f"connection refused by {target.host_header}") from exc
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise TransportError(f"could not connect to {target.host_header}: {reason}") from exc
        return conn

    def _take_idle(self, target: Target) -> _Connection | None:
        pool = self._idle.get(target.origin)
        while pool:
            conn = pool.pop()
            if conn.reusable:
                return conn
        return None

    def _give_back(self, target: Target, conn: _Connection) -> None:
        if not conn.reusable:
            return
        pool = self._idle.setdefault(target.origin, deque())
        if len(pool) >= MAX_IDLE:
            conn.close()
        else:
            pool.append(conn)

    async def _exchange(self, conn: _Connection, data: bytes) -> Reply:
        waiter = conn.send(data)
        try:
            reply = await waiter
        except BaseException:
            conn.close()
            raise
        conn.used = True
        return reply

    async def post(self, url: str | Target, body: bytes, headers: list[tuple[str, str]], timeout: float) -> Reply:  # noqa: ASYNC109 - one deadline for connect, send and answer
        """POST ``body``; the answer's status and first bytes. TransportError when no answer came."""
        target = parse_url(url) if isinstance(url, str) else url
        data = _request_bytes(target, body, headers)
        try:
            async with asyncio.timeout(timeout):
                conn = self._take_idle(target)
                if conn is not None:
                    try:
                        reply = await self._exchange(conn, data)
                    except _StaleConnection:
                        conn = None
                    else:
                        self._give_back(target, conn)
                        return reply
                conn = await self._connect(target)
                reply = await self._exchange(conn, data)
                self._give_back(target, conn)
                return reply
        except TimeoutError as exc:
            raise TransportError(f"no answer within {timeout:g} s") from exc

    async def aclose(self) -> None:
        """Close every idle connection."""
        for pool in self._idle.values():
            while pool:
                pool.pop().close()
        self._idle.clear()
        with contextlib.suppress(Exception):
            await asyncio.sleep(0)
