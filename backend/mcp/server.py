"""/mcp: the official MCP SDK's server and Streamable HTTP transport, serving the tools of
tools.py, wired into create_app.

Stateless: no MCP session, every POST stands alone, so any worker or replica behind a
balancer without affinity can answer any request (the protocol's state is the token and
the request). JSON answers rather than an SSE stream: a tool call is one request and one
answer.

The SDK's low-level `Server`, not `MCPServer`'s decorators: these tools are data generated
from the contract, each with the contract's schemas, not Python functions whose signatures
would be a second description of the same operations.
"""

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import mcp_types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http import LAST_EVENT_ID_HEADER, MCP_SESSION_ID_HEADER
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import MCP_METHOD_HEADER, MCP_NAME_HEADER, MCP_PROTOCOL_VERSION_HEADER
from starlette.requests import Request
from starlette.routing import Match, Route
from starlette.types import Scope

from backend.config import Settings
from backend.errors import InvalidInput
from backend.http.middleware import MAX_BODY_BYTES
from backend.http.problems import response_for
from backend.identity.tokens import TokenVerifier
from backend.mcp import dispatch
from backend.mcp.auth import ENDPOINT, WELL_KNOWN, BearerGate, Resource
from backend.mcp.calls import PROBLEM_JSON, ApiAnswer, request_for, result_for
from backend.mcp.tools import Tool, tools_from_spec
from backend.spec import Spec

# What a browser-based MCP client sends and reads beyond the API's own headers (CORS).
CORS_REQUEST_HEADERS = (
    MCP_SESSION_ID_HEADER,
    MCP_PROTOCOL_VERSION_HEADER,
    LAST_EVENT_ID_HEADER,
    MCP_METHOD_HEADER,
    MCP_NAME_HEADER,
)
CORS_RESPONSE_HEADERS = (MCP_SESSION_ID_HEADER, MCP_PROTOCOL_VERSION_HEADER)

# A JSON-RPC message to /mcp may be larger than the API's bodies: arguments too large for
# an operation then reach it and come back as its 413, a tool error, not a transport error.
MAX_MESSAGE_BYTES = 4 * MAX_BODY_BYTES

INSTRUCTIONS = (
    "The user's todo list. Every tool acts for the user the bearer token names: add_task "
    "creates a task and returns its id; list_tasks, get_task, list_tags and get_task_stats "
    "read; update_task, complete_task and delete_task change a task by its id. A failed "
    "call is a tool error whose problem details say what to fix (errors[] names each bad "
    "argument)."
)


class _Route(Route):
    """A Starlette route that puts itself on the scope, as FastAPI's routes do: the access
    log and the metrics name a request by its route's path (otherwise "unmatched")."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


class TaskTools:
    """The SDK's Server, answering tools/list and tools/call from the generated tools."""

    def __init__(self, tools: Sequence[Tool], name: str, version: str) -> None:
        self.tools = tuple(tools)
        self._by_name = {tool.name: tool for tool in self.tools}
        self._listed = mcp_types.ListToolsResult(tools=[tool.as_mcp() for tool in self.tools])
        self.server: Server[Any] = Server(
            name,
            version=version,
            instructions=INSTRUCTIONS,
            # For the 2026-07-28 transport's header checks: without it the SDK lists the
            # tools on every call to find one schema.
            get_tool_input_schema=self._input_schema,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )

    def _input_schema(self, name: str) -> dict[str, Any] | None:
        tool = self._by_name.get(name)
        return None if tool is None else tool.input_schema

    async def _list_tools(
        self, _ctx: ServerRequestContext[Any], _params: mcp_types.PaginatedRequestParams | None
    ) -> mcp_types.ListToolsResult:
        return self._listed

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: mcp_types.CallToolRequestParams
    ) -> mcp_types.CallToolResult:
        tool = self._by_name.get(params.name)
        if tool is None:  # the protocol's error for an unknown tool (not a tool error)
            raise MCPError(mcp_types.INVALID_PARAMS, f"Unknown tool: {params.name}")
        outer = ctx.request
        if not isinstance(outer, Request):
            raise MCPError(mcp_types.INTERNAL_ERROR, "tools are served over HTTP only")
        subject: str = outer.scope["state"]["user_id"]  # BearerGate put it there
        try:
            request = request_for(tool, dict(params.arguments or {}), subject)
        except InvalidInput as error:
            return result_for(tool, _problem(error))
        # Through the app that received the /mcp request, as a request of its own.
        answer = await dispatch.call(outer.app, outer, request)
        return result_for(tool, answer, request.path_values)


def _problem(error: InvalidInput) -> ApiAnswer:
    """The problem details the API would answer, rendered where the API renders them."""
    rendered = response_for(error, ENDPOINT)
    return ApiAnswer(error.status, PROBLEM_JSON, bytes(rendered.body), replayed=False)


class McpEndpoint:
    """/mcp and its OAuth metadata, as routes for the app, and the transport's lifetime
    (`running()`, entered by create_app's lifespan: the SDK's task group lives there)."""

    def __init__(self, spec: Spec, settings: Settings, verifier: TokenVerifier) -> None:
        info = spec.document["info"]
        self.tools = TaskTools(tools_from_spec(spec), info["title"], info["version"])
        self._manager = StreamableHTTPSessionManager(
            app=self.tools.server,
            json_response=True,
            stateless=True,
            # BearerGate checks Origin against CORS_ORIGINS. The SDK's check would also pin
            # Host to a list of names (localhost by default); what a DNS-rebound page lacks
            # here is the bearer token, which no browser sends on its own (no cookies).
            security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
            max_request_body_size=MAX_MESSAGE_BYTES,
        )
        self.body_limits = {ENDPOINT: MAX_MESSAGE_BYTES}  # for the app's BodySizeLimit
        resource = Resource(settings, info["title"])
        transport = StreamableHTTPASGIApp(self._manager)
        gate = BearerGate(transport, verifier, resource, settings.cors_origins)
        self.routes = [
            _Route(ENDPOINT, endpoint=gate),
            _Route(WELL_KNOWN, endpoint=resource.metadata, methods=["GET"]),
            _Route(WELL_KNOWN + ENDPOINT, endpoint=resource.metadata, methods=["GET"]),
        ]

    def running(self) -> AbstractAsyncContextManager[None]:
        return self._manager.run()
