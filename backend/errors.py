"""RFC 9457 problem details for every error the API returns."""

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from backend.db import DatabaseUnavailable
from backend.spec import Spec
from generated.models import Location, Problem, ValidationErrorItem

logger = logging.getLogger("backend.errors")

# Regular expressions from openapi.yaml say little to a person; say what they mean.
_CONTROLS = r"\u0000-\u001f\u007f"
_SPACES = r" \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
PATTERN_MESSAGES = {
    # Title
    f"^[^{_CONTROLS}]*[^{_CONTROLS}{_SPACES}][^{_CONTROLS}]*$": (
        "must contain a visible character and no control character"
    ),
    # Description
    r"^[^\u0000]*$": "must not contain a NUL (U+0000) character",
}

PROBLEM_JSON = "application/problem+json"
_PATH_SAFE = "/!$&'()*+,;=:@-._~"
# RFC 9110 names where Python's HTTPStatus still has the RFC 7231 ones (3.11, 3.12).
_TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}
RETRY_AFTER_SECONDS = "5"


class ApiError(Exception):
    """An error with an HTTP status, turned into problem+json by the handler below."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        errors: Sequence[ValidationErrorItem] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})
        self.errors = list(errors) if errors is not None else None


def problem_response(
    status: int,
    detail: str,
    *,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    errors: Sequence[ValidationErrorItem] | None = None,
) -> Response:
    title = _TITLES.get(status) or HTTPStatus(status).phrase
    problem = Problem(type="about:blank", title=title, status=status, detail=detail)
    if instance is not None:
        # The decoded request path, percent-encoded again so it stays a valid URI reference.
        problem.instance = quote(instance, safe=_PATH_SAFE)
    if errors is not None:
        problem.errors = list(errors)
    return Response(
        problem.model_dump_json(), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def _pointer(parts: Sequence[Any]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _message(error: Mapping[str, Any]) -> str:
    if error["type"] == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern")
        return PATTERN_MESSAGES.get(pattern, error["msg"])
    return error["msg"]


def validation_items(
    location: Location, errors: Sequence[Mapping[str, Any]]
) -> list[ValidationErrorItem]:
    """Pydantic errors → `errors` entries (location + JSON pointer + message)."""
    return [
        ValidationErrorItem(location=location, pointer=_pointer(e["loc"]), message=_message(e))
        for e in errors
    ]


def validation_error(location: Location, error: ValidationError) -> ApiError:
    # No input in the errors: echoing it back could fail to encode (invalid UTF-8).
    items = validation_items(location, error.errors(include_url=False, include_input=False))
    return unprocessable(items)


def unprocessable(items: Sequence[ValidationErrorItem]) -> ApiError:
    count = len(items)
    return ApiError(
        422, f"The request has {count} invalid input{'s' if count != 1 else ''}.", errors=items
    )


def install_error_handlers(app: FastAPI, spec: Spec) -> None:
    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return problem_response(
            exc.status,
            exc.detail,
            instance=request.url.path,
            headers=exc.headers,
            errors=exc.errors,
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette lists only the first matching route's methods; the spec knows them all.
            allowed = spec.allowed_methods(request.url.path) or []
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
        return await api_error(request, unprocessable(items))

    async def database_unavailable(request: Request, exc: Exception) -> Response:
        logger.warning("database unavailable: %s", exc)
        return problem_response(
            503,
            "The database is unavailable; retry later.",
            instance=request.url.path,
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )

    async def unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(500, "An unexpected error occurred.", instance=request.url.path)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, request_validation_error)
    app.add_exception_handler(DatabaseUnavailable, database_unavailable)
    app.add_exception_handler(Exception, unexpected)
