"""/api/{user_id}/tasks…: HTTP in, generated models out. Rules live in backend.tasks."""

from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from pydantic import MISSING
from sqlmodel import Session
from starlette.responses import Response

from backend import tasks
from backend.auth import CurrentUser, Identity
from backend.body import parse_body, required_text
from backend.errors import ApiError
from backend.models import Task as TaskRow
from backend.routes.common import json_response, run_checked
from generated.models import (
    Task,
    TaskCompletion,
    TaskCreate,
    TaskPage,
    TaskPatch,
    TaskReplace,
    TaskStatusFilter,
)

INT64_MAX = 2**63 - 1

router = APIRouter(prefix="/api/{user_id}/tasks", tags=["tasks"])
TaskId = Annotated[int, Path(ge=1, le=INT64_MAX)]


def _to_api(row: TaskRow) -> Task:
    return Task.model_validate(row, from_attributes=True)


def _title(raw: str) -> str:
    return required_text(tasks.normalise_title(raw), "/title")


def _not_found(task_id: int) -> ApiError:
    return ApiError(404, f"Task {task_id} does not exist.")


async def _task_or_404(
    request: Request, identity: Identity, task_id: int, work: Callable[[Session], TaskRow | None]
) -> Response:
    row = await run_checked(request, identity, work)
    if row is None:
        raise _not_found(task_id)
    return json_response(_to_api(row))


@router.get("", status_code=200)
async def list_tasks(
    request: Request,
    identity: CurrentUser,
    status: Annotated[TaskStatusFilter, Query()] = TaskStatusFilter.all,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> Response:
    rows, total = await run_checked(
        request, identity, lambda s: tasks.list_tasks(s, identity.user_id, status, limit, offset)
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
    title = _title(body.title)
    description = None if body.description is MISSING else body.description
    row = await run_checked(
        request, identity, lambda s: tasks.create_task(s, identity.user_id, title, description)
    )
    location = f"/api/{quote(identity.user_id, safe='')}/tasks/{row.id}"
    return json_response(_to_api(row), 201, {"Location": location})


@router.get("/{task_id}", status_code=200)
async def get_task(request: Request, identity: CurrentUser, task_id: TaskId) -> Response:
    return await _task_or_404(
        request, identity, task_id, lambda s: tasks.get_task(s, identity.user_id, task_id)
    )


@router.put("/{task_id}", status_code=200)
async def replace_task(request: Request, identity: CurrentUser, task_id: TaskId) -> Response:
    body = await parse_body(request, TaskReplace)
    assert body is not None
    changes = {
        "title": _title(body.title),
        "description": None if body.description is MISSING else body.description,
        "completed": body.completed,
    }
    return await _task_or_404(
        request,
        identity,
        task_id,
        lambda s: tasks.update_task(s, identity.user_id, task_id, changes),
    )


@router.patch("/{task_id}", status_code=200)
async def update_task(request: Request, identity: CurrentUser, task_id: TaskId) -> Response:
    body = await parse_body(request, TaskPatch)
    assert body is not None
    changes = body.model_dump(exclude_unset=True)  # only the fields present in the body
    if "title" in changes:
        changes["title"] = _title(changes["title"])
    return await _task_or_404(
        request,
        identity,
        task_id,
        lambda s: tasks.update_task(s, identity.user_id, task_id, changes),
    )


@router.delete("/{task_id}", status_code=204)
async def delete_task(request: Request, identity: CurrentUser, task_id: TaskId) -> Response:
    deleted = await run_checked(
        request, identity, lambda s: tasks.delete_task(s, identity.user_id, task_id)
    )
    if not deleted:
        raise _not_found(task_id)
    return Response(status_code=204)


@router.patch("/{task_id}/complete", status_code=200)
async def complete_task(request: Request, identity: CurrentUser, task_id: TaskId) -> Response:
    body = await parse_body(request, TaskCompletion, required=False)
    completed = None if body is None else body.completed
    return await _task_or_404(
        request,
        identity,
        task_id,
        lambda s: tasks.set_completion(s, identity.user_id, task_id, completed),
    )
