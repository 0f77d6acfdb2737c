"""Strict JSON request bodies parsed into generated models.

FastAPI's own body parsing is lax ("true" → True, 0 → a date-time); the contract is not.
"""

import json
import re
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from backend.errors import InvalidInput, MalformedBody, UnsupportedMediaType
from backend.http.problems import validation_items
from generated.models import Location, ValidationErrorItem

M = TypeVar("M", bound=BaseModel)


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def parse_body(request: Request, model: type[M]) -> M:
    """The required body as `model`. Call after authentication."""
    parsed = await parse_optional_body(request, model)
    if parsed is None:
        raise InvalidInput.at(Location.body, "", "A JSON body is required")
    return parsed


async def parse_optional_body(request: Request, model: type[M]) -> M | None:
    """The body as `model`, or None when there is none."""
    body = await request.body()  # the size-limit middleware caps this at 64 KiB
    if not body:
        return None
    content_type = request.headers.get("content-type")
    if content_type is None or not _is_json(content_type):
        raise UnsupportedMediaType(
            f"The request body must be application/json, not {content_type or 'undeclared'}."
        )
    return _parse(model, body)


def _parse(model: type[M], body: bytes) -> M:
    try:
        parsed = model.model_validate_json(body, strict=True)
    except ValidationError as error:
        errors = error.errors()
        if any(e["type"] == "json_invalid" for e in errors):
            raise MalformedBody("The request body is not valid UTF-8 JSON.") from None
        if any(e["type"] == "int_type" and isinstance(e["input"], float) for e in errors):
            # JSON Schema's integer is any number without a fraction (604.0); strict
            # Pydantic takes only 604. Spell such numbers as integers and try once more.
            return _validate(model, json.dumps(json.loads(body, parse_float=_integral)))
        raise _invalid(error) from None
    _check_date_times(parsed, body)
    return parsed


def _invalid(error: ValidationError) -> InvalidInput:
    # include_input: the message of a text field depends on what was wrong with it.
    return InvalidInput(validation_items(Location.body, error.errors(include_url=False)))


def _validate(model: type[M], body: str | bytes) -> M:
    try:
        parsed = model.model_validate_json(body, strict=True)
    except ValidationError as error:
        raise _invalid(error) from None
    _check_date_times(parsed, body)
    return parsed


def _integral(text: str) -> int | float:
    number = Decimal(text)
    if number.adjusted() > 18:  # far beyond any int64 (and 1e999999999 as an int is huge)
        return float(text)
    return int(number) if number == number.to_integral_value() else float(text)


# RFC 3339 date-time (JSON Schema's format). Pydantic also reads "1700000000" or "0.5"
# as a date-time (Unix time) and a space for the T, even in strict mode.
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def is_date_time(text: str) -> bool:
    return _DATE_TIME.fullmatch(text) is not None


def _check_date_times(parsed: BaseModel, body: str | bytes) -> None:
    """422 for a top-level date-time field given in another spelling than RFC 3339."""
    fields = [
        name
        for name, value in parsed
        if isinstance(value, datetime) and name in type(parsed).model_fields
    ]
    if not fields:
        return
    raw = json.loads(body)
    bad = [name for name in fields if not is_date_time(raw[name])]
    if bad:
        raise InvalidInput(
            [
                ValidationErrorItem(
                    location=Location.body,
                    pointer=f"/{name}",
                    message="must be an RFC 3339 date-time (2026-11-28T18:00:00Z)",
                )
                for name in bad
            ]
        )
