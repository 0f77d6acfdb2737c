"""The contract as served (/openapi.json, /openapi.yaml: openapi.yaml itself, never FastAPI's
generated schema) and Swagger UI at /docs.

Swagger UI's files come from the pinned fastapi-swagger package (its dist files only, not
its patch_fastapi) and are served by the API itself under DOCS_ASSETS: no CDN, no external
favicon, so the docs work offline and behind a firewall."""

import json

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from backend.spec import Spec

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


def serve_contract_and_docs(app: FastAPI, spec: Spec) -> None:
    document = spec.document
    title = document["info"]["title"]
    app.openapi = lambda: document  # type: ignore[method-assign]  # serve the contract as is
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
            title=f"{title} — docs",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
            # No badge from validator.swagger.io (Swagger UI's default sends the spec there).
            swagger_ui_parameters={"validatorUrl": None},
        )
