"""RFC 9457 problem details for every error the API returns: the one place where errors
become HTTP responses."""

import logging
import re
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.routing import Match

from backend.errors import MISSING, InvalidInput, ProblemError, ServiceUnavailable
from backend.limits import (
    DESCRIPTION_PATTERN,
    IDEMPOTENCY_KEY_PATTERN,
    SEARCH_PATTERN,
    VISIBLE_TEXT_PATTERN,
)
from backend.spec import Spec
from generated.models import Location, Problem, ValidationErrorItem

logger = logging.getLogger("backend.errors")

# Regular expressions from openapi.yaml say little to a person; say what they mean. They
# also land in a 422's `detail` after the input's name ("title: must not be blank").
CONTROL_CHARACTERS = "must not contain control characters such as tabs or newlines"
BLANK = "must not be blank"
PATTERN_MESSAGES = {
    # Both halves of the pattern, for when the input is not at hand to tell which one failed.
    VISIBLE_TEXT_PATTERN: f"{BLANK} and {CONTROL_CHARACTERS}",
    DESCRIPTION_PATTERN: "must not contain a NUL (U+0000) character",
    SEARCH_PATTERN: "must contain at least 3 letters or digits in a row and no NUL character",
    IDEMPOTENCY_KEY_PATTERN: (
        "must be visible ASCII characters (! to ~) or spaces, not starting or ending with a space"
    ),
}

PROBLEM_JSON = "application/problem+json"
_PATH_SAFE = "/!$&'()*+,;=:@-._~"
# RFC 9110 names where Python's HTTPStatus still has the RFC 7231 ones (3.11, 3.12).
_TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}


def problem_response(
    status: int,
    detail: str,
    *,
    problem_type: str = "about:blank",
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    errors: Sequence[ValidationErrorItem] | None = None,
    limit: int | None = None,
) -> Response:
    title = _TITLES.get(status) or HTTPStatus(status).phrase
    problem = Problem(type=problem_type, title=title, status=status, detail=detail)
    if instance is not None:
        # The decoded request path, percent-encoded again so it stays a valid URI reference.
        problem.instance = quote(instance, safe=_PATH_SAFE)
    if errors is not None:
        problem.errors = list(errors)
    if limit is not None:
        problem.limit = limit
    return Response(
        problem.model_dump_json(), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def response_for(error: ProblemError, path: str) -> Response:
    return problem_response(
        error.status,
        error.detail,
        problem_type=error.type,
        instance=path,
        headers=error.headers,
        errors=error.errors,
        limit=error.limit,
    )


def _pointer(parts: Sequence[Any]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


# Pydantic's wording for a few error types, rephrased to follow an input's name.
TYPE_MESSAGES = {
    "missing": MISSING,
    "extra_forbidden": "is not a field of this request",
}
_CONTROL = re.compile("[\x00-\x1f\x7f]")


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern")
        if pattern == VISIBLE_TEXT_PATTERN and isinstance(error.get("input"), str):
            # A title, name or tag breaks the pattern in one of two ways; say which.
            return CONTROL_CHARACTERS if _CONTROL.search(error["input"]) else BLANK
        return PATTERN_MESSAGES.get(pattern, str(error["msg"]))
    return TYPE_MESSAGES.get(kind) or str(error["msg"]).removeprefix("Value error, ")


def validation_items(
    location: Location, errors: Sequence[Mapping[str, Any]]
) -> list[ValidationErrorItem]:
    """Pydantic errors → `errors` entries (location + JSON pointer + message). The input, when
    included, only chooses a message: it is never echoed back (it could fail to encode)."""
    return [
        ValidationErrorItem(location=location, pointer=_pointer(e["loc"]), message=_message(e))
        for e in errors
    ]


def _route_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match is not Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods - {"HEAD"}) or ["GET"]


def install_error_handlers(app: FastAPI, spec: Spec) -> None:
    async def problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProblemError)
        if isinstance(exc, ServiceUnavailable):
            logger.warning("%s", exc.reason)
        return response_for(exc, request.url.path)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette lists only the first matching route's methods; the spec knows them all
            # (and the app's own routes those outside it: /openapi.yaml, /docs…).
            allowed = spec.allowed_methods(request.url.path) or _route_methods(request)
            headers["Allow"] = ", ".join(allowed)
            detail = f"{request.method} is not allowed here; allowed: {headers['Allow']}."
        elif exc.status_code == 404:
            detail = f"No such resource: {request.url.path}."
        else:
            detail = str(exc.detail)
        return problem_response(exc.status_code, detail, instance=request.url.path, headers=headers)

    async def request_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        items = []
        for error in exc.errors():
            where, *rest = error["loc"]
            location = Location(where) if where in Location.__members__ else Location.body
            items.append(
                ValidationErrorItem(
                    location=location, pointer=_pointer(rest), message=_message(error)
                )
            )
        return response_for(InvalidInput(items), request.url.path)

    async def client_gone(request: Request, exc: Exception) -> Response:
        # Nobody reads this answer; the status keeps the log line and metrics honest.
        logger.info(
            "client disconnected before the whole body arrived: %s %s",
            request.method,
            request.url.path,
        )
        return problem_response(
            400, "The client disconnected before sending the whole body.", instance=request.url.path
        )

    async def unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(500, "An unexpected error occurred.", instance=request.url.path)

    app.add_exception_handler(ProblemError, problem)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, request_validation_error)
    app.add_exception_handler(ClientDisconnect, client_gone)
    app.add_exception_handler(Exception, unexpected)
