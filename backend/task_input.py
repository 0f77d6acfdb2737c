"""Request input of the task routes, checked and normalised for backend.tasks: bodies to
field values (trimmed, priority ranks, UTC), query parameters the generated models cannot
check strictly enough (date-times, booleans, tags, time zones)."""

import json
from datetime import UTC, datetime, tzinfo
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from pydantic import MISSING, AwareDatetime, TypeAdapter

from backend import tags, tasks
from backend.body import is_date_time, required_text
from backend.errors import ApiError, unprocessable
from backend.text import trimmed
from generated.models import Location, TaskCreate, TaskPatch, TaskReplace, ValidationErrorItem

_AWARE_DATETIME = TypeAdapter(AwareDatetime)


def invalid(location: Location, pointer: str, message: str) -> ApiError:
    return unprocessable([ValidationErrorItem(location=location, pointer=pointer, message=message)])


def _utc(value: datetime | None, pointer: str) -> datetime | None:
    if value is None:
        return None
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise invalid(Location.body, pointer, "is out of range in UTC") from None


def fields(body: TaskCreate | TaskReplace | TaskPatch) -> dict[str, Any]:
    """The fields present in the body, normalised: trimmed title and tags, priority rank,
    due date in UTC, repeat rule."""
    present = {name for name in type(body).model_fields if getattr(body, name) is not MISSING}
    fields: dict[str, Any] = {}
    for name in present & {"description", "completed"}:
        fields[name] = getattr(body, name)
    if "title" in present:
        fields["title"] = required_text(trimmed(body.title), "/title")  # type: ignore[arg-type]
    if "priority" in present:
        fields["priority"] = tasks.PRIORITY_RANKS[body.priority]  # type: ignore[index]
    if "tags" in present:
        names = tags.normalise(tag.root for tag in body.tags)  # type: ignore[union-attr]
        fields["tags"] = required_text(None, "/tags") if names is None else names
    if "due_at" in present:
        fields["due_at"] = _utc(body.due_at, "/due_at")  # type: ignore[arg-type]
    if "recurrence" in present:
        rule = body.recurrence
        fields["recurrence"] = (
            None if rule is None else tasks.Rule(rule.frequency.value, rule.interval)  # type: ignore[union-attr]
        )
    return fields


def replacement(body: TaskReplace) -> dict[str, Any]:
    """PUT: every editable field, omitted ones at their defaults."""
    defaults: dict[str, Any] = {
        "description": None,
        "completed": False,
        "priority": tasks.PRIORITY_RANKS["medium"],
        "tags": [],
        "due_at": None,
        "recurrence": None,
    }
    return {**defaults, **fields(body)}


def moment(value: str | None, name: str) -> datetime | None:
    """An RFC 3339 date-time with an offset, strictly (no bare numbers, no naive times)."""
    if value is None:
        return None
    try:
        if not is_date_time(value):
            raise ValueError(value)
        parsed = _AWARE_DATETIME.validate_json(json.dumps(value), strict=True)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # ValidationError is a ValueError
        raise invalid(
            Location.query, f"/{name}", "must be an RFC 3339 date-time with a time zone offset"
        ) from None


def boolean(value: str | None, name: str) -> bool | None:
    if value is None:
        return None
    if value not in ("true", "false"):
        raise invalid(Location.query, f"/{name}", "must be true or false")
    return value == "true"


def tag_filter(values: list[str] | None) -> tuple[str, ...]:
    if not values:
        return ()
    if len(values) > 20:
        raise invalid(Location.query, "/tag", "at most 20 tags")
    names = []
    for index, value in enumerate(values):
        name = trimmed(value)
        if name is None or len(value) > 50 or any(ord(c) < 0x20 or c == "\x7f" for c in value):
            raise invalid(
                Location.query,
                f"/tag/{index}",
                "must be 1 to 50 characters with a visible one and no control character",
            )
        names.append(name)
    return tuple(names)


@cache
def _time_zones() -> frozenset[str]:
    # "localtime" is the server's own zone, a file beside the IANA names.
    return frozenset(available_timezones() - {"localtime", "posixrules"})


def time_zone(name: str) -> tzinfo:
    if name not in _time_zones():  # not ZoneInfo(name) alone: it also opens "localtime", paths…
        raise invalid(Location.query, "/tz", "must be an IANA time zone name (Europe/Berlin)")
    return ZoneInfo(name)
