"""Slow clients (issue 19, row 7): half-sent requests cannot starve a worker's real ones,
and a connection that does not finish its request headers in time is closed
(backend/http/connections.py). Against a live `python -m backend serve`, on both of
uvicorn's HTTP implementations: httptools on uvloop (the default with uvicorn[standard])
and h11 on asyncio (the fallback)."""

import resource
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from backend.http.connections import ConnectionLimits, plan_limits
from tests.helpers import make_settings
from tests.live_server import live_server

STACKS = [
    pytest.param((), id="httptools-uvloop"),
    pytest.param(("--http", "h11", "--loop", "asyncio"), id="h11-asyncio"),
]
OPEN_FILES = 1024  # the common default, as on the machine where the attack was found
STALLED = 1100
HALF_SENT = b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-A: "
HEALTH = b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n"


def _common_open_file_limit() -> None:
    """In the server process before it starts: soft and hard, so it cannot raise it."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))


@pytest.fixture
def files_for_the_attack() -> Iterator[None]:
    """This test process holds STALLED sockets at once: raise its own soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = STALLED + 200
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"the test needs {needed} open files; the hard limit here is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _connect(port: int) -> socket.socket:
    # Generous: at the limit the server's accept queue is short, and a SYN it drops is
    # resent after 1 s, then 3 s (the attack's connections, not the real request's).
    return socket.create_connection(("127.0.0.1", port), timeout=30)


def _half_sent(port: int) -> socket.socket:
    sock = _connect(port)
    sock.sendall(HALF_SENT)
    return sock


def _read_response(sock: socket.socket) -> bytes:
    """One response with a Content-Length (or b"" if the server closes first)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@pytest.mark.parametrize("serve_args", STACKS)
def test_half_sent_requests_do_not_starve_a_real_request(
    tmp_path: Path, serve_args: tuple[str, ...], files_for_the_attack: None
) -> None:
    log = tmp_path / "server.log"
    stalled: list[socket.socket] = []
    with live_server(
        f"sqlite:///{tmp_path}/slow.db",
        serve_args=serve_args,
        log=log,
        preexec_fn=_common_open_file_limit,
        # Longer than the test: the connection limit, not the timeout, must save the day.
        HTTP_HEADER_TIMEOUT_SECONDS="120",
    ) as server:
        try:
            started = time.monotonic()
            # In parallel: a SYN the full accept queue drops costs its sender a second.
            with ThreadPoolExecutor(max_workers=32) as pool:
                opening = [pool.submit(_half_sent, server.port) for _ in range(STALLED)]
            stalled.extend(future.result() for future in opening if not future.exception())
            assert len(stalled) == STALLED
            attack_seconds = time.monotonic() - started

            started = time.monotonic()
            with _connect(server.port) as real:
                real.settimeout(5)
                real.sendall(HEALTH)
                response = _read_response(real)
            answered_in = time.monotonic() - started
            assert response.startswith(b"HTTP/1.1 200 "), response
            assert b'"status":"ok"' in response
            assert answered_in < 5

            time.sleep(1.5)  # the summary line is written a second after the first event
        finally:
            for sock in stalled:
                sock.close()
    lines = log.read_text().splitlines()
    print(
        f"{serve_args or 'default'}: {STALLED} half-sent connections in {attack_seconds:.2f} s, "
        f"real request answered in {answered_in * 1000:.0f} ms, {len(lines)} log lines"
    )
    assert not any("Traceback" in line for line in lines), lines[:20]
    assert len(lines) <= 5, lines[:20]
    assert any("closed at the connection limit" in line for line in lines), lines


@pytest.mark.parametrize("serve_args", STACKS)
def test_connections_that_do_not_finish_their_headers_are_closed(
    tmp_path: Path, serve_args: tuple[str, ...]
) -> None:
    log = tmp_path / "server.log"
    with live_server(
        f"sqlite:///{tmp_path}/timeout.db",
        serve_args=serve_args,
        log=log,
        HTTP_HEADER_TIMEOUT_SECONDS="1",
    ) as server:
        token = server.token("alice")
        body = b'{"title": "slow body"}'
        with (
            _connect(server.port) as half_sent,
            _connect(server.port) as idle,
            _connect(server.port) as keep_alive,
            _connect(server.port) as steady,
            _connect(server.port) as slow_body,
            _connect(server.port) as too_large,
            _connect(server.port) as garbage,
        ):
            started = time.monotonic()
            half_sent.sendall(HALF_SENT)
            # Headers past HTTP_MAX_HEADER_BYTES (32 KiB), unfinished: httptools alone would
            # keep taking header lines into memory until the timeout. (One segment on
            # loopback: the server reads it whole before it closes, so no reset.)
            too_large.sendall(HALF_SENT + b"a" * 33_000)
            assert _read_until_closed(too_large).startswith(b"HTTP/1.1 431 ")
            garbage.sendall(b"NOT HTTP\r\n\r\n")
            assert _read_until_closed(garbage).startswith(b"HTTP/1.1 400 ")
            # A second request on a kept-alive connection gets the same deadline.
            keep_alive.sendall(HEALTH)
            assert _read_response(keep_alive).startswith(b"HTTP/1.1 200 ")
            keep_alive.sendall(HALF_SENT)
            # Headers complete, then the body late: the header timeout does not cut it.
            slow_body.sendall(
                b"POST /api/alice/tasks HTTP/1.1\r\nHost: x\r\n"
                + f"Authorization: Bearer {token}\r\n".encode()
                + b"Content-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
            )
            # Complete requests, together longer than the timeout, on one connection.
            for _ in range(3):
                steady.sendall(HEALTH)
                assert _read_response(steady).startswith(b"HTTP/1.1 200 ")
                time.sleep(0.6)
            slow_body.sendall(body)
            assert _read_response(slow_body).startswith(b"HTTP/1.1 201 ")

            assert _read_until_closed(half_sent).startswith(b"HTTP/1.1 408 ")
            assert _read_until_closed(keep_alive).startswith(b"HTTP/1.1 408 ")
            assert _read_until_closed(idle) == b""  # nothing sent: closed quietly
            closed_after = time.monotonic() - started
            assert closed_after < 5
            steady.sendall(HEALTH)
            assert _read_response(steady).startswith(b"HTTP/1.1 200 ")
        time.sleep(1.5)  # the summary line
    text = log.read_text()
    assert "Traceback" not in text
    # One summary line (the first a second after the first event), not a line per event.
    assert len(text.splitlines()) == 1, text
    assert "closed with request headers over the size limit: 1" in text, text
    assert "closed after an invalid request: 1" in text, text
    assert "closed with request headers incomplete at the header timeout" in text, text


def test_limits_fit_the_open_file_limit() -> None:
    settings = make_settings("sqlite://")  # pool 5 + overflow 10 by default
    generous = plan_limits(settings, 1 << 20)
    assert generous == ConnectionLimits(
        max_connections=settings.http_max_connections,
        header_timeout=settings.http_header_timeout_seconds,
        max_header_bytes=settings.http_max_header_bytes,
        backlog=2048,
        open_files=1 << 20,
    )
    common = plan_limits(settings, OPEN_FILES)
    # Connections, three accept bursts, the database's files and the reserve all fit.
    db_files = 3 * (settings.db_pool_size + settings.db_max_overflow)
    assert common.max_connections + 3 * common.backlog + db_files + 64 <= OPEN_FILES
    assert common.max_connections > OPEN_FILES // 2
    tiny = plan_limits(settings, 100)
    assert tiny.max_connections >= 16
    assert tiny.backlog >= 16
