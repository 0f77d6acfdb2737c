"""Request ids, one structured log line per request, and Prometheus metrics.

Pure ASGI (no BaseHTTPMiddleware). The log line carries the route template, never the raw
path, and never a token, password or body.
"""

import logging
import os
import re
import sys
import time
import uuid
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
_WELL_FORMED_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
access_log = logging.getLogger("backend.access")

# Multiprocess mode (several workers) when PROMETHEUS_MULTIPROC_DIR is set, as
# prometheus-client requires; the gauge then sums the workers' values.
_MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests by route template and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
POOL_IN_USE = Gauge(
    "db_pool_connections_in_use",
    "Database connections checked out of the pool",
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge("db_pool_size", "Connections the pool keeps open", multiprocess_mode="livemax")


# The request being served, for every log line written while serving it (uvicorn's too).
REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")
# uvicorn's loggers: their lines go through the same handler (JSON with LOG_FORMAT=json),
# except its access log: backend.access writes one line per request already.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error")


class _WithRequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


def configure_logging(level: str, log_format: str) -> None:
    """One handler on the root logger, every line with the request id; uvicorn's loggers
    hand their lines to it instead of their own (so JSON is JSON throughout). Like
    logging.basicConfig, left alone where a host (pytest, a custom uvicorn --log-config)
    already installed root handlers."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_WithRequestId())
    if log_format == "json":
        fields = "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s"
        handler.setFormatter(JsonFormatter(fields))
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.handlers.clear()
    uvicorn_access.propagate = False


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _WELL_FORMED_ID.match(candidate):
                return candidate
            break
    return uuid.uuid4().hex


class RequestContext:
    """X-Request-ID on every response (the client's when well-formed), one log line and
    the metrics for every request."""

    def __init__(self, app: ASGIApp, engine: Engine | None = None) -> None:
        self.app = app
        self.pool: Any = engine.pool if engine is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        context = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500  # if the app fails before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, request_id, status, time.perf_counter() - started)
            if self.pool is not None and hasattr(self.pool, "checkedout"):  # not SQLite's
                POOL_IN_USE.set(self.pool.checkedout())
                POOL_SIZE.set(self.pool.size())
            REQUEST_ID.reset(context)

    @staticmethod
    def _record(scope: Scope, request_id: str, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        method = scope["method"]
        counted, timed = _metrics(method, route, status)
        counted.inc()
        timed.observe(seconds)
        if not access_log.isEnabledFor(logging.INFO):
            return
        fields: dict[str, Any] = {
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "request_id": request_id,
        }
        user_id = scope.get("state", {}).get("user_id")
        if user_id is not None:
            fields["user_id"] = user_id
        access_log.info(
            "%s %s %s %.1fms", method, route, status, fields["duration_ms"], extra=fields
        )


@lru_cache(maxsize=1024)  # bounded: route templates, methods and statuses, no raw paths
def _metrics(method: str, route: str, status: int) -> tuple[Counter, Histogram]:
    """The labelled children of the request metrics (labels() looks them up under a lock)."""
    return REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route)


def metrics_response(_request: Request) -> Response:
    if _MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped in prometheus-client
        body = generate_latest(registry)
    else:
        body = generate_latest()
    return Response(body, media_type=CONTENT_TYPE_LATEST)
