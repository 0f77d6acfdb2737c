"""create_app(): settings, database, routes, error handlers, spec serving, middleware."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse, Response

from backend.config import Settings, load_settings
from backend.db import Database, create_db_engine
from backend.http.middleware import BodySizeLimit
from backend.http.observability import RequestContext, configure_logging, metrics_response
from backend.http.problems import install_error_handlers
from backend.identity.tokens import TokenVerifier
from backend.routes import accounts, health, tags, tasks
from backend.spec import Spec


def create_app(settings: Settings | None = None, spec: Spec | None = None) -> FastAPI:
    settings = settings or load_settings()
    spec = spec or Spec()
    configure_logging(settings.log_level, settings.log_format)
    db = Database(
        create_db_engine(settings), settings.db_request_deadline_seconds, settings.db_pool_size
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
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
    app.state.token_verifier = TokenVerifier(settings)

    spec_json = json.dumps(document).encode()

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi_json() -> Response:
        return Response(spec_json, media_type="application/json")

    @app.get("/openapi.yaml", include_in_schema=False)
    async def openapi_yaml() -> Response:
        return Response(spec.raw, media_type="application/yaml")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{info['title']} — docs")

    if settings.metrics_enabled:
        app.add_api_route("/metrics", metrics_response, methods=["GET"], include_in_schema=False)
    app.include_router(health.router)
    app.include_router(tasks.router)
    app.include_router(tags.router)
    app.include_router(accounts.router)
    install_error_handlers(app, spec)

    app.add_middleware(BodySizeLimit)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Location", "Retry-After", "WWW-Authenticate", "X-Request-ID"],
            max_age=600,
        )
    app.add_middleware(RequestContext, engine=db.engine)  # outermost: sees every answer
    return app
