"""/api/{user_id}/tasks…: HTTP in, generated models out. Rules live in backend.tasks."""

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Header, Path, Request
from sqlalchemy import Connection
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from backend import etags, query, task_input, tasks
from backend.auth import CurrentUser, Identity
from backend.body import parse_body
from backend.errors import ApiError
from backend.routes.common import json_content, json_response, run_checked
from generated.models import (
    GetTaskStatsParametersQuery,
    ListTasksParametersQuery,
    TaskCompletion,
    TaskCreate,
    TaskPatch,
    TaskReplace,
    TaskStats,
)

INT64_MAX = 2**63 - 1

router = APIRouter(prefix="/api/{user_id}/tasks", tags=["tasks"])
TaskId = Annotated[int, Path(ge=1, le=INT64_MAX)]
IfMatch = Annotated[str | None, Header(alias="If-Match")]


def _task_response(
    task: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A Task (from tasks.row_to_api), its ETag in the header too."""
    return json_content(task, status, {"ETag": task["etag"], **(headers or {})})


def _not_found(task_id: int) -> ApiError:
    return ApiError(404, f"Task {task_id} does not exist.")


async def _task_or_404(
    request: Request, identity: Identity, task_id: int, work: Callable[[Connection], Any]
) -> Response:
    row = await run_checked(request, identity, work)
    if row is None:
        raise _not_found(task_id)
    return _task_response(tasks.row_to_api(row))


@router.get("", status_code=200)
async def list_tasks(request: Request, identity: CurrentUser) -> Response:
    params = query.parameters(request, ListTasksParametersQuery)
    filters = task_input.list_query(params)
    limit, offset = params.limit, params.offset
    items, total = await run_checked(
        request, identity, lambda c: tasks.list_tasks(c, identity.user_id, filters, limit, offset)
    )
    return json_content({"items": items, "total": total, "limit": limit, "offset": offset})


@router.post("", status_code=201)
async def create_task(request: Request, identity: CurrentUser) -> Response:
    body = await parse_body(request, TaskCreate)
    assert body is not None
    fields = task_input.fields(body)
    row = await run_checked(
        request, identity, lambda c: tasks.create_task(c, identity.user_id, fields)
    )
    location = f"/api/{quote(identity.user_id, safe='')}/tasks/{row.id}"
    return _task_response(tasks.row_to_api(row), 201, {"Location": location})


# Before /{task_id}: "stats" is not a task id.
@router.get("/stats", status_code=200)
async def task_stats(request: Request, identity: CurrentUser) -> Response:
    zone = task_input.time_zone(query.parameters(request, GetTaskStatsParametersQuery).tz)
    counts = await run_checked(request, identity, lambda c: tasks.stats(c, identity.user_id, zone))
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
        request, identity, lambda c: tasks.get_task(c, identity.user_id, task_id)
    )
    if row is None:
        raise _not_found(task_id)
    current = tasks.etag_of(row)
    if if_none_match is not None and etags.if_none_match(if_none_match, current):
        return Response(status_code=304, headers={"ETag": current})
    return _task_response(tasks.row_to_api(row))


@router.put("/{task_id}", status_code=200)
async def replace_task(
    request: Request, identity: CurrentUser, task_id: TaskId, if_match: IfMatch = None
) -> Response:
    body = await parse_body(request, TaskReplace)
    assert body is not None
    changes = task_input.replacement(body)
    return await _task_or_404(
        request,
        identity,
        task_id,
        lambda c: tasks.update_task(c, identity.user_id, task_id, changes, if_match),
    )


@router.patch("/{task_id}", status_code=200)
async def update_task(
    request: Request, identity: CurrentUser, task_id: TaskId, if_match: IfMatch = None
) -> Response:
    body = await parse_body(request, TaskPatch)
    assert body is not None
    changes = task_input.fields(body)  # only the fields present in the body
    return await _task_or_404(
        request,
        identity,
        task_id,
        lambda c: tasks.update_task(c, identity.user_id, task_id, changes, if_match),
    )


@router.delete("/{task_id}", status_code=204)
async def delete_task(
    request: Request, identity: CurrentUser, task_id: TaskId, if_match: IfMatch = None
) -> Response:
    deleted = await run_checked(
        request, identity, lambda c: tasks.delete_task(c, identity.user_id, task_id, if_match)
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
        lambda c: tasks.set_completion(c, identity.user_id, task_id, completed, if_match),
    )
