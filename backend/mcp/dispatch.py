"""A tool call's request, run in-process through the whole app, exactly as an HTTP request
from outside would run: the same routes, dependencies and error handlers, so a tool is the
route code (authentication and revocation, validation, owner scope, ETags, quotas, the
per-user share, idempotency, problem details) and never a second implementation of it.
No socket and no HTTP client: the caller's token is handed to the app in memory and never
leaves the process.

It passes the outer middleware too, on purpose:
* RequestContext: the call gets its own access-log line and metrics under its route
  template (POST /api/{user_id}/tasks), with the MCP request's X-Request-ID, so the /mcp
  line and the route's line correlate;
* BodySizeLimit: the same 64 KiB per body as over HTTP;
* CORS: the in-process request has no Origin and passes untouched; a browser's /mcp
  request was checked when it came in.
"""

from urllib.parse import quote, urlencode

import anyio
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Scope

from backend.idempotency.requests import REPLAYED
from backend.mcp.calls import ApiAnswer, ApiRequest

_PATH_SAFE = "/!$&'()*+,;=:@-._~"
_INTERNAL_ERROR = (
    b'{"type":"about:blank","title":"Internal Server Error","status":500,'
    b'"detail":"An unexpected error occurred."}'
)


def _scope(outer: Request, request: ApiRequest) -> Scope:
    """The scope uvicorn would build for `request` from the /mcp request's connection:
    its client address, host and token, and its request id."""
    headers: list[tuple[bytes, bytes]] = [(b"accept", b"application/json")]
    for name in ("host", "authorization"):
        value = outer.headers.get(name)
        if value is not None:
            headers.append((name.encode(), value.encode("latin-1")))
    request_id = outer.scope.get("state", {}).get("request_id")
    if request_id is not None:
        headers.append((b"x-request-id", request_id.encode()))
    for name, value in request.headers:
        headers.append((name.lower().encode(), value.encode("utf-8", "backslashreplace")))
    if request.body is not None:
        headers.append((b"content-type", b"application/json"))
        headers.append((b"content-length", str(len(request.body)).encode()))
    raw_path = quote(request.path, safe=_PATH_SAFE).encode("ascii")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": outer.scope.get("scheme", "http"),
        "path": request.path,
        "raw_path": raw_path,
        "query_string": urlencode(request.query, quote_via=quote).encode("ascii"),
        "root_path": "",
        "headers": headers,
        "client": outer.scope.get("client"),
        "server": outer.scope.get("server"),
        "state": {},
    }


async def call(app: ASGIApp, outer: Request, request: ApiRequest) -> ApiAnswer:
    """The app's answer to `request`, made on behalf of the /mcp request `outer`."""
    body = request.body or b""
    sent = False
    done = anyio.Event()
    status = 0
    response_headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()  # as a client that stays until the answer is complete
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status, response_headers
        if message["type"] == "http.response.start":
            status = message["status"]
            response_headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    try:
        await app(_scope(outer, request), receive, send)
    except Exception:
        # Starlette re-raises an unexpected error after its handler logged it and answered
        # 500 (problem details): that answer is the tool's. Without one, say the same.
        if status == 0:
            return ApiAnswer(500, "application/problem+json", _INTERNAL_ERROR, replayed=False)
    finally:
        done.set()
    found = {name.decode("latin-1").lower(): value for name, value in response_headers}
    return ApiAnswer(
        status=status,
        content_type=found.get("content-type", b"").decode("latin-1"),
        body=b"".join(chunks),
        replayed=found.get(REPLAYED.lower()) == b"true",
    )
