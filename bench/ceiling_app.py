"""The ceiling: the same SQL as ours with the raw driver, and nothing else.

A bare Starlette app: psycopg2 through a small pool that behaves like SQLAlchemy's
QueuePool (5 kept + 10 overflow by default; DB_POOL_SIZE / DB_MAX_OVERFLOW), one
threadpool hop and one transaction per request, rows turned into JSON with the standard
library. No validation, no authentication (the user is the path's), no problem details.
Per request it runs the statements ours runs: the user check, then the task statement(s),
then COMMIT (ours has no pre-ping either). A list reads the page (every column,
LIMIT/OFFSET) and counts the user's tasks only when the page is full; a write reads the row
FOR UPDATE, then UPDATEs the changed columns with the version bumped WHERE version = the
one read. Responses are the contract's Task (all fields, ETag header on single tasks) and
TaskPage. A PATCH handles title, description, completed and priority (what the benchmark
sends, and a plain column); tags, due dates and repeat rules are left to ours.

    DATABASE_URL=postgresql://… uvicorn bench.ceiling_app:app
"""

import base64
import json
import os
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import psycopg2
from psycopg2.extensions import connection as Connection
from psycopg2.extensions import cursor as Cursor
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

T = TypeVar("T")
ONE_MICROSECOND = timedelta(microseconds=1)
PRIORITY_RANKS = {"low": 1, "medium": 2, "high": 3}
PRIORITY_NAMES = {rank: name for name, rank in PRIORITY_RANKS.items()}
# Every column of tasks, in the order ours selects them.
COLUMNS = (
    "id", "user_id", "title", "description", "completed", "completed_at", "priority",
    "tag_names", "due_at", "recurrence_frequency", "recurrence_interval", "recurrence_day",
    "next_occurrence_id", "version", "created_at", "updated_at",
)  # fmt: skip
INDEX = {name: i for i, name in enumerate(COLUMNS)}
SELECT_TASKS = (
    "SELECT id, user_id, title, description, completed, completed_at, priority, tag_names, "
    "due_at, recurrence_frequency, recurrence_interval, recurrence_day, next_occurrence_id, "
    "version, created_at, updated_at FROM tasks "
)
# The user check of ours (revoked tokens): one column of the user's row.
SELECT_USER = "SELECT tokens_valid_after FROM users WHERE id = %s"
INSERT_USER = (
    "INSERT INTO users (id, email, name, created_at) VALUES (%s, NULL, NULL, %s) "
    "ON CONFLICT DO NOTHING"
)
LIST_ALL = SELECT_TASKS + (
    "WHERE user_id = %s ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s"
)
LIST_BY_STATUS = SELECT_TASKS + (
    "WHERE user_id = %s AND completed = %s ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s"
)
COUNT_ALL = "SELECT count(*) FROM tasks WHERE user_id = %s"
COUNT_BY_STATUS = "SELECT count(*) FROM tasks WHERE user_id = %s AND completed = %s"
SELECT_TASK = SELECT_TASKS + "WHERE user_id = %s AND id = %s"
SELECT_TASK_FOR_UPDATE = SELECT_TASK + " FOR UPDATE"
INSERT_TASK = (
    "INSERT INTO tasks (user_id, title, description, completed, completed_at, priority, "
    "tag_names, due_at, recurrence_frequency, recurrence_interval, recurrence_day, "
    "next_occurrence_id, version, created_at, updated_at) "
    "VALUES (%s, %s, %s, false, NULL, %s, '[]', NULL, NULL, NULL, NULL, NULL, 1, %s, %s) "
    "RETURNING id"
)
# The columns a PATCH may change (the fields the benchmark sends, and priority); completed
# brings completed_at along. Tags, due dates and repeat rules are not handled here.
EDITABLE = ("title", "description", "completed", "priority")
_UPDATES: dict[tuple[str, ...], str] = {}


def update_statement(columns: tuple[str, ...]) -> str:
    """UPDATE … SET <the changed columns>, version, updated_at WHERE id AND version (as
    ours: the version moves on every change and the write is conditional on the read)."""
    statement = _UPDATES.get(columns)
    if statement is None:
        assignments = "".join(f"{column} = %s, " for column in columns)
        statement = _UPDATES[columns] = (
            f"UPDATE tasks SET {assignments}version = %s, updated_at = %s "  # noqa: S608 (names from EDITABLE)
            "WHERE id = %s AND version = %s"
        )
    return statement


class Pool:
    """At most size + overflow connections; at most `size` kept open when idle."""

    def __init__(self, dsn: str, size: int = 5, overflow: int = 10) -> None:
        self._dsn = dsn
        self._size = size
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size + overflow)

    def acquire(self) -> Connection:
        self._slots.acquire()
        with self._lock:
            if self._idle:
                return self._idle.pop()
        try:
            return psycopg2.connect(self._dsn, options="-c timezone=UTC")
        except BaseException:
            self._slots.release()
            raise

    def release(self, conn: Connection) -> None:
        keep = False
        if not conn.closed:
            with self._lock:
                if len(self._idle) < self._size:
                    self._idle.append(conn)
                    keep = True
        if not keep:
            conn.close()
        self._slots.release()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


pool = Pool(
    os.environ["DATABASE_URL"],
    size=int(os.environ.get("DB_POOL_SIZE", 5)),
    overflow=int(os.environ.get("DB_MAX_OVERFLOW", 10)),
)


def transaction(work: Callable[[Cursor], T]) -> T:
    conn = pool.acquire()
    try:
        with conn, conn.cursor() as cur:  # COMMIT on success, ROLLBACK on error
            return work(cur)
    finally:
        pool.release(conn)


def ensure_user(cur: Cursor, user_id: str) -> None:
    cur.execute(SELECT_USER, (user_id,))
    if cur.fetchone() is None:
        cur.execute(INSERT_USER, (user_id, datetime.now(UTC)))


def timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    text = value.isoformat()  # the session's time zone is UTC: always ends in +00:00
    return text[:-6] + "Z"


def task_dict(row: Sequence[Any]) -> dict[str, Any]:
    """A row of COLUMNS as the contract's Task."""
    (
        task_id, user_id, title, description, completed, completed_at, priority, tag_names,
        due_at, frequency, interval, _day, next_occurrence_id, version, created_at, updated_at,
    ) = row  # fmt: skip
    return {
        "id": task_id,
        "user_id": user_id,
        "title": title,
        "description": description,
        "completed": completed,
        "completed_at": timestamp(completed_at),
        "priority": PRIORITY_NAMES[priority],
        "tags": tag_names,
        "due_at": timestamp(due_at),
        "recurrence": None if frequency is None else {"frequency": frequency, "interval": interval},
        "next_occurrence_id": next_occurrence_id,
        "etag": f'"{task_id}.{version}"',
        "created_at": timestamp(created_at),
        "updated_at": timestamp(updated_at),
    }


def json_response(
    content: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    body = json.dumps(content, separators=(",", ":"), ensure_ascii=False)
    return Response(body, status, headers, media_type="application/json")


NOT_FOUND = Response(b'{"detail":"Not Found"}', 404, media_type="application/json")


async def ready(_request: Request) -> Response:
    await run_in_threadpool(transaction, lambda cur: cur.execute("SELECT 1"))
    return json_response({"status": "ok", "database": "ok"})


async def list_tasks(request: Request) -> Response:
    user_id = request.path_params["user_id"]
    params = request.query_params
    limit = int(params.get("limit", 20))
    offset = int(params.get("offset", 0))
    status = params.get("status", "all")

    def work(cur: Cursor) -> tuple[list[tuple[Any, ...]], int]:
        ensure_user(cur, user_id)
        if status == "all":
            cur.execute(LIST_ALL, (user_id, limit + 1, offset))  # one more: a next page?
        else:
            cur.execute(LIST_BY_STATUS, (user_id, status == "completed", limit + 1, offset))
        rows = cur.fetchall()
        if len(rows) <= limit and (rows or offset == 0):
            return rows, offset + len(rows)  # the last page: no need to count
        if status == "all":
            cur.execute(COUNT_ALL, (user_id,))
        else:
            cur.execute(COUNT_BY_STATUS, (user_id, status == "completed"))
        count = cur.fetchone()
        assert count is not None
        return rows, int(count[0])

    rows, total = await run_in_threadpool(transaction, work)
    more = len(rows) > limit
    items = [task_dict(row) for row in rows[:limit]]
    following = None
    if more:  # where the next page starts, as ours says it (an opaque token of key and id)
        last = items[-1]
        text = json.dumps([last["created_at"], last["id"]])
        following = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    page = {"items": items, "total": total, "limit": limit, "offset": offset}
    return json_response({**page, "next_cursor": following})


def task_response(
    row: Sequence[Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    task = task_dict(row)
    return json_response(task, status, {"ETag": task["etag"], **(headers or {})})


async def create_task(request: Request) -> Response:
    user_id = request.path_params["user_id"]
    body = json.loads(await request.body())
    title, description = body["title"], body.get("description")
    priority = PRIORITY_RANKS[body.get("priority", "medium")]
    now = datetime.now(UTC)

    def work(cur: Cursor) -> int:
        ensure_user(cur, user_id)
        cur.execute(INSERT_TASK, (user_id, title, description, priority, now, now))
        row = cur.fetchone()
        assert row is not None
        return int(row[0])

    task_id = await run_in_threadpool(transaction, work)
    row = (
        task_id, user_id, title, description, False, None, priority, [], None, None, None, None,
        None, 1, now, now,
    )  # fmt: skip
    return task_response(row, 201, {"Location": f"/api/{user_id}/tasks/{task_id}"})


async def get_task(request: Request) -> Response:
    user_id = request.path_params["user_id"]
    task_id = request.path_params["task_id"]

    def work(cur: Cursor) -> tuple[Any, ...] | None:
        ensure_user(cur, user_id)
        cur.execute(SELECT_TASK, (user_id, task_id))
        return cur.fetchone()

    row = await run_in_threadpool(transaction, work)
    return NOT_FOUND if row is None else task_response(row)


def _update(
    user_id: str, task_id: int, change: Callable[[list[Any]], dict[str, Any]]
) -> Callable[[Cursor], list[Any] | None]:
    """SELECT … FOR UPDATE, then UPDATE only the changed columns, completed_at when the
    completion changed, the version and updated_at (nothing when nothing changed)."""

    def work(cur: Cursor) -> list[Any] | None:
        ensure_user(cur, user_id)
        cur.execute(SELECT_TASK_FOR_UPDATE, (user_id, task_id))
        found = cur.fetchone()
        if found is None:
            return None
        task = list(found)
        changes = {
            column: value
            for column, value in change(task).items()
            if column in EDITABLE and task[INDEX[column]] != value
        }
        if not changes:
            return task
        # updated_at moves forward on every change, even within one clock tick (as ours)
        now = max(datetime.now(UTC), task[INDEX["updated_at"]] + ONE_MICROSECOND)
        if "completed" in changes:
            completed_at = now if changes["completed"] else None
            if completed_at != task[INDEX["completed_at"]]:
                changes["completed_at"] = completed_at
        version = task[INDEX["version"]]
        columns = tuple(changes)
        cur.execute(
            update_statement(columns), (*changes.values(), version + 1, now, task_id, version)
        )
        if cur.rowcount != 1:
            raise RuntimeError(f"task {task_id} changed under its row lock")
        for column, value in changes.items():
            task[INDEX[column]] = value
        task[INDEX["version"]] = version + 1
        task[INDEX["updated_at"]] = now
        return task

    return work


async def _respond(work: Callable[[Cursor], list[Any] | None]) -> Response:
    task = await run_in_threadpool(transaction, work)
    return NOT_FOUND if task is None else task_response(task)


async def patch_task(request: Request) -> Response:
    body = json.loads(await request.body())
    fields = {k: body[k] for k in ("title", "description", "completed") if k in body}
    if "priority" in body:
        fields["priority"] = PRIORITY_RANKS[body["priority"]]
    user_id, task_id = request.path_params["user_id"], request.path_params["task_id"]
    return await _respond(_update(user_id, task_id, lambda _task: fields))


async def complete_task(request: Request) -> Response:
    raw = await request.body()
    target = json.loads(raw)["completed"] if raw else None
    user_id, task_id = request.path_params["user_id"], request.path_params["task_id"]

    def flip(task: list[Any]) -> dict[str, Any]:
        completed = task[INDEX["completed"]]
        return {"completed": (not completed) if target is None else target}

    return await _respond(_update(user_id, task_id, flip))


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    yield
    pool.close()


app = Starlette(
    routes=[
        Route("/api/health/ready", ready, methods=["GET"]),
        Route("/api/{user_id}/tasks", list_tasks, methods=["GET"]),
        Route("/api/{user_id}/tasks", create_task, methods=["POST"]),
        Route("/api/{user_id}/tasks/{task_id:int}", get_task, methods=["GET"]),
        Route("/api/{user_id}/tasks/{task_id:int}", patch_task, methods=["PATCH"]),
        Route("/api/{user_id}/tasks/{task_id:int}/complete", complete_task, methods=["PATCH"]),
    ],
    lifespan=lifespan,
)
