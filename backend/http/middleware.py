"""Pure ASGI middleware (BaseHTTPMiddleware would cost a large share of throughput)."""

from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.errors import ContentTooLarge
from backend.http.problems import response_for

MAX_BODY_BYTES = 64 * 1024


class BodySizeLimit:
    """413 for bodies over `limit` bytes (or the limit `paths` sets for a path), without
    reading them whole: at once when Content-Length says so, otherwise as soon as the
    streamed body crosses the limit."""

    def __init__(
        self, app: ASGIApp, limit: int = MAX_BODY_BYTES, paths: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.limit = limit
        self.paths = dict(paths or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.paths.get(scope["path"], self.limit)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            error = ContentTooLarge(limit)
            error.headers["Connection"] = "close"
            await response_for(error, scope["path"])(scope, receive, send)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise ContentTooLarge(limit)  # handled like any problem → 413
            return message

        await self.app(scope, limited_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server rejects a malformed Content-Length itself
    return None
