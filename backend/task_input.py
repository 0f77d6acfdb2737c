"""Request input of the task routes, checked and normalised for backend.tasks: bodies to
field values (trimmed, priority ranks, UTC), validated query parameters to a listing's
filters, time zone names."""

from datetime import UTC, datetime, tzinfo
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from pydantic import MISSING

from backend import tags, tasks
from backend.body import required_text
from backend.errors import ApiError, unprocessable
from backend.text import trimmed
from generated.models import (
    ListTasksParametersQuery,
    Location,
    SortOrder,
    TaskCreate,
    TaskPatch,
    TaskReplace,
    TaskSort,
    TaskStatusFilter,
    ValidationErrorItem,
)


def invalid(location: Location, pointer: str, message: str) -> ApiError:
    return unprocessable([ValidationErrorItem(location=location, pointer=pointer, message=message)])


def _utc(
    value: datetime | None, pointer: str, location: Location = Location.body
) -> datetime | None:
    if value is None:
        return None
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise invalid(location, pointer, "is out of range in UTC") from None


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


def list_query(params: ListTasksParametersQuery) -> tasks.ListQuery:
    """A listing's filters and order from its validated query parameters."""
    names = () if params.tag is MISSING else tags.normalise(tag.root for tag in params.tag)
    if names is None:  # the TagName pattern already requires a visible character
        raise invalid(Location.query, "/tag", "must contain a visible character")
    return tasks.ListQuery(
        status=params.status or TaskStatusFilter.all,
        priorities=tuple(sorted({tasks.PRIORITY_RANKS[p] for p in _present(params.priority, ())})),
        tags=tuple(names),
        q=_present(params.q, None),
        due_before=_utc(_present(params.due_before, None), "/due_before", Location.query),
        due_after=_utc(_present(params.due_after, None), "/due_after", Location.query),
        overdue=_present(params.overdue, None),
        sort=params.sort or TaskSort.created_at,
        order=params.order or SortOrder.desc,
    )


def _present(value: Any, default: Any) -> Any:
    return default if value is MISSING else value


@cache
def _time_zones() -> frozenset[str]:
    # "localtime" is the server's own zone, a file beside the IANA names.
    return frozenset(available_timezones() - {"localtime", "posixrules"})


def time_zone(name: str) -> tzinfo:
    if name not in _time_zones():  # not ZoneInfo(name) alone: it also opens "localtime", paths…
        raise invalid(Location.query, "/tz", "must be an IANA time zone name (Europe/Berlin)")
    return ZoneInfo(name)
