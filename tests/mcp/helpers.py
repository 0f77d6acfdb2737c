"""MCP clients for the tests: the official SDK's Streamable HTTP client against a live
server, with a user's bearer token, and the REST calls that check what a tool did."""

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult
from sqlalchemy import Engine

from tests.helpers import bearer
from tests.live_server import LiveServer

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """An async scenario, from a plain test (the suite has no async test plugin)."""
    return asyncio.run(coroutine)


@asynccontextmanager
async def mcp_client(url: str, token: str | None, **http: Any) -> AsyncIterator[Client]:
    """The SDK's client on `url`/mcp; `http`: more httpx2.AsyncClient settings."""
    headers = {} if token is None else bearer(token)
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30, **http) as transport,
        Client(streamable_http_client(f"{url}/mcp", http_client=transport)) as client,
    ):
        yield client


@dataclass(frozen=True)
class LiveMcp:
    """A live server for the MCP tests, its database, and REST calls as any user."""

    server: LiveServer
    engine: Engine

    @property
    def url(self) -> str:
        return self.server.url

    def token(self, user: str) -> str:
        return self.server.token(user)

    def rest(self, user: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=bearer(self.token(user)), timeout=30)

    def client(self, user: str) -> Any:
        return mcp_client(self.url, self.token(user))


def problem_of(result: CallToolResult) -> dict[str, Any]:
    """The problem details a tool error carries (after checking that it is one)."""
    assert result.is_error, result
    problem = result.structured_content
    assert isinstance(problem, dict), result
    assert isinstance(problem["status"], int)
    assert problem["detail"]
    return problem


def body_of(result: CallToolResult) -> dict[str, Any]:
    """The structured result of a successful tool call."""
    assert not result.is_error, result.content
    body = result.structured_content
    assert isinstance(body, dict)
    return body
