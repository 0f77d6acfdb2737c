"""Who may use /mcp: whoever has a bearer token the API accepts (backend.identity.tokens:
HS256 and the JWKS algorithms, the same verifier), from a browser only on an origin the
API allows (CORS_ORIGINS; the MCP transport spec asks servers to check Origin).

Without a valid token the answer is the API's 401 problem, its challenge naming the
OAuth 2.0 Protected Resource Metadata (RFC 9728, `resource_metadata="…"`), which says what
the resource is and, with JWT_ISSUER set, which authorization server issues its tokens.
A JWKS that cannot be fetched is the API's 503, as for any request.

The token is verified here for the transport's sake (an MCP client needs its 401 before it
calls anything); every tool call then runs a route, which verifies it again (cached, so
cheap) and refuses a revoked token or a deleted account in its unit of work.
"""

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from backend.config import Settings
from backend.errors import ProblemError
from backend.identity.errors import Unauthorized
from backend.identity.tokens import TokenVerifier, bearer_token

ENDPOINT = "/mcp"
WELL_KNOWN = "/.well-known/oauth-protected-resource"


class OriginNotAllowed(ProblemError):
    status = 403

    def __init__(self, origin: str) -> None:
        super().__init__(
            f"Browsers on {origin} may not use this server (CORS_ORIGINS does not allow it)."
        )


class ResourceMetadata(BaseModel):
    """RFC 9728 §2 (the fields this API has)."""

    resource: str
    authorization_servers: list[str] | None = None
    bearer_methods_supported: list[str]
    resource_name: str
    resource_documentation: str


class Resource:
    """The API as an OAuth protected resource: its URL (PUBLIC_URL, or the scheme and Host
    of each request, which a proxy sets through TRUSTED_PROXIES) and its metadata."""

    def __init__(self, settings: Settings, name: str) -> None:
        self._public_url = settings.public_url
        self._issuer = settings.jwt_issuer
        self._name = name

    def base(self, request: Request) -> str:
        if self._public_url is not None:
            return self._public_url
        return f"{request.url.scheme}://{request.url.netloc}"

    def metadata_url(self, request: Request) -> str:
        """Where the metadata of /mcp is (RFC 9728 §3.1: well-known prefix + the path),
        fit for a quoted-string: a Host header cannot break out of the challenge."""
        url = f"{self.base(request)}{WELL_KNOWN}{ENDPOINT}"
        return "".join(c for c in url if " " < c <= "~" and c not in '"\\')

    async def metadata(self, request: Request) -> Response:
        """RFC 9728 §3.3: `resource` is the URL whose metadata this is: the API as a whole
        at the well-known URL itself, /mcp at the one with the /mcp suffix."""
        base = self.base(request)
        suffix = request.url.path.removeprefix(WELL_KNOWN)
        document = ResourceMetadata(
            resource=base + suffix,
            authorization_servers=[self._issuer] if self._issuer else None,
            bearer_methods_supported=["header"],
            resource_name=self._name,
            resource_documentation=f"{base}/docs",
        )
        return Response(
            document.model_dump_json(exclude_none=True),
            media_type="application/json",
            headers={"Cache-Control": "public, max-age=3600"},
        )


class BearerGate:
    """In front of the MCP transport: Origin, then the bearer token (401/503 as problems,
    raised for backend.http.problems to render); the token's user goes on the scope for
    the tools and the access log."""

    def __init__(
        self, app: ASGIApp, verifier: TokenVerifier, resource: Resource, origins: list[str]
    ) -> None:
        self._app = app
        self._verifier = verifier
        self._resource = resource
        self._origins = frozenset(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        origin = request.headers.get("origin")
        if origin is not None and not self._allowed(origin, request):
            raise OriginNotAllowed(origin)
        try:
            identity = await self._verifier.verify(
                bearer_token(request.headers.get("authorization"))
            )
        except Unauthorized as error:
            metadata = self._resource.metadata_url(request)
            error.headers["WWW-Authenticate"] += f', resource_metadata="{metadata}"'
            raise
        scope.setdefault("state", {})["user_id"] = identity.user_id
        await self._app(scope, receive, send)

    def _allowed(self, origin: str, request: Request) -> bool:
        return (
            "*" in self._origins
            or origin in self._origins
            or origin == self._resource.base(request)
        )
