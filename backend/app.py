"""create_app(): settings, database, routes, error handlers, spec serving, middleware."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from backend.clock import utcnow
from backend.config import Settings, load_settings
from backend.database.admission import Admission
from backend.database.engine import create_db_engine
from backend.database.units import Database
from backend.errors import ProblemError, ServiceUnavailable
from backend.http.middleware import BodySizeLimit
from backend.http.observability import RequestContext, configure_logging, metrics_response
from backend.http.problems import install_error_handlers
from backend.idempotency import store as idempotency_store
from backend.idempotency.requests import KeyedWrites
from backend.idempotency.store import Keys
from backend.identity.accounts import Accounts, Throttles
from backend.identity.passwords import Hasher
from backend.identity.tokens import TokenVerifier
from backend.mcp.server import CORS_REQUEST_HEADERS, CORS_RESPONSE_HEADERS, McpEndpoint
from backend.routes import accounts, health, tags, tasks
from backend.spec import Spec
from backend.tasks import feed
from backend.tasks.cursors import FeedCursors, ListCursors
from backend.tasks.quotas import Quotas

logger = logging.getLogger("backend.app")

# Swagger UI for /docs comes from the pinned fastapi-swagger package (its dist files only,
# not its patch_fastapi) and is served by the API itself under DOCS_ASSETS: no CDN, no
# external favicon, so the docs work offline and behind a firewall.
DOCS_ASSETS = "/docs/assets"
SWAGGER_UI_FILES = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"})


class SwaggerUIAssets(StaticFiles):
    """The package's Swagger UI files, and nothing else of the package (its .py files)."""

    def __init__(self) -> None:
        super().__init__(packages=[("fastapi_swagger", "resources")])

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path not in SWAGGER_UI_FILES:
            raise HTTPException(status_code=404)
        return await super().get_response(path, scope)


PURGE_INTERVAL_SECONDS = 300

# Deletes rows whose time is up; the number deleted.
Purge = Callable[[], Awaitable[int]]


class Purges:
    """What expires and is deleted every PURGE_INTERVAL_SECONDS, so rows that are never
    looked up again do not pile up: ended throttle windows and expired device tokens (the
    accounts), idempotency keys past their retention (the task writes), the changes feed's
    tombstones past theirs."""

    def __init__(self, purges: Mapping[str, Purge]) -> None:
        self._purges = dict(purges)

    async def run(self) -> dict[str, int]:
        """Every purge once; each that fails (the database is away) is skipped."""
        purged = {}
        for name, purge in self._purges.items():
            try:
                purged[name] = await purge()
            except ProblemError as error:  # the database is away: try again next time
                logger.warning("purge of %s skipped: %s", name, error.detail)
        return purged

    async def periodically(self) -> None:
        while True:
            await self.run()
            await asyncio.sleep(PURGE_INTERVAL_SECONDS)


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
    admission = Admission(
        settings.db_pool_size,
        max_in_flight=settings.user_max_in_flight,
        wait_seconds=settings.user_wait_seconds,
        heavy_slots=settings.heavy_slots,
        heavy_unit_seconds=settings.heavy_unit_ms / 1000,
    )
    db = Database(create_db_engine(settings), admission, settings.db_request_deadline_seconds)

    verifier = TokenVerifier(settings)
    hasher = Hasher(settings.password_hash_workers)
    own_accounts = Accounts(
        db, hasher, Throttles.from_settings(settings), device_ttl=settings.device_token_ttl
    )

    async def purge_feed() -> int:
        now, days = utcnow(), settings.feed_retention_days
        return await db.core_unit(lambda connection: feed.purge(connection, now, days))

    purges = Purges(
        {
            "accounts": own_accounts.purge_expired,
            "idempotency keys": lambda: db.core_unit(idempotency_store.purge_expired),
            "feed tombstones": purge_feed,
        }
    )

    # /mcp and its OAuth metadata: not operations of the contract (no OpenAPI routes).
    mcp = McpEndpoint(spec, settings, verifier)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await _check_database(db)
        purger = asyncio.create_task(purges.periodically())
        async with mcp.running():  # the MCP transport's task group
            yield
        purger.cancel()
        hasher.close()
        await verifier.aclose()
        db.dispose()

    document = spec.document
    info = document["info"]
    # FastAPI's generated schema is never the contract: docs and /openapi.json serve the spec.
    app = FastAPI(
        title=info["title"],
        version=info["version"],
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.openapi = lambda: document  # type: ignore[method-assign]  # serve the contract as is
    app.state.settings = settings
    app.state.db = db
    app.state.token_verifier = verifier
    app.state.accounts = own_accounts
    app.state.purges = purges
    app.state.quotas = Quotas(settings.max_tasks_per_user, settings.max_tags_per_user)
    app.state.writes = KeyedWrites(
        db,
        Keys(
            ttl=timedelta(seconds=settings.idempotency_key_ttl_seconds),
            max_per_user=settings.idempotency_max_keys_per_user,
        ),
    )
    secret = settings.better_auth_secret.get_secret_value().encode()
    app.state.list_cursors = ListCursors(secret)
    app.state.feed_cursors = FeedCursors(secret)

    spec_json = json.dumps(document).encode()

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi_json() -> Response:
        return Response(spec_json, media_type="application/json")

    @app.get("/openapi.yaml", include_in_schema=False)
    async def openapi_yaml() -> Response:
        return Response(spec.raw, media_type="application/yaml")

    app.mount(DOCS_ASSETS, SwaggerUIAssets(), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{info['title']} — docs",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
            # No badge from validator.swagger.io (Swagger UI's default sends the spec there).
            swagger_ui_parameters={"validatorUrl": None},
        )

    if settings.metrics_enabled:
        app.add_api_route("/metrics", metrics_response, methods=["GET"], include_in_schema=False)
    app.include_router(health.router)
    app.include_router(tasks.router)
    app.include_router(tags.router)
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
    app.add_middleware(RequestContext, engine=db.engine)  # outermost: sees every answer
    return app
