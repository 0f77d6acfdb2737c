"""create_app(): the composition root. Settings and services, the routes of the contract,
the contract and its docs, MCP, error handlers and middleware, in one place."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from backend.config import Settings, load_settings
from backend.database.units import Database
from backend.errors import ServiceUnavailable
from backend.http.docs import serve_contract_and_docs
from backend.http.middleware import BodySizeLimit
from backend.http.observability import RequestContext, configure_logging, metrics_response
from backend.http.problems import install_error_handlers
from backend.mcp.server import CORS_REQUEST_HEADERS, CORS_RESPONSE_HEADERS, McpEndpoint
from backend.routes import accounts, health, tags, tasks
from backend.services import Services
from backend.spec import Spec

logger = logging.getLogger("backend.app")


async def _check_database(db: Database) -> None:
    """One line at start-up when the database cannot be used (a pooler's refusal named as
    such): the process still starts, and readiness answers 503 until it can."""
    try:
        await db.ping()
    except ServiceUnavailable as error:
        logger.warning("start-up: %s; /api/health/ready answers 503 until it works", error.reason)


def create_app(settings: Settings | None = None, spec: Spec | None = None) -> FastAPI:
    settings = settings or load_settings()
    spec = spec or Spec()
    configure_logging(settings.log_level, settings.log_format)
    services = Services.from_settings(settings)
    # /mcp and its OAuth metadata: not operations of the contract (no OpenAPI routes).
    mcp = McpEndpoint(spec, settings, services.verifier)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await _check_database(services.db)
        purger = asyncio.create_task(services.purges.periodically())
        async with mcp.running():  # the MCP transport's task group
            yield
        purger.cancel()
        await services.close()

    info = spec.document["info"]
    # FastAPI's generated schema is never the contract: docs and /openapi.json serve the spec.
    app = FastAPI(
        title=info["title"],
        version=info["version"],
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        # FastAPI's native OpenTelemetry asks the global providers on every request whether
        # it is on (a fortieth of a list request's CPU); the API's own metrics and log lines
        # (http/observability.py) are its telemetry.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.services = services
    serve_contract_and_docs(app, spec)
    if settings.metrics_enabled:
        app.add_api_route("/metrics", metrics_response, methods=["GET"], include_in_schema=False)
    # The task operations first (the router tries routes in order; they are most of the
    # traffic): typed endpoints on plain routes (backend.http.endpoints).
    app.router.routes[:0] = [*tasks.endpoints.routes, *tags.endpoints.routes]
    app.include_router(health.router)
    app.include_router(accounts.router)
    app.router.routes.extend(mcp.routes)
    install_error_handlers(app, spec)

    app.add_middleware(BodySizeLimit, paths=mcp.body_limits)
    if settings.cors_origins:
        # The whole contract from a browser: every method and request header it defines,
        # and every response header it documents readable by scripts (ETag above all);
        # and the MCP transport's headers, for MCP clients in a browser.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=spec.methods(),
            allow_headers=[
                "Authorization",
                "Content-Type",
                "X-Request-ID",
                *spec.request_headers(),
                *CORS_REQUEST_HEADERS,
            ],
            expose_headers=[*spec.response_headers(), "X-Request-ID", *CORS_RESPONSE_HEADERS],
            max_age=600,
        )
        logger.info("CORS: browsers on %s may call the API", ", ".join(settings.cors_origins))
    app.add_middleware(RequestContext, engine=services.db.engine)  # outermost: sees every answer
    return app
