"""/mcp over HTTP: 401 with the RFC 9728 challenge and metadata, Origin and CORS for
browser clients, the size of a message; and a balancer without affinity in front of two
servers."""

import itertools
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import pytest
from fastapi.testclient import TestClient
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from backend.app import create_app
from tests.databases import fresh_database
from tests.helpers import assert_problem, bearer, make_settings, token_for
from tests.identity.jwks_support import closed_port_url, ed_key, jwks_token
from tests.live_server import live_server
from tests.mcp.helpers import LiveMcp, body_of, mcp_client, run

LIST_TOOLS = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
JSON_RPC = {"Accept": "application/json, text/event-stream"}


def test_no_token_is_401_naming_the_resource_metadata(live_mcp: LiveMcp) -> None:
    metadata_url = f"{live_mcp.url}/.well-known/oauth-protected-resource/mcp"
    answer = httpx.post(f"{live_mcp.url}/mcp", json=LIST_TOOLS, headers=JSON_RPC)
    assert_problem(answer, 401)
    assert answer.headers["www-authenticate"] == (
        f'Bearer realm="tasks", resource_metadata="{metadata_url}"'
    )
    forged = token_for("alice", key="not-the-server-secret-" + secrets.token_hex(16))
    rejected = httpx.post(
        f"{live_mcp.url}/mcp", json=LIST_TOOLS, headers={**JSON_RPC, **bearer(forged)}
    )
    assert_problem(rejected, 401)
    challenge = rejected.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="tasks", error="invalid_token"')
    assert challenge.endswith(f', resource_metadata="{metadata_url}"')

    metadata = httpx.get(metadata_url)
    assert metadata.status_code == 200
    # No JWT_ISSUER on this server: no authorization server to name.
    assert metadata.json() == {
        "resource": f"{live_mcp.url}/mcp",
        "bearer_methods_supported": ["header"],
        "resource_name": "Task API",
        "resource_documentation": f"{live_mcp.url}/docs",
    }
    root = httpx.get(f"{live_mcp.url}/.well-known/oauth-protected-resource").json()
    assert root["resource"] == live_mcp.url  # RFC 9728 §3.3: the URL it was fetched for

    async def without_token() -> None:
        async with mcp_client(live_mcp.url, None) as mcp:
            await mcp.list_tools()

    # The SDK's client gets no tools (it reports the 401 as a failed request).
    with pytest.raises(BaseExceptionGroup) as raised:  # out of the SDK's task groups
        run(without_token())
    assert _leaves(raised.value) == ["MCPError: Server returned an error response"]


def _leaves(error: BaseException) -> list[str]:
    if isinstance(error, BaseExceptionGroup):
        return [text for inner in error.exceptions for text in _leaves(inner)]
    return [f"{type(error).__name__}: {error}"]


@pytest.fixture
def configured(database_url: str) -> Iterator[TestClient]:
    settings = make_settings(
        database_url,
        jwt_issuer="https://auth.example.com",
        public_url="https://tasks.example.com",
        cors_origins=["https://app.example.com"],
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def test_public_url_and_issuer_make_the_metadata(configured: TestClient) -> None:
    answer = configured.post("/mcp", json=LIST_TOOLS, headers=JSON_RPC)
    assert_problem(answer, 401)
    assert answer.headers["www-authenticate"].endswith(
        'resource_metadata="https://tasks.example.com/.well-known/oauth-protected-resource/mcp"'
    )
    metadata = configured.get("/.well-known/oauth-protected-resource/mcp").json()
    assert metadata["resource"] == "https://tasks.example.com/mcp"
    assert metadata["authorization_servers"] == ["https://auth.example.com"]


def test_browsers_on_allowed_origins_only(configured: TestClient) -> None:
    preflight = configured.options(
        "/mcp",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": (
                "authorization, content-type, mcp-protocol-version, mcp-session-id, "
                "last-event-id, mcp-method, mcp-name"
            ),
        },
    )
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"

    answer = configured.post(
        "/mcp", json=LIST_TOOLS, headers={**JSON_RPC, "Origin": "https://app.example.com"}
    )
    assert answer.status_code == 401  # the origin is fine; the token is missing
    exposed = {
        h.strip().lower() for h in answer.headers["access-control-expose-headers"].split(",")
    }
    assert {"www-authenticate", "mcp-session-id", "mcp-protocol-version"} <= exposed

    # Another origin: refused before the token is even looked at (MCP's Origin check).
    token = token_for("alice")
    foreign = configured.post(
        "/mcp",
        json=LIST_TOOLS,
        headers={**JSON_RPC, **bearer(token), "Origin": "https://evil.example"},
    )
    assert_problem(foreign, 403)


def test_keys_out_of_reach_are_503_as_for_the_api(database_url: str) -> None:
    """An EdDSA token while the auth server's JWKS cannot be fetched: the API's 503 with
    Retry-After, not a 401 that would make a client throw a good token away."""
    settings = make_settings(database_url, jwt_jwks_url=closed_port_url())
    token = jwks_token(ed_key("better-auth-key"))
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        answer = client.post("/mcp", json=LIST_TOOLS, headers={**JSON_RPC, **bearer(token)})
    body = assert_problem(answer, 503)
    assert "JWKS" in body["detail"]
    assert int(answer.headers["retry-after"]) >= 1


def test_a_message_too_large_even_for_mcp_is_413(live_mcp: LiveMcp) -> None:
    huge = {**LIST_TOOLS, "params": {"padding": "x" * (300 * 1024)}}
    answer = httpx.post(
        f"{live_mcp.url}/mcp", json=huge, headers={**JSON_RPC, **bearer(live_mcp.token("u"))}
    )
    assert_problem(answer, 413)


class RoundRobin(httpx2.AsyncBaseTransport):
    """A balancer without affinity: each request to the next server in turn."""

    def __init__(self, ports: list[int]) -> None:
        self._ports = itertools.cycle(ports)
        self._inner = httpx2.AsyncHTTPTransport()
        self.served: list[tuple[int, str]] = []  # (port, JSON-RPC method or "")

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        port = next(self._ports)
        request.url = request.url.copy_with(port=port)
        self.served.append((port, request.headers.get("mcp-method", "")))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def test_any_server_answers_any_request_of_a_session() -> None:
    """Stateless: one client's requests spread over two servers on one database work as
    if one server answered them all."""
    with (
        fresh_database("tasks_mcp_balancer") as url,
        live_server(url) as first,
        live_server(url, BETTER_AUTH_SECRET=first.env["BETTER_AUTH_SECRET"]) as second,
    ):
        balancer = RoundRobin([first.port, second.port])
        token = first.token("ada")

        async def scenario() -> list[dict[str, Any]]:
            async with (
                httpx2.AsyncClient(headers=bearer(token), transport=balancer) as http,
                Client(streamable_http_client(f"{first.url}/mcp", http_client=http)) as mcp,
            ):
                created = [
                    body_of(await mcp.call_tool("add_task", {"title": f"Task {n}"}))
                    for n in range(4)
                ]
                for task in created:
                    body_of(await mcp.call_tool("complete_task", {"task_id": task["id"]}))
                return created

        created = run(scenario())
        assert {port for port, _ in balancer.served} == {first.port, second.port}
        with httpx.Client(base_url=second.url, headers=bearer(token)) as rest:
            page = rest.get("/api/ada/tasks", params={"status": "completed"}).json()
        assert {t["id"] for t in page["items"]} == {t["id"] for t in created}
