"""What frontend teams meet first: /docs (Swagger UI, served by the API itself, no CDN) and the
rules of the contract that keep Swagger UI's "Try it out" and generated clients usable.
tests/browser/ checks the same in a real Chromium (`make browser-test`)."""

import re
from collections.abc import Iterator
from typing import Any

from fastapi.testclient import TestClient

from backend.spec import Spec

ASSETS = {
    "/docs/assets/swagger-ui-bundle.js": "text/javascript",
    "/docs/assets/swagger-ui.css": "text/css",
    "/docs/assets/favicon-32x32.png": "image/png",
}


def test_docs_load_swagger_ui_from_the_api_only(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    urls = set(re.findall(r'(?:src|href)="([^"]*)"', page.text))
    assert urls == set(ASSETS)  # the JS, the CSS and the favicon, nothing from elsewhere
    assert "url: '/openapi.json'" in page.text
    assert '"validatorUrl": null' in page.text  # no badge from validator.swagger.io
    for url, media_type in ASSETS.items():
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].startswith(media_type)
        assert asset.headers["etag"]
    bundle = client.get("/docs/assets/swagger-ui-bundle.js").text
    assert re.search(r'PACKAGE_VERSION:"5\.\d+\.\d+"', bundle)  # Swagger UI 5 (OpenAPI 3.1)


def test_docs_assets_are_only_swagger_ui_files(client: TestClient) -> None:
    for path in ("__init__.py", "../__init__.py", "missing.js"):
        answer = client.get(f"/docs/assets/{path}")
        assert answer.status_code == 404, path
        assert answer.headers["content-type"] == "application/problem+json"


def _parameters(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, parameter in document["components"]["parameters"].items():
        yield f"#/components/parameters/{name}", parameter
    for path, item in document["paths"].items():
        for key, node in item.items():
            operations = [node] if isinstance(node, dict) else []
            for operation in operations:
                for parameter in operation.get("parameters", []):
                    if "$ref" not in parameter:
                        yield f"{path} {key} {parameter['name']}", parameter
        for parameter in item.get("parameters", []):
            if "$ref" not in parameter:
                yield f"{path} {parameter['name']}", parameter


def test_optional_parameters_keep_examples_in_their_schema() -> None:
    """Swagger UI's "Try it out" fills a parameter's `example` (or `examples`) in and sends it:
    every trial listTasks would be filtered by all of them, every trial change carry a stale
    If-Match (412). Optional parameters give theirs as schema `examples`, which it does not
    send."""
    prefilled = [
        where
        for where, parameter in _parameters(Spec().document)
        if not parameter.get("required") and ("example" in parameter or "examples" in parameter)
    ]
    assert prefilled == []


def _request_schemas(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema a request body can reach, following `$ref`s, with where it is."""
    seen: set[str] = set()
    pending: list[tuple[str, Any]] = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "requestBody" in operation:
                for media_type, media in operation["requestBody"]["content"].items():
                    pending.append((f"{method} {path} {media_type}", media["schema"]))
    while pending:
        where, schema = pending.pop()
        if not isinstance(schema, dict):
            continue
        if "$ref" in schema:
            ref = schema["$ref"]
            if ref not in seen:
                seen.add(ref)
                name = ref.removeprefix("#/components/schemas/")
                pending.append((ref, document["components"]["schemas"][name]))
            continue
        yield where, schema
        for name, subschema in schema.get("properties", {}).items():
            pending.append((f"{where}/properties/{name}", subschema))
        for keyword in ("oneOf", "anyOf", "allOf", "prefixItems"):
            pending.extend((f"{where}/{keyword}", sub) for sub in schema.get(keyword, []))
        for keyword in ("items", "additionalProperties"):
            pending.append((f"{where}/{keyword}", schema.get(keyword)))


def test_request_properties_have_no_default_keyword() -> None:
    """openapi-typescript (default options) types a property with a `default` as required,
    in requests too: a client could not leave it out. Request schemas say their defaults in
    words (the server applies them); response schemas list what is always there as required."""
    defaults = [
        f"{where}/properties/{name}"
        for where, schema in _request_schemas(Spec().document)
        for name, subschema in schema.get("properties", {}).items()
        if isinstance(subschema, dict) and "default" in subschema
    ]
    assert defaults == []
