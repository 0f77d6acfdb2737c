"""/api/{user_id}/tasks…: what each operation takes, in its signature (backend.http.endpoints
parses it), handed to the task rules (backend.tasks) in one unit of work, and the answer."""

from collections.abc import Callable
from dataclasses import replace
from typing import Annotated
from urllib.parse import quote

from pydantic_core import to_json
from sqlalchemy import Connection
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from backend.http.endpoints import Body, Endpoints, Header, PathId, Query
from backend.http.responses import json_body, json_content, json_response
from backend.idempotency.store import Answer
from backend.identity.users import UserCheck
from backend.routes.deps import TaskOwner
from backend.tasks import changes, etags, feed, listing, stats
from backend.tasks import input as task_input
from backend.tasks.changes import Changed
from backend.tasks.fields import TaskChanges
from backend.tasks.query import expensive
from backend.tasks.rows import TaskRow, etag_of, row_to_api
from generated.models import (
    GetTaskStatsParametersQuery,
    ListTaskChangesParametersQuery,
    ListTasksParametersQuery,
    TaskCompletion,
    TaskCreate,
    TaskPatch,
    TaskReplace,
    TaskStats,
)

endpoints = Endpoints("/api/{user_id}/tasks")

TaskId = Annotated[int, PathId("task_id")]
IfMatch = Annotated[str | None, Header("If-Match")]
IfNoneMatch = Annotated[str | None, Header("If-None-Match")]


def _answer(row: TaskRow, status: int = 200, location: str | None = None) -> Answer:
    """A write's answer: the Task after it, serialised within the write's unit of work (an
    Idempotency-Key keeps it with the change, backend.idempotency)."""
    task = row_to_api(row)
    return Answer(status, to_json(task), task["etag"], location)


def _changed_answer(changed: Changed) -> Answer:
    """The answer of a change; one that changed nothing need not be kept for retries."""
    return replace(_answer(changed.row), keep=changed.changed)


@endpoints.get("")
async def list_tasks(
    owner: TaskOwner, params: Annotated[ListTasksParametersQuery, Query]
) -> Response:
    query = task_input.list_query(params, owner.services.list_cursors, owner.user_id)

    # Serialised in the unit of work, within the user's share: a flood of long pages is
    # bounded like the queries that fetch them.
    def page(connection: Connection, user: UserCheck) -> bytes:
        return listing.list_tasks(connection, user, query, owner.services.list_cursors).json()

    return json_body(await owner.read(page, heavy=expensive(query)))


@endpoints.post("")
async def create_task(
    request: Request, owner: TaskOwner, body: Annotated[TaskCreate, Body()]
) -> Response:
    new = task_input.new_task(body)
    location = f"/api/{quote(owner.user_id, safe='')}/tasks/"
    quotas = owner.services.quotas

    def create(connection: Connection, user: UserCheck) -> Answer:
        row = changes.create_task(connection, user, new, quotas)
        return _answer(row, 201, f"{location}{row.id}")

    return await owner.services.writes.answer(request, owner.user_id, owner.write, create)


# Before /{task_id}: "stats" and "changes" are not task ids.
@endpoints.get("/stats")
async def task_stats(
    owner: TaskOwner, params: Annotated[GetTaskStatsParametersQuery, Query]
) -> Response:
    zone, quotas = task_input.time_zone(params.tz), owner.services.quotas
    counts = await owner.read(lambda c, user: stats.stats(c, user.user_id, zone, quotas))
    return json_response(TaskStats.model_validate(counts))


@endpoints.get("/changes")
async def list_task_changes(
    owner: TaskOwner, params: Annotated[ListTaskChangesParametersQuery, Query]
) -> Response:
    cursors, retention = owner.services.feed_cursors, owner.services.settings.feed_retention_days
    since = (
        cursors.decode(owner.user_id, params.since) if "since" in params.model_fields_set else None
    )

    def changed(connection: Connection, user: UserCheck) -> bytes:  # serialised within the share
        page = feed.changes_since(connection, user.user_id, since, params.limit, retention)
        return page.json(cursors.encode(user.user_id, page.cursor))

    return json_body(await owner.read(changed, heavy=feed.expensive(params.limit)))


@endpoints.route("/stats", ["POST", "PUT", "PATCH", "DELETE"], status=None)
@endpoints.route("/changes", ["POST", "PUT", "PATCH", "DELETE"], status=None)
async def other_methods() -> Response:
    # Without this, PUT /tasks/stats would reach replaceTask and fail on task_id (422).
    raise HTTPException(405)


@endpoints.get("/{task_id}")
async def get_task(owner: TaskOwner, task_id: TaskId, if_none_match: IfNoneMatch) -> Response:
    row = await owner.read(lambda c, user: changes.get_task(c, user, task_id))
    current = etag_of(row)
    if if_none_match is not None and etags.if_none_match(if_none_match, current):
        return Response(status_code=304, headers={"ETag": current})
    task = row_to_api(row)
    return json_content(task, 200, {"ETag": task["etag"]})


@endpoints.put("/{task_id}")
async def replace_task(
    request: Request,
    owner: TaskOwner,
    task_id: TaskId,
    if_match: IfMatch,
    body: Annotated[TaskReplace, Body(invalid=task_input.incomplete_replacement)],
) -> Response:
    return await _change(request, owner, task_id, task_input.replacement(body), if_match)


@endpoints.patch("/{task_id}")
async def update_task(
    request: Request,
    owner: TaskOwner,
    task_id: TaskId,
    if_match: IfMatch,
    body: Annotated[TaskPatch, Body()],
) -> Response:
    return await _change(request, owner, task_id, task_input.changes(body), if_match)


async def _change(
    request: Request, owner: TaskOwner, task_id: int, change: TaskChanges, if_match: str | None
) -> Response:
    """PUT and PATCH: the same change of a task, from a whole task or some fields."""
    quotas = owner.services.quotas
    return await _changing(
        request,
        owner,
        lambda c, user: changes.update_task(c, user, task_id, change, quotas, if_match),
    )


async def _changing(
    request: Request, owner: TaskOwner, change: Callable[[Connection, UserCheck], Changed]
) -> Response:
    """A change of one task (PUT, PATCH, complete), answered with the task after it."""
    return await owner.services.writes.answer(
        request, owner.user_id, owner.write, lambda c, user: _changed_answer(change(c, user))
    )


@endpoints.patch("/{task_id}/complete")
async def complete_task(
    request: Request,
    owner: TaskOwner,
    task_id: TaskId,
    if_match: IfMatch,
    body: Annotated[TaskCompletion | None, Body()],
) -> Response:
    completed = None if body is None else body.completed  # no body: toggle
    quotas = owner.services.quotas
    return await _changing(
        request,
        owner,
        lambda c, user: changes.set_completion(c, user, task_id, completed, quotas, if_match),
    )


@endpoints.delete("/{task_id}")
async def delete_task(
    request: Request, owner: TaskOwner, task_id: TaskId, if_match: IfMatch
) -> Response:
    def delete(connection: Connection, user: UserCheck) -> Answer:
        changes.delete_task(connection, user, task_id, if_match)
        return Answer(204)

    return await owner.services.writes.answer(request, owner.user_id, owner.write, delete)
