"""Signing, the backoff schedule and the HTTP transport, without a database."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from carehub.platform.delivery import signing
from carehub.platform.delivery.transport import Transport, TransportError, parse_url
from carehub.platform.delivery.worker import WorkerConfig, backoff

SECRET = "whsec_0123456789abcdef0123456789"


def test_a_signature_verifies_and_a_changed_body_or_secret_does_not() -> None:
    body = b'{"id": 7, "topic": "publishing.visit.updated"}'
    header = signing.sign(SECRET, body, timestamp=1_800_000_000)
    assert header.startswith("t=1800000000,v1=")
    assert signing.verify(SECRET, body, header, now=1_800_000_010) == 1_800_000_000
    with pytest.raises(signing.SignatureError, match="no v1 signature matches"):
        signing.verify(SECRET, body + b" ", header, now=1_800_000_010)
    with pytest.raises(signing.SignatureError, match="no v1 signature matches"):
        signing.verify("whsec_another_secret_entirely", body, header, now=1_800_000_010)
    with pytest.raises(signing.SignatureError, match="seconds old"):
        signing.verify(SECRET, body, header, now=1_800_000_000 + 301)
    with pytest.raises(signing.SignatureError, match="malformed"):
        signing.verify(SECRET, body, "garbage", now=1_800_000_000)
    with pytest.raises(signing.SignatureError, match="timestamp"):
        signing.verify(SECRET, body, "v1=abc", now=1_800_000_000)


def test_the_idempotency_key_is_the_event_and_secrets_are_fresh() -> None:
    assert signing.idempotency_key(42) == "evt-42"
    a, b = signing.new_secret(), signing.new_secret()
    assert a != b
    assert a.startswith("whsec_")
    assert len(a) > 40


def test_backoff_doubles_from_the_base_up_to_the_cap_with_jitter() -> None:
    low = [backoff(n, 30, 3600, rand=lambda: 0.0) for n in range(1, 10)]
    high = [backoff(n, 30, 3600, rand=lambda: 1.0) for n in range(1, 10)]
    assert low == pytest.approx([24, 48, 96, 192, 384, 768, 1536, 2880, 2880])
    assert high == pytest.approx([36, 72, 144, 288, 576, 1152, 2304, 4320, 4320])
    assert all(24 <= backoff(1, 30, 3600) <= 36 for _ in range(200))


def test_the_worker_config_refuses_a_lease_shorter_than_two_requests() -> None:
    with pytest.raises(ValueError, match="lease"):
        WorkerConfig(timeout=10, lease=15).check()
    with pytest.raises(ValueError, match="concurrency"):
        WorkerConfig(concurrency=0).check()
    assert WorkerConfig().check().lease == 120


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://example.org/x", "http:// or https://"),
        ("https:///nohost", "no host"),
        ("https://user:pw@example.org/", "user name"),
        ("https://example.org:99999/", "port"),
        ("https://example.org/a b", "spaces"),
    ],
)
def test_a_webhook_url_must_be_plain_http_or_https(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_url(url)


def test_a_url_keeps_its_query_and_names_its_host() -> None:
    t = parse_url("https://example.org:8443/hook?a=1")
    assert (t.scheme, t.host, t.port, t.path, t.host_header) == (
        "https",
        "example.org",
        8443,
        "/hook?a=1",
        "example.org:8443",
    )
    assert parse_url("http://[::1]/").host_header == "[::1]"


# ---------------------------------------------------------------- the transport against raw sockets


def _requests(conn: socket.socket) -> Iterator[bytes]:
    """Each complete request (head and body) read from ``conn``, until it closes."""
    buffer = b""
    while True:
        try:
            chunk = conn.recv(65536)
        except OSError:
            return
        if not chunk:
            return
        buffer += chunk
        while b"\r\n\r\n" in buffer:
            head, _, rest = buffer.partition(b"\r\n\r\n")
            lengths = [int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")]
            length = lengths[0] if lengths else 0
            if len(rest) < length:
                break
            buffer = rest[length:]
            yield head


@contextmanager
def raw_server(answer: Callable[[socket.socket, int], bool]) -> Iterator[int]:
    """A TCP server on a free port; ``answer(conn, n)`` handles the n-th request, False closes the connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    count = [0]
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            for _ in _requests(conn):
                count[0] += 1
                if stop.is_set() or not answer(conn, count[0]):
                    return

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def post_twice(port: int, timeout: float = 2.0) -> list[object]:
    async def main() -> list[object]:
        transport = Transport()
        out: list[object] = []
        try:
            for _ in range(2):
                try:
                    reply = await transport.post(f"http://127.0.0.1:{port}/hook", b"{}", [], timeout)
                    out.append((reply.status, reply.excerpt))
                except TransportError as exc:
                    out.append(str(exc))
        finally:
            await transport.aclose()
        return out

    return asyncio.run(main())


def test_keep_alive_chunked_answers_and_a_closed_connection_are_handled() -> None:
    def answer(conn: socket.socket, n: int) -> bool:
        if n == 1:
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
            return True
        conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy")
        return False

    with raw_server(answer) as port:
        assert post_twice(port) == [(200, "hello"), (503, "busy")]


def test_an_answer_without_a_length_ends_with_the_connection() -> None:
    def answer(conn: socket.socket, _n: int) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")
        return False

    with raw_server(answer) as port:
        assert post_twice(port) == [(200, "all of it"), (200, "all of it")]


def test_a_kept_alive_connection_the_server_dropped_is_replaced() -> None:
    def answer(conn: socket.socket, _n: int) -> bool:
        conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
        conn.shutdown(socket.SHUT_RDWR)  # closes without saying so
        return False

    with raw_server(answer) as port:
        assert post_twice(port) == [(204, ""), (204, "")]


def test_a_silent_server_times_out_and_a_closed_port_is_refused() -> None:
    def answer(_conn: socket.socket, _n: int) -> bool:
        time.sleep(1.0)
        return False

    with raw_server(answer) as port:
        started = time.monotonic()
        assert post_twice(port, timeout=0.2) == ["no answer within 0.2 s", "no answer within 0.2 s"]
        assert time.monotonic() - started < 1.5
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    assert post_twice(free)[0] == f"connection refused by 127.0.0.1:{free}"


def test_garbage_instead_of_http_is_a_failure_with_a_reason() -> None:
    def answer(conn: socket.socket, _n: int) -> bool:
        conn.sendall(b"SSH-2.0-OpenSSH\r\n\r\n")
        return False

    with raw_server(answer) as port:
        results = post_twice(port)
        assert all(isinstance(r, str) and r.startswith("invalid HTTP answer") for r in results), results
