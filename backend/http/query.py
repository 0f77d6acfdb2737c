"""A request's query parameters, validated in one call against the operation's generated
parameter model (ListTasksParametersQuery…, from openapi.yaml like every other model).

One model validation instead of FastAPI's per-parameter path, which cost about 40 µs a
parameter per request: a sixth of a list request's CPU with eleven parameters. Stricter than
Pydantic's lax mode where the spec is: a date-time must be RFC 3339 (lax mode would also
read Unix time from "0.5") and a boolean must be `true` or `false` (not "yes", "1", "on").
"""

import types
from functools import cache
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import AwareDatetime, BaseModel, ValidationError
from starlette.requests import Request

from backend.errors import InvalidInput
from backend.http.body import is_date_time
from backend.http.problems import validation_items
from generated.models import Location, ValidationErrorItem

M = TypeVar("M", bound=BaseModel)
Kind = Literal["date-time", "boolean", "other"]

_MESSAGES: dict[Kind, str] = {
    "date-time": "must be an RFC 3339 date-time with a time zone offset",
    "boolean": "must be true or false",
}


def _members(annotation: Any) -> tuple[Any, ...]:
    """The types of a union (X | Y | MISSING), or the type itself."""
    if get_origin(annotation) in (Union, types.UnionType):
        return get_args(annotation)
    return (annotation,)


@cache
def _fields(model: type[BaseModel]) -> tuple[tuple[str, bool, Kind], ...]:
    """(name, repeatable, kind) of every parameter of `model`."""
    fields = []
    for name, field in model.model_fields.items():
        members = _members(field.annotation)
        repeatable = any(get_origin(member) is list for member in members)
        kind: Kind = (
            "date-time" if AwareDatetime in members else "boolean" if bool in members else "other"
        )
        fields.append((field.alias or name, repeatable, kind))
    return tuple(fields)


def parameters(request: Request, model: type[M]) -> M:
    """The query parameters `model` declares (others are ignored, as FastAPI does), or 422
    with one entry per invalid parameter."""
    query = request.query_params
    raw: dict[str, Any] = {}
    problems: list[ValidationErrorItem] = []
    for name, repeatable, kind in _fields(model):
        if name not in query:
            continue
        value: Any = query.getlist(name) if repeatable else query[name]
        if _well_formed(kind, value):
            raw[name] = value
        else:
            problems.append(_problem(name, kind))
    try:
        parsed = model.model_validate(raw)
    except ValidationError as error:
        # include_input: the message of a text parameter depends on what was wrong with it.
        problems += validation_items(Location.query, error.errors(include_url=False))
    if problems:
        raise InvalidInput(problems)
    return parsed


def _well_formed(kind: Kind, value: Any) -> bool:
    if kind == "boolean":
        return value in ("true", "false")
    if kind == "date-time":
        return is_date_time(value)
    return True


def _problem(name: str, kind: Kind) -> ValidationErrorItem:
    return ValidationErrorItem(location=Location.query, pointer=f"/{name}", message=_MESSAGES[kind])
