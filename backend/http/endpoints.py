"""Typed endpoints on plain Starlette routes, for the task operations (the hot path).

A handler states what it takes in its signature, by annotation:

    async def list_tasks(owner: TaskOwner, params: Annotated[ListTasksParametersQuery, Query])

and its route hands it exactly that, parsed once by the project's own strict parsers, in
the order the contract needs: whatever authenticates first (a class with an async
`from_request`: 401 and 403 come before anything else is looked at), then path ids,
headers, the query, the body.

FastAPI's request handler does the same through its dependency injection; measured
in-process, an empty FastAPI endpoint with one dependency costs ~90 µs a request, the same
as a Starlette route ~25 µs: at the ceiling's speed that is a tenth of a list request.
Error handlers, middleware and the app stay FastAPI's; only the handlers' plumbing is here.
"""

import inspect
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, get_args, get_origin, get_type_hints

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from backend.errors import InvalidInput
from backend.http.body import parse_body, parse_optional_body
from backend.http.query import parameters
from generated.models import Location

INT64_MAX = 2**63 - 1
# An id is written in canonical decimal: "+3", " 3", "03" and "1_0" (which int() reads as 3
# and 10) are 422, so one task has one URL.
_CANONICAL_ID = re.compile(r"[1-9][0-9]*")


class Query:
    """Annotated[SomeParametersQuery, Query]: the query parameters as that model."""


@dataclass(frozen=True)
class Body:
    """Annotated[SomeModel, Body()]: the JSON body (required); Annotated[M | None, Body()]:
    optional, None without one. `invalid` may reword a 422 for the operation."""

    invalid: Callable[[InvalidInput], InvalidInput] | None = None


@dataclass(frozen=True)
class PathId:
    """Annotated[int, PathId("task_id")]: a positive 64-bit id from the path."""

    name: str


@dataclass(frozen=True)
class Header:
    """Annotated[str | None, Header("If-Match")]: a request header, None when absent."""

    name: str


Extract = Callable[[Request], Awaitable[Any]]


def _path_id(name: str) -> Extract:
    async def extract(request: Request) -> int:
        value = request.path_params[name]
        if not _CANONICAL_ID.fullmatch(value):
            raise InvalidInput.at(
                Location.path,
                f"/{name}",
                "must be a task id: decimal digits, no sign, spaces or leading zeros",
            )
        if len(value) > len(str(INT64_MAX)) or int(value) > INT64_MAX:  # no huge int()
            raise InvalidInput.at(Location.path, f"/{name}", f"must be at most {INT64_MAX}")
        return int(value)

    return extract


def _header(name: str) -> Extract:
    async def extract(request: Request) -> str | None:
        return request.headers.get(name)

    return extract


def _query(model: type[BaseModel]) -> Extract:
    async def extract(request: Request) -> BaseModel:
        return parameters(request, model)

    return extract


def _body(model: Any, marker: Body) -> Extract:
    members = [arg for arg in get_args(model) if arg is not type(None)]
    optional = members[0] if members else None

    async def extract(request: Request) -> Any:
        try:
            if optional is not None:  # M | None
                return await parse_optional_body(request, optional)
            return await parse_body(request, model)
        except InvalidInput as error:
            if marker.invalid is None:
                raise
            raise marker.invalid(error) from None

    return extract


async def _request(request: Request) -> Request:
    return request


def _extractor(annotation: Any) -> tuple[int, Extract]:
    """How to get a parameter of this annotation from a request, and when (its rank)."""
    if get_origin(annotation) is Annotated:
        kind, marker = get_args(annotation)[0], get_args(annotation)[1]
        if isinstance(marker, PathId):
            return 1, _path_id(marker.name)
        if isinstance(marker, Header):
            return 2, _header(marker.name)
        if marker is Query:
            return 3, _query(kind)
        if isinstance(marker, Body):
            return 4, _body(kind, marker)
    if annotation is Request:
        return 5, _request
    from_request = getattr(annotation, "from_request", None)
    if from_request is not None:  # authentication and the like: first
        return 0, from_request
    raise TypeError(f"an endpoint cannot take {annotation!r}")


def endpoint(
    handler: Callable[..., Awaitable[Response]], route: list[Route]
) -> Callable[[Request], Any]:
    """A Starlette endpoint calling `handler` with the parameters its signature names.
    `route` holds the Route it serves once made: the request's log line and metrics name
    its template (FastAPI's router records only its own routes in the scope)."""
    hints = get_type_hints(handler, include_extras=True)
    ranked = sorted(
        ((*_extractor(hints[name]), name) for name in inspect.signature(handler).parameters),
        key=lambda step: step[0],  # stable: parameters of one rank in the signature's order
    )
    steps = [(name, extract) for _, extract, name in ranked]

    async def app(request: Request) -> Response:
        request.scope["route"] = route[0]
        arguments = {name: await extract(request) for name, extract in steps}
        return await handler(**arguments)

    app.__name__ = handler.__name__
    app.__doc__ = handler.__doc__
    return app


Register = Callable[[Callable[..., Awaitable[Response]]], Callable[..., Awaitable[Response]]]


class Endpoints:
    """Routes under one path prefix, declared like FastAPI's: @endpoints.get("/stats", 200).
    `operations` says which operation answers which success status (the drift test holds
    them against the contract)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.routes: list[Route] = []
        self.operations: dict[tuple[str, str], int] = {}

    def route(self, path: str, methods: Sequence[str], status: int | None = None) -> Register:
        """A route; `status` None for one outside the contract (e.g. a 405 on purpose)."""

        def register(
            handler: Callable[..., Awaitable[Response]],
        ) -> Callable[..., Awaitable[Response]]:
            made: list[Route] = []
            route = Route(self.prefix + path, endpoint(handler, made), methods=list(methods))
            route.methods = set(methods)  # no implicit HEAD: the contract has none (405)
            made.append(route)
            self.routes.append(route)
            if status is not None:
                self.operations.update({(m, self.prefix + path): status for m in methods})
            return handler

        return register

    def get(self, path: str, status: int = 200) -> Register:
        return self.route(path, ["GET"], status)

    def post(self, path: str, status: int = 201) -> Register:
        return self.route(path, ["POST"], status)

    def put(self, path: str, status: int = 200) -> Register:
        return self.route(path, ["PUT"], status)

    def patch(self, path: str, status: int = 200) -> Register:
        return self.route(path, ["PATCH"], status)

    def delete(self, path: str, status: int = 204) -> Register:
        return self.route(path, ["DELETE"], status)
