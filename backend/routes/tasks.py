"""/api/{user_id}/tasks…: HTTP in, generated models out. Rules live in backend.tasks."""

import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, available_timezones

from fastapi import APIRouter, Header, Path, Query, Request
from pydantic import MISSING, AwareDatetime, TypeAdapter
from sqlmodel import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from backend import etags, tags, tasks
from backend.auth import CurrentUser, Identity
from backend.body import is_date_time, parse_body, required_text
from backend.errors import ApiError, unprocessable
from backend.models import Task as TaskRow
from backend.routes.common import json_response, run_checked
from backend.text import trimmed
from generated.models import (
    Location,
    Priority,
    SortOrder,
    Task,
    TaskCompletion,
    TaskCreate,
    TaskPage,
    TaskPatch,
    TaskReplace,
    TaskSort,
    TaskStats,
    TaskStatusFilter,
    ValidationErrorItem,
)

INT64_MAX = 2**63 - 1

router = APIRouter(prefix="/api/{user_id}/tasks", tags=["tasks"])
TaskId = Annotated[int, Path(ge=1, le=INT64_MAX)]
IfMatch = Annotated[str | None, Header(alias="If-Match")]

_AWARE_DATETIME = TypeAdapter(AwareDatetime)


def _invalid(location: Location, pointer: str, message: str) -> ApiError:
    return unprocessable([ValidationErrorItem(location=location, pointer=pointer, message=message)])


# --- request bodies to normalised fields ---


def _utc(value: datetime | None, pointer: str) -> datetime | None:
    if value is None:
        return None
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise _invalid(Location.body, pointer, "is out of range in UTC") from None


def _fields(body: TaskCreate | TaskReplace | TaskPatch) -> dict[str, Any]:
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


def _replacement(body: TaskReplace) -> dict[str, Any]:
    """PUT: every editable field, omitted ones at their defaults."""
    defaults: dict[str, Any] = {
        "description": None,
        "completed": False,
        "priority": tasks.PRIORITY_RANKS["medium"],
        "tags": [],
        "due_at": None,
        "recurrence": None,
    }
    return {**defaults, **_fields(body)}


# --- query parameters ---


def _moment(value: str | None, name: str) -> datetime | None:
    """An RFC 3339 date-time with an offset, strictly (no bare numbers, no naive times)."""
    if value is None:
        return None
    try:
        if not is_date_time(value):
            raise ValueError(value)
        parsed = _AWARE_DATETIME.validate_json(json.dumps(value), strict=True)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # ValidationError is a ValueError
        raise _invalid(
            Location.query, f"/{name}", "must be an RFC 3339 date-time with a time zone offset"
        ) from None


def _boolean(value: str | None, name: str) -> bool | None:
    if value is None:
        return None
    if value not in ("true", "false"):
        raise _invalid(Location.query, f"/{name}", "must be true or false")
    return value == "true"


def _tag_filter(values: list[str] | None) -> tuple[str, ...]:
    if not values:
        return ()
    if len(values) > 20:
        raise _invalid(Location.query, "/tag", "at most 20 tags")
    names = []
    for index, value in enumerate(values):
        name = trimmed(value)
        if name is None or len(value) > 50 or any(ord(c) < 0x20 or c == "\x7f" for c in value):
            raise _invalid(
                Location.query,
                f"/tag/{index}",
                "must be 1 to 50 characters with a visible one and no control character",
            )
        names.append(name)
    return tuple(names)


# --- responses ---


def _task_response(
    row: TaskRow, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    task = Task.model_validate(tasks.to_api(row))
    return json_response(task, status, {"ETag": task.etag, **(headers or {})})


def _not_found(task_id: int) -> ApiError:
    return ApiError(404, f"Task {task_id} does not exist.")


async def _task_or_404(
    request: Request, identity: Identity, task_id: int, work: Callable[[Session], TaskRow | None]
) -> Response:
    row = await run_checked(request, identity, work)
    if row is None:
        raise _not_found(task_id)
    return _task_response(row)


@router.get("", status_code=200)
async def list_tasks(
    request: Request,
    identity: CurrentUser,
    status: Annotated[TaskStatusFilter, Query()] = TaskStatusFilter.all,
    priority: Annotated[list[Priority] | None, Query(max_length=3)] = None,
    tag: Annotated[list[str] | None, Query()] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=200, pattern="^[^\x00]*$")] = None,
    due_before: Annotated[str | None, Query()] = None,
    due_after: Annotated[str | None, Query()] = None,
    overdue: Annotated[str | None, Query()] = None,
    sort: Annotated[TaskSort, Query()] = TaskSort.created_at,
    order: Annotated[SortOrder, Query()] = SortOrder.desc,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> Response:
    query = tasks.ListQuery(
        status=status,
        priorities=tuple(sorted({tasks.PRIORITY_RANKS[p] for p in priority or ()})),
        tags=_tag_filter(tag),
        q=q,
        due_before=_moment(due_before, "due_before"),
        due_after=_moment(due_after, "due_after"),
        overdue=_boolean(overdue, "overdue"),
        sort=sort,
        order=order,
    )
    rows, total = await run_checked(
        request, identity, lambda s: tasks.list_tasks(s, identity.user_id, query, limit, offset)
    )
    # One validation for the whole page (pydantic-core loops over the rows).
    page = TaskPage.model_validate(
        {"items": rows, "total": total, "limit": limit, "offset": offset}
    )
    return json_response(page)


@router.post("", status_code=201)
async def create_task(request: Request, identity: CurrentUser) -> Response:
    body = await parse_body(request, TaskCreate)
    assert body is not None
    fields = _fields(body)
    row = await run_checked(
        request, identity, lambda s: tasks.create_task(s, identity.user_id, fields)
    )
    location = f"/api/{quote(identity.user_id, safe='')}/tasks/{row.id}"
    return _task_response(row, 201, {"Location": location})


@cache
def _time_zones() -> frozenset[str]:
    # "localtime" is the server's own zone, a file beside the IANA names.
    return frozenset(available_timezones() - {"localtime", "posixrules"})


# Before /{task_id}: "stats" is not a task id.
@router.get("/stats", status_code=200)
async def task_stats(
    request: Request,
    identity: CurrentUser,
    tz: Annotated[str, Query(min_length=1, max_length=64)] = "UTC",
) -> Response:
    if tz not in _time_zones():  # not ZoneInfo(tz) alone: it also opens "localtime", paths…
        raise _invalid(Location.query, "/tz", "must be an IANA time zone name (Europe/Berlin)")
    zone = ZoneInfo(tz)
    counts = await run_checked(request, identity, lambda s: tasks.stats(s, identity.user_id, zone))
    return json_response(TaskStats.model_validate(counts))


@router.api_route("/stats", methods=["POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def stats_other_methods() -> None:
    # Without this, PUT /tasks/stats would reach replaceTask and fail on task_id (422).
    raise StarletteHTTPException(405)


@router.get("/{task_id}", status_code=200)
async def get_task(
    request: Request,
    identity: CurrentUser,
    task_id: TaskId,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    row = await run_checked(
        request, identity, lambda s: tasks.get_task(s, identity.user_id, task_id)
    )
    if row is None:
        raise _not_found(task_id)
    current = tasks.etag_of(row)
    if if_none_match is not None and etags.if_none_match(if_none_match, current):
        return Response(status_code=304, headers={"ETag": current})
    return _task_response(row)


@router.put("/{task_id}", status_code=200)
async def replace_task(
    request: Request, identity: CurrentUser, task_id: TaskId, if_match: IfMatch = None
) -> Response:
    body = await parse_body(request, TaskReplace)
    assert body is not None
    changes = _replacement(body)
    return await _task_or_404(
        request,
        identity,
        task_id,
        lambda s: tasks.update_task(s, identity.user_id, task_id, changes, if_match),
    )


@router.patch("/{task_id}", status_code=200)
async def update_task(
    request: Request, identity: CurrentUser, task_id: TaskId, if_match: IfMatch = None
) -> Response:
    body = await parse_body(request, TaskPatch)
    assert body is not None
    changes = _fields(body)  # only the fields present in the body
    return await _task_or_404(
        request,
        identity,
        task_id,
        lambda s: tasks.update_task(s, identity.user_id, task_id, changes, if_match),
    )


@router.delete("/{task_id}", status_code=204)
async def delete_task(
    request: Request, identity: CurrentUser, task_id: TaskId, if_match: IfMatch = None
) -> Response:
    deleted = await run_checked(
        request, identity, lambda s: tasks.delete_task(s, identity.user_id, task_id, if_match)
    )
    if not deleted:
        raise _not_found(task_id)
    return Response(status_code=204)


@router.patch("/{task_id}/complete", status_code=200)
async def complete_task(
    request: Request, identity: CurrentUser, task_id: TaskId, if_match: IfMatch = None
) -> Response:
    body = await parse_body(request, TaskCompletion, required=False)
    completed = None if body is None else body.completed
    return await _task_or_404(
        request,
        identity,
        task_id,
        lambda s: tasks.set_completion(s, identity.user_id, task_id, completed, if_match),
    )
