"""Slow and idle clients: a header timeout and a connection limit per worker, for uvicorn.

Why: uvicorn has no deadline for a request's headers and no limit on open connections
(its `limit_concurrency` answers 503 only once a request's headers are complete, so it never
sheds a half-sent one). 1,100 connections that each sent half a request's headers and
stalled used up a worker's 1,024 file descriptors; accept() then failed with EMFILE.
asyncio logged a traceback for every failed accept(), in a loop (140k of them); uvloop
(libuv) quietly accepts and closes everything queued, the real requests among them. Either
way no real request was served for as long as the stalled connections stayed.

What `python -m backend serve` gets from here:
- Header timeout: a connection must deliver a complete request line and headers within
  `header_timeout` seconds of connecting, or of its first byte after an idle keep-alive
  pause (idle keep-alive connections are closed by uvicorn's own keep-alive timeout).
  Past it the connection is closed, with a 408 if it had sent part of a request.
- Connection limit: at most `max_connections` open per worker. A new connection past it
  closes the connection that has waited longest for its request's headers (half-sent or
  idle keep-alive). Refusing the new one instead would favour the staller: its connections
  stay, and a real request, which sends its headers at once, is the one turned away. Only
  when every connection is busy with a request is the new one closed.
- Header size: at most `max_header_bytes` of request line and headers (431 past it).
  httptools, unlike h11, has no limit of its own.
- File descriptors: the soft RLIMIT_NOFILE is raised to the hard limit, and the connection
  limit and the listen backlog are sized so that open connections, one accept burst, the
  database connections and the files all fit: accept() does not run out of descriptors.
- One log line a minute at most, with counts, instead of one line per closed connection,
  failed accept() or malformed request.

Works with uvicorn's httptools protocol (the default with uvicorn[standard]) and its h11
one (`--http h11`), on uvloop or asyncio: see tests/http/test_slow_clients.py.
"""

import asyncio
import logging
import resource
from collections import Counter
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, cast
from weakref import WeakKeyDictionary

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from backend.config import Settings

logger = logging.getLogger("backend.connections")

# Descriptors a worker needs besides client connections: the listening socket, the event
# loop's own, stdio and log files, module files while importing, the JWKS client's sockets,
# Prometheus' multiprocess files. Plus, per database connection, up to three (SQLite holds
# the database, its -wal and its -shm file open; PostgreSQL one socket).
FILES_RESERVE = 64
FILES_PER_DB_CONNECTION = 3
# uvicorn's default listen backlog; lower when descriptors are scarce (below).
DEFAULT_BACKLOG = 2048
# Where descriptors are scarce, the listen backlog gets this share of them, and room for
# this many accept bursts of one backlog each stays free beyond the connection limit
# (see plan_limits).
BACKLOG_SHARE = 16
ACCEPT_BURSTS = 3
# Never fewer than this many connections, however low the open-file limit: a worker that
# serves a few is better than one that refuses to start.
MIN_CONNECTIONS = 16
UNLIMITED_FILES = 1 << 20
# The most one read hands a protocol (asyncio's and uvloop's stream buffers).
MAX_READ_BYTES = 256 * 1024
# At most one summary line per this many seconds; the first comes this soon after the
# first event, so one burst of events makes one line.
LOG_INTERVAL_SECONDS = 60.0
LOG_DELAY_SECONDS = 1.0
REQUEST_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
)
HEADERS_TOO_LARGE_RESPONSE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-length: 0\r\nconnection: close\r\n\r\n"
)

HttpImplementation = Literal["auto", "httptools", "h11"]
LoopImplementation = Literal["auto", "uvloop", "asyncio"]


@dataclass(frozen=True)
class ConnectionLimits:
    """Per worker. Picklable: uvicorn hands the protocol factory to spawned workers."""

    max_connections: int
    header_timeout: float
    max_header_bytes: int
    backlog: int
    open_files: int  # the soft RLIMIT_NOFILE they were sized for (for the start-up line)

    @property
    def h11_max_incomplete_event_size(self) -> int:
        """h11's own header limit, one read above ours: ours (431, counted in the summary)
        is met first, on h11 as on httptools; h11's (400, a log line each) stays a backstop."""
        return self.max_header_bytes + MAX_READ_BYTES


def raise_open_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (common practice for servers: the
    soft 1,024 is a default for interactive shells, not a budget) and return the soft
    limit now in force. Workers inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return UNLIMITED_FILES
    # macOS reports an infinite hard limit but refuses it (kern.maxfilesperproc).
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft
        return target
    return soft


def plan_limits(settings: Settings, open_files: int) -> ConnectionLimits:
    """Connections and listen backlog that fit in `open_files` descriptors.

    accept() takes what is queued in bursts (libuv until the queue is empty, asyncio up to
    `backlog` at a time) before a new connection can close an old one, and a closed one
    frees its descriptor only an iteration later: on asyncio, a burst's sockets are held
    for up to three loop iterations (accept, transport, connection_made), while the next
    bursts arrive. So room for three queues' worth stays free beyond the connection limit.
    Measured at 1,024 open files under an 8-thread flood of half-sent requests: with one
    burst of room and a quarter of the descriptors for the queue, asyncio still ran out
    (118 failed accept() calls); with three and a sixteenth, none, on asyncio and uvloop.
    A short queue only makes clients resend their SYN a second later."""
    db_connections = settings.db_pool_size + settings.db_max_overflow
    budget = open_files - FILES_RESERVE - FILES_PER_DB_CONNECTION * db_connections
    backlog = max(MIN_CONNECTIONS, min(DEFAULT_BACKLOG, budget // BACKLOG_SHARE))
    max_connections = max(
        MIN_CONNECTIONS,
        min(settings.http_max_connections, budget - ACCEPT_BURSTS * backlog),
    )
    return ConnectionLimits(
        max_connections=max_connections,
        header_timeout=settings.http_header_timeout_seconds,
        max_header_bytes=settings.http_max_header_bytes,
        backlog=backlog,
        open_files=open_files,
    )


def log_limits(settings: Settings, limits: ConnectionLimits) -> None:
    if limits.max_connections < settings.http_max_connections:
        logger.warning(
            "serving at most %d connections per worker, not HTTP_MAX_CONNECTIONS=%d: the "
            "open-file limit is %d (raise the hard limit, e.g. LimitNOFILE= or ulimit -Hn)",
            limits.max_connections,
            settings.http_max_connections,
            limits.open_files,
        )
    logger.info(
        "at most %d connections per worker, request headers within %g s, listen backlog %d, "
        "open-file limit %d",
        limits.max_connections,
        limits.header_timeout,
        limits.backlog,
        limits.open_files,
    )


def protocol_factory(http: HttpImplementation, limits: ConnectionLimits) -> type[asyncio.Protocol]:
    """What uvicorn's `http=` takes: it calls it with its config and server state, as it
    would call its own protocol class."""
    if http == "auto":
        try:
            import httptools  # noqa: F401  (as uvicorn's own "auto" decides)
        except ImportError:  # pragma: no cover
            http = "h11"
        else:
            http = "httptools"
    cls = LimitedHttpToolsProtocol if http == "httptools" else LimitedH11Protocol
    # A partial of a module-level class pickles; uvicorn only ever calls it.
    return cast("type[asyncio.Protocol]", partial(cls, limits=limits))


# --- the event loop and uvicorn's log: summary lines instead of one line per event ---

ACCEPT_FAILED = "socket.accept() out of system resource"


def _quiet_accept_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """asyncio (3.11) calls the exception handler for every accept() that fails with
    EMFILE, up to `backlog` times per readiness event, each with a traceback. Count them
    instead; anything else goes to the default handler."""
    if context.get("message") == ACCEPT_FAILED:
        _report(loop).add("not accepted for lack of file descriptors")
        return
    loop.default_exception_handler(context)


INVALID_REQUEST = "Invalid HTTP request received."  # uvicorn's words, both protocols


class _CountInvalidRequests(logging.Filter):
    """uvicorn logs a warning for every malformed request: a flood of garbage would be a
    flood of lines. Counted in the summary instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage() != INVALID_REQUEST:
            return True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return True
        _report(loop).add("closed after an invalid request")
        return False


def _quiet(loop: asyncio.AbstractEventLoop) -> asyncio.AbstractEventLoop:
    """Runs in each worker (uvicorn creates its loop there), before the app is loaded."""
    loop.set_exception_handler(_quiet_accept_errors)
    uvicorn_error = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _CountInvalidRequests) for f in uvicorn_error.filters):
        uvicorn_error.addFilter(_CountInvalidRequests())
    return loop


def asyncio_loop() -> asyncio.AbstractEventLoop:
    return _quiet(asyncio.SelectorEventLoop())


def uvloop_loop() -> asyncio.AbstractEventLoop:
    import uvloop  # (optional: uvicorn[standard] brings it on CPython/Unix)

    return _quiet(uvloop.new_event_loop())


def auto_loop() -> asyncio.AbstractEventLoop:
    try:
        return uvloop_loop()
    except ImportError:  # pragma: no cover
        return asyncio_loop()


def loop_factory(loop: LoopImplementation) -> str:
    """What uvicorn's `loop=` takes: an import string (spawned workers import it)."""
    return f"{__name__}:{loop}_loop"


# --- rate-limited summary ---


class _Report:
    """Counts events and logs them as one line, at most every LOG_INTERVAL_SECONDS."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.counts: Counter[str] = Counter()
        self.last_line = float("-inf")
        self.pending: asyncio.TimerHandle | None = None

    def add(self, event: str) -> None:
        self.counts[event] += 1
        if self.pending is None:
            when = max(self.loop.time() + LOG_DELAY_SECONDS, self.last_line + LOG_INTERVAL_SECONDS)
            self.pending = self.loop.call_at(when, self.flush)

    def flush(self) -> None:
        self.pending = None
        if not self.counts:
            return
        events = "; ".join(f"{event}: {count}" for event, count in self.counts.items())
        logger.warning("slow or excess clients, connections %s", events)
        self.counts.clear()
        self.last_line = self.loop.time()


# One uvicorn server, hence one loop, per worker process; a test may run several loops.
_reports: "WeakKeyDictionary[asyncio.AbstractEventLoop, _Report]" = WeakKeyDictionary()


def _report(loop: asyncio.AbstractEventLoop) -> _Report:
    report = _reports.get(loop)
    if report is None:
        report = _reports[loop] = _Report(loop)
    return report


# --- connections ---

EVICTED = "closed at the connection limit (the longest wait for request headers)"
REFUSED = "refused at the connection limit (all busy with requests)"
TIMED_OUT = "closed with request headers incomplete at the header timeout"
TOO_LARGE = "closed with request headers over the size limit"


class _Connections:
    """One worker's connections: how many are open, and which are waiting for a
    request's headers, oldest wait first (a dict keeps insertion order)."""

    def __init__(self, limits: ConnectionLimits, loop: asyncio.AbstractEventLoop) -> None:
        self.limits = limits
        self.loop = loop
        self.open = 0
        self.waiting: dict[_Guard, None] = {}


_servers: "WeakKeyDictionary[ServerState, _Connections]" = WeakKeyDictionary()


class _Guard:
    """The limits for one connection. The protocol subclasses below call it at the points
    uvicorn's protocols leave open: connection made and lost, data received (before and
    after parsing), response complete."""

    __slots__ = ("connections", "counted", "header_bytes", "timer", "transport")

    def __init__(self, connections: _Connections) -> None:
        self.connections = connections
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.counted = False  # in connections.open
        self.header_bytes = 0  # received while waiting for a request's headers

    def made(self, transport: asyncio.Transport) -> None:
        connections = self.connections
        self.transport = transport
        connections.open += 1
        self.counted = True
        if connections.open > connections.limits.max_connections:
            oldest = next(iter(connections.waiting), None)
            if oldest is None:
                self.close(REFUSED)
                return
            oldest.close(EVICTED)
        self.wait()
        self.start_timer()

    def lost(self) -> None:
        self.stop_waiting()
        if self.counted:
            self.counted = False
            self.connections.open -= 1

    def data(self, size: int) -> None:
        if self in self.connections.waiting:
            self.header_bytes += size

    def settle(self, in_request: bool) -> None:
        """After parsing or a response. A request in progress no longer waits for headers;
        a connection between requests starts waiting (uvicorn's keep-alive timer runs); one
        still waiting after bytes arrived has its header clock started, if not yet running
        (so a request that comes whole costs no timer)."""
        if in_request:
            self.stop_waiting()
        elif self not in self.connections.waiting:
            if self.counted:
                self.header_bytes = 0
                self.wait()
        elif self.header_bytes > self.connections.limits.max_header_bytes:
            # httptools has no limit of its own: 1.4 GB of header lines in 6 s went into
            # one worker's memory. (h11's, set one read higher, is a backstop.)
            self.close(TOO_LARGE, HEADERS_TOO_LARGE_RESPONSE)
        elif self.timer is None and self.header_bytes:
            self.start_timer()

    def wait(self) -> None:
        self.connections.waiting[self] = None

    def stop_waiting(self) -> None:
        self.connections.waiting.pop(self, None)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def start_timer(self) -> None:
        self.timer = self.connections.loop.call_later(
            self.connections.limits.header_timeout, self.timed_out
        )

    def timed_out(self) -> None:
        self.timer = None
        if self in self.connections.waiting:
            if self.header_bytes:
                self.close(TIMED_OUT, REQUEST_TIMEOUT_RESPONSE)
            else:
                self.close(None)  # an idle connection: closed quietly, like keep-alive

    def close(self, event: str | None, response: bytes = b"") -> None:
        self.lost()
        if event is not None:
            _report(self.connections.loop).add(event)
        transport = self.transport
        if transport is not None and not transport.is_closing():
            if response:
                transport.write(response)
            transport.close()


def _guard(
    server_state: ServerState, limits: ConnectionLimits, loop: asyncio.AbstractEventLoop
) -> _Guard:
    connections = _servers.get(server_state)
    if connections is None:
        connections = _servers[server_state] = _Connections(limits, loop)
    return _Guard(connections)


class _Limited:
    """What both HTTP stacks' protocols do on top of uvicorn's: each connection reports to
    its worker's _Connections (the header timer, the connection limit, the byte count).
    A mixin before the uvicorn protocol class, whose methods it extends."""

    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    cycle: Any

    def __init__(
        self,
        config: Any,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: ConnectionLimits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)  # type: ignore[call-arg]  # the uvicorn protocol's
        self._guard = _guard(server_state, limits, self.loop)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]  # the uvicorn protocol's
        self._guard.made(cast(asyncio.Transport, transport))  # a socket's: a full Transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._guard.lost()
        super().connection_lost(exc)  # type: ignore[misc]

    def data_received(self, data: bytes) -> None:
        self._guard.data(len(data))
        super().data_received(data)  # type: ignore[misc]
        self._guard.settle(self._in_request())

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing():
            self._guard.settle(self._in_request())

    def _in_request(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete


class LimitedHttpToolsProtocol(_Limited, HttpToolsProtocol):
    pass


class LimitedH11Protocol(_Limited, H11Protocol):
    pass
