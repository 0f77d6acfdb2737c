"""/api/{user_id}/tasks…: HTTP in, generated models out. Rules live in backend.tasks."""

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Header, Path, Request
from pydantic import BeforeValidator
from pydantic_core import to_json
from sqlalchemy import Connection
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from backend.errors import InvalidInput
from backend.http.body import parse_body, parse_optional_body
from backend.http.query import parameters
from backend.idempotency.store import Answer
from backend.routes.deps import (
    AppSettings,
    FeedCursors,
    Owner,
    TaskOwner,
    as_user,
    json_body,
    json_content,
    json_response,
    writing_as_user,
)
from backend.tasks import changes, etags, feed, listing
from backend.tasks import input as task_input
from backend.tasks.changes import Changed
from backend.tasks.fields import TaskChanges
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

INT64_MAX = 2**63 - 1
T = TypeVar("T")

router = APIRouter(prefix="/api/{user_id}/tasks", tags=["tasks"])
# A task id is written in canonical decimal: "+3", " 3", "03" and "1_0" (which int() and
# Pydantic's lax mode read as 3 and 10) are 422, so one task has one URL.
_CANONICAL_ID = re.compile(r"[1-9][0-9]*")


def _canonical(value: object) -> object:
    if isinstance(value, str) and not _CANONICAL_ID.fullmatch(value):
        raise ValueError("must be a task id: decimal digits, no sign, spaces or leading zeros")
    return value


TaskId = Annotated[int, BeforeValidator(_canonical), Path(ge=1, le=INT64_MAX)]
IfMatch = Annotated[str | None, Header(alias="If-Match")]
IfNoneMatch = Annotated[str | None, Header(alias="If-None-Match")]


def _task_response(task: dict[str, Any]) -> Response:
    """A Task (from rows.row_to_api), its ETag in the header too."""
    return json_content(task, 200, {"ETag": task["etag"]})


def _answer(row: TaskRow, status: int = 200, location: str | None = None) -> Answer:
    """A write's answer: the Task after it, serialised within the write's unit of work (an
    Idempotency-Key keeps it with the change, backend.idempotency)."""
    task = row_to_api(row)
    return Answer(status, to_json(task), task["etag"], location)


def _changed_answer(changed: Changed) -> Answer:
    """The answer of a change; one that changed nothing need not be kept for retries."""
    return replace(_answer(changed.row), keep=changed.changed)


async def _write(
    request: Request, owner: TaskOwner, write: Callable[[Connection], Answer]
) -> Response:
    """A write, at most once per Idempotency-Key, with the user kept from being deleted
    under it."""

    async def as_owner(work: Callable[[Connection], T]) -> T:
        return await writing_as_user(owner, work)

    return await owner.writes.answer(request, owner.user_id, as_owner, write)


@router.get("", status_code=200)
async def list_tasks(request: Request, owner: Owner) -> Response:
    params = parameters(request, ListTasksParametersQuery)
    query = task_input.list_query(params)
    filters = task_input.cursor_page(params, query, owner.cursors, owner.user_id)
    limit, offset = params.limit, params.offset

    # Serialised in the unit of work, within the user's share: a flood of long pages is
    # bounded like the queries that fetch them.
    def page(connection: Connection) -> bytes:
        items, total, following = listing.list_tasks(
            connection, owner.user_id, filters, limit, offset
        )
        next_cursor = (
            None if following is None else owner.cursors.seal(owner.user_id, filters, following)
        )
        body = {"items": items, "total": total, "limit": limit, "offset": offset}
        return to_json({**body, "next_cursor": next_cursor})

    return json_body(await as_user(owner, page, heavy=listing.expensive(filters, offset)))


@router.post("", status_code=201)
async def create_task(request: Request, owner: Owner) -> Response:
    new = task_input.new_task(await parse_body(request, TaskCreate))

    def create(connection: Connection) -> Answer:
        row = changes.create_task(connection, owner.user_id, new, owner.quotas)
        return _answer(row, 201, f"/api/{quote(owner.user_id, safe='')}/tasks/{row.id}")

    return await _write(request, owner, create)


# Before /{task_id}: "stats" is not a task id.
@router.get("/stats", status_code=200)
async def task_stats(
    request: Request,
    owner: Owner,
) -> Response:
    zone = task_input.time_zone(parameters(request, GetTaskStatsParametersQuery).tz)
    counts = await as_user(owner, lambda c: listing.stats(c, owner.user_id, zone, owner.quotas))
    return json_response(TaskStats.model_validate(counts))


@router.get("/changes", status_code=200)
async def list_task_changes(
    request: Request, owner: Owner, cursors: FeedCursors, settings: AppSettings
) -> Response:
    params = parameters(request, ListTaskChangesParametersQuery)
    since = (
        cursors.decode(owner.user_id, params.since) if "since" in params.model_fields_set else None
    )
    retention, limit = settings.feed_retention_days, params.limit

    def changed(connection: Connection) -> bytes:  # serialised within the share, as a list
        page = feed.changes_since(connection, owner.user_id, since, limit, retention)
        cursor = cursors.encode(owner.user_id, page.cursor)
        body = {"changes": page.changes, "deleted": page.deleted, "has_more": page.has_more}
        return to_json({**body, "cursor": cursor})

    return json_body(await as_user(owner, changed, heavy=feed.expensive(limit)))


# Before /{task_id}: "stats" and "changes" are not task ids.
@router.api_route("/stats", methods=["POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
@router.api_route("/changes", methods=["POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def other_methods() -> None:
    # Without this, PUT /tasks/stats would reach replaceTask and fail on task_id (422).
    raise StarletteHTTPException(405)


@router.get("/{task_id}", status_code=200)
async def get_task(owner: Owner, task_id: TaskId, if_none_match: IfNoneMatch = None) -> Response:
    row = await as_user(owner, lambda c: changes.get_task(c, owner.user_id, task_id))
    current = etag_of(row)
    if if_none_match is not None and etags.if_none_match(if_none_match, current):
        return Response(status_code=304, headers={"ETag": current})
    return _task_response(row_to_api(row))


@router.put("/{task_id}", status_code=200)
async def replace_task(
    request: Request, owner: Owner, task_id: TaskId, if_match: IfMatch = None
) -> Response:
    try:
        body = await parse_body(request, TaskReplace)
    except InvalidInput as error:
        raise task_input.incomplete_replacement(error) from None
    return await _change(request, owner, task_id, task_input.replacement(body), if_match)


@router.patch("/{task_id}", status_code=200)
async def update_task(
    request: Request, owner: Owner, task_id: TaskId, if_match: IfMatch = None
) -> Response:
    change = task_input.changes(await parse_body(request, TaskPatch))
    return await _change(request, owner, task_id, change, if_match)


@router.patch("/{task_id}/complete", status_code=200)
async def complete_task(
    request: Request, owner: Owner, task_id: TaskId, if_match: IfMatch = None
) -> Response:
    body = await parse_optional_body(request, TaskCompletion)
    completed = None if body is None else body.completed  # no body: toggle

    def complete(connection: Connection) -> Answer:
        return _changed_answer(
            changes.set_completion(
                connection, owner.user_id, task_id, completed, owner.quotas, if_match
            )
        )

    return await _write(request, owner, complete)


async def _change(
    request: Request, owner: TaskOwner, task_id: int, change: TaskChanges, if_match: str | None
) -> Response:
    """PUT and PATCH: the same change of a task, from a whole task or some fields."""

    def update(connection: Connection) -> Answer:
        return _changed_answer(
            changes.update_task(connection, owner.user_id, task_id, change, owner.quotas, if_match)
        )

    return await _write(request, owner, update)


@router.delete("/{task_id}", status_code=204)
async def delete_task(
    request: Request, owner: Owner, task_id: TaskId, if_match: IfMatch = None
) -> Response:
    def delete(connection: Connection) -> Answer:
        changes.delete_task(connection, owner.user_id, task_id, if_match)
        return Answer(204)

    return await _write(request, owner, delete)
