"""The ceiling: the same SQL as ours with the raw driver, and nothing else.

A bare Starlette app: psycopg2 through a small pool that behaves like SQLAlchemy's
QueuePool (5 kept + 10 overflow by default; DB_POOL_SIZE / DB_MAX_OVERFLOW), one
threadpool hop and one transaction per request, rows turned into JSON with the standard
library. No validation, no authentication (the user is the path's), no problem details.
Per request it runs the statements ours runs: the user lookup, then the task statement(s)
(SELECT … FOR UPDATE + UPDATE for the writes), then COMMIT; only SQLAlchemy's pre-ping is
left out.

    DATABASE_URL=postgresql://… uvicorn bench.ceiling_app:app
"""

import json
import os
import threading
from collections.abc import AsyncIterator, Callable
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
COLUMNS = ("id", "user_id", "title", "description", "completed", "created_at", "updated_at")
SELECT_USER = "SELECT id, email, name, created_at FROM users WHERE id = %s"
INSERT_USER = (
    "INSERT INTO users (id, email, name, created_at) VALUES (%s, NULL, NULL, %s) "
    "ON CONFLICT DO NOTHING"
)
LIST_ALL = (
    "SELECT id, user_id, title, description, completed, created_at, updated_at, "
    "count(*) OVER () FROM tasks WHERE user_id = %s "
    "ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s"
)
LIST_BY_STATUS = (
    "SELECT id, user_id, title, description, completed, created_at, updated_at, "
    "count(*) OVER () FROM tasks WHERE user_id = %s AND completed = %s "
    "ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s"
)
SELECT_TASK = (
    "SELECT id, user_id, title, description, completed, created_at, updated_at "
    "FROM tasks WHERE user_id = %s AND id = %s"
)
SELECT_TASK_FOR_UPDATE = SELECT_TASK + " FOR UPDATE"
INSERT_TASK = (
    "INSERT INTO tasks (user_id, title, description, completed, created_at, updated_at) "
    "VALUES (%s, %s, %s, false, %s, %s) RETURNING id"
)
# UPDATE … SET <the changed columns>, updated_at: one literal statement per column set.
EDITABLE = ("title", "description", "completed")
UPDATES = {
    ("title",): "UPDATE tasks SET title = %s, updated_at = %s WHERE id = %s",
    ("description",): "UPDATE tasks SET description = %s, updated_at = %s WHERE id = %s",
    ("completed",): "UPDATE tasks SET completed = %s, updated_at = %s WHERE id = %s",
    ("title", "description"): (
        "UPDATE tasks SET title = %s, description = %s, updated_at = %s WHERE id = %s"
    ),
    ("title", "completed"): (
        "UPDATE tasks SET title = %s, completed = %s, updated_at = %s WHERE id = %s"
    ),
    ("description", "completed"): (
        "UPDATE tasks SET description = %s, completed = %s, updated_at = %s WHERE id = %s"
    ),
    ("title", "description", "completed"): (
        "UPDATE tasks SET title = %s, description = %s, completed = %s, updated_at = %s "
        "WHERE id = %s"
    ),
}


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


def timestamp(value: datetime) -> str:
    text = value.isoformat()  # the session's time zone is UTC: always ends in +00:00
    return text[:-6] + "Z"


def task_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "id": row[0],
        "user_id": row[1],
        "title": row[2],
        "description": row[3],
        "completed": row[4],
        "created_at": timestamp(row[5]),
        "updated_at": timestamp(row[6]),
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

    def work(cur: Cursor) -> list[tuple[Any, ...]]:
        ensure_user(cur, user_id)
        if status == "all":
            cur.execute(LIST_ALL, (user_id, limit, offset))
        else:
            cur.execute(LIST_BY_STATUS, (user_id, status == "completed", limit, offset))
        return cur.fetchall()

    rows = await run_in_threadpool(transaction, work)
    total = rows[0][7] if rows else 0
    items = [task_dict(row) for row in rows]
    return json_response({"items": items, "total": total, "limit": limit, "offset": offset})


async def create_task(request: Request) -> Response:
    user_id = request.path_params["user_id"]
    body = json.loads(await request.body())
    title, description = body["title"], body.get("description")
    now = datetime.now(UTC)

    def work(cur: Cursor) -> int:
        ensure_user(cur, user_id)
        cur.execute(INSERT_TASK, (user_id, title, description, now, now))
        row = cur.fetchone()
        assert row is not None
        return int(row[0])

    task_id = await run_in_threadpool(transaction, work)
    row = (task_id, user_id, title, description, False, now, now)
    return json_response(task_dict(row), 201, {"Location": f"/api/{user_id}/tasks/{task_id}"})


async def get_task(request: Request) -> Response:
    user_id = request.path_params["user_id"]
    task_id = request.path_params["task_id"]

    def work(cur: Cursor) -> tuple[Any, ...] | None:
        ensure_user(cur, user_id)
        cur.execute(SELECT_TASK, (user_id, task_id))
        return cur.fetchone()

    row = await run_in_threadpool(transaction, work)
    return NOT_FOUND if row is None else json_response(task_dict(row))


def _update(
    user_id: str, task_id: int, change: Callable[[dict[str, Any]], dict[str, Any]]
) -> Callable[[Cursor], dict[str, Any] | None]:
    """SELECT … FOR UPDATE, then UPDATE only the changed columns (and updated_at)."""

    def work(cur: Cursor) -> dict[str, Any] | None:
        ensure_user(cur, user_id)
        cur.execute(SELECT_TASK_FOR_UPDATE, (user_id, task_id))
        row = cur.fetchone()
        if row is None:
            return None
        task = dict(zip(COLUMNS, row, strict=True))
        changes = {k: v for k, v in change(task).items() if k in EDITABLE and task[k] != v}
        if changes:
            # updated_at moves forward on every change, even within one clock tick (as ours)
            now = max(datetime.now(UTC), task["updated_at"] + ONE_MICROSECOND)
            statement = UPDATES[tuple(c for c in EDITABLE if c in changes)]
            cur.execute(statement, (*(changes[c] for c in EDITABLE if c in changes), now, task_id))
            task.update(changes, updated_at=now)
        return task

    return work


async def _respond(work: Callable[[Cursor], dict[str, Any] | None]) -> Response:
    task = await run_in_threadpool(transaction, work)
    if task is None:
        return NOT_FOUND
    return json_response(task_dict(tuple(task.values())))


async def patch_task(request: Request) -> Response:
    body = json.loads(await request.body())
    fields = {k: body[k] for k in ("title", "description", "completed") if k in body}
    user_id, task_id = request.path_params["user_id"], request.path_params["task_id"]
    return await _respond(_update(user_id, task_id, lambda _task: fields))


async def complete_task(request: Request) -> Response:
    raw = await request.body()
    target = json.loads(raw)["completed"] if raw else None
    user_id, task_id = request.path_params["user_id"], request.path_params["task_id"]

    def flip(task: dict[str, Any]) -> dict[str, Any]:
        return {"completed": (not task["completed"]) if target is None else target}

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
