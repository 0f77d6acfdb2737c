"""Task queries and rules. Every function takes the owner's user id: there is no way
to read or write a task by id alone."""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    delete,
    func,
    insert,
    not_,
    or_,
    update,
)
from sqlmodel import col, select

from backend import etags, recurrence, tags
from backend.db import StaleRow, contains_text, like_pattern, lower_text, utcnow
from backend.models import Task
from generated.models import SortOrder, TaskSort, TaskStatusFilter

PRIORITY_RANKS = {"low": 1, "medium": 2, "high": 3}
PRIORITY_NAMES = {rank: name for name, rank in PRIORITY_RANKS.items()}
EDITABLE_FIELDS = frozenset(
    {"title", "description", "completed", "priority", "tags", "due_at", "recurrence"}
)
_COLUMNS = tuple(Task.__table__.columns)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Rule:
    """A repeat rule as the API states it."""

    frequency: str
    interval: int


@dataclass(frozen=True)
class ListQuery:
    """Filters and order of a task listing (every filter narrows; None/empty = no filter)."""

    status: TaskStatusFilter = TaskStatusFilter.all
    priorities: tuple[int, ...] = ()
    tags: tuple[str, ...] = ()  # all of these
    # The ids of `tags`, looked up first (list_tasks does): with literal ids PostgreSQL
    # estimates each tag's share of the user's tasks from statistics, where a join on the
    # tags table leaves it guessing the average (a few rows) and picking a bad plan.
    tag_ids: tuple[int, ...] | None = None
    q: str | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None
    overdue: bool | None = None
    sort: TaskSort = TaskSort.created_at
    order: SortOrder = SortOrder.desc


_ROW_ORDER = (
    "id", "user_id", "title", "description", "completed", "completed_at", "priority",
    "tag_names", "due_at", "recurrence_frequency", "recurrence_interval", "recurrence_day",
    "next_occurrence_id", "version", "created_at", "updated_at",
)  # fmt: skip
# row_to_api unpacks rows in this order; a new column must be added there too.
assert tuple(column.name for column in _COLUMNS) == _ROW_ORDER, "tasks columns changed"


def row_to_api(row: Any) -> dict[str, Any]:
    """A Core row of every tasks column (_COLUMNS) as the contract's Task: to_api by
    position, without a Row attribute lookup per field (a page has 20 rows of 16)."""
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
        "completed_at": completed_at,
        "priority": PRIORITY_NAMES[priority],
        "tags": tag_names,
        "due_at": due_at,
        "recurrence": (
            None if frequency is None else {"frequency": frequency, "interval": interval}
        ),
        "next_occurrence_id": next_occurrence_id,
        "etag": etags.etag(task_id, version),
        "created_at": created_at,
        "updated_at": updated_at,
    }


def etag_of(task: Any) -> str:
    """The ETag of a stored task (ORM object or Core row)."""
    return etags.etag(task.id, task.version)


# --- listing ---


@dataclass(frozen=True)
class _Shape:
    """What a listing's SQL depends on; the values go in as bind parameters. Statements are
    built once per shape (and SQLAlchemy compiles each once), not per request."""

    status: TaskStatusFilter
    priorities: bool
    tag_count: int
    search: bool
    due_before: bool
    due_after: bool
    overdue: bool | None
    sort: TaskSort
    order: SortOrder
    skips: bool  # offset > 0


def _shape(query: ListQuery, offset: int) -> _Shape:
    if query.tags and query.tag_ids is None:
        raise ValueError("look the tag ids up first (list_tasks does)")
    return _Shape(
        status=query.status,
        priorities=bool(query.priorities),
        tag_count=len(query.tag_ids or ()),
        search=query.q is not None,
        due_before=query.due_before is not None,
        due_after=query.due_after is not None,
        overdue=query.overdue,
        sort=query.sort,
        order=query.order,
        skips=offset > 0,
    )


def _params(
    user_id: str, query: ListQuery, limit: int, offset: int, now: datetime
) -> dict[str, Any]:
    params: dict[str, Any] = {"user_id": user_id, "limit": limit, "offset": offset, "now": now}
    params["priorities"] = list(query.priorities)
    params.update({f"tag_{index}": tag_id for index, tag_id in enumerate(query.tag_ids or ())})
    params["pattern"] = None if query.q is None else like_pattern(query.q)
    params["due_before"] = query.due_before
    params["due_after"] = query.due_after
    return params


def _conditions(shape: _Shape) -> list[Any]:
    conditions: list[Any] = [col(Task.user_id) == bindparam("user_id")]
    if shape.status is not TaskStatusFilter.all:
        conditions.append(col(Task.completed) == (shape.status is TaskStatusFilter.completed))
    if shape.priorities:
        conditions.append(col(Task.priority).in_(bindparam("priorities", expanding=True)))
    conditions.extend(tags.has_tag_id(bindparam(f"tag_{i}")) for i in range(shape.tag_count))
    if shape.search:
        pattern = bindparam("pattern", type_=String())
        conditions.append(
            or_(
                contains_text(col(Task.title), pattern),
                contains_text(col(Task.description), pattern),
            )
        )
    due = col(Task.due_at)
    if shape.due_before:
        conditions.append(due < bindparam("due_before"))
    if shape.due_after:
        conditions.append(due >= bindparam("due_after"))
    if shape.overdue is not None:
        # NULL-safe: an undated task is "not overdue", not unknown.
        overdue = and_(not_(col(Task.completed)), due.is_not(None), due < bindparam("now"))
        conditions.append(overdue if shape.overdue else not_(overdue))
    return conditions


_SORT_KEYS: dict[TaskSort, Any] = {
    TaskSort.created_at: col(Task.created_at),
    TaskSort.updated_at: col(Task.updated_at),
    TaskSort.due_at: col(Task.due_at),
    TaskSort.priority: col(Task.priority),  # the rank
    TaskSort.title: lower_text(col(Task.title)),
}


def _order_by(shape: _Shape) -> list[Any]:
    """The sort key then id, both in the requested direction: each matches an index (for
    due_at: ix_tasks_user_due ascending, ix_tasks_user_due_desc descending)."""
    descending = shape.order is SortOrder.desc
    key = _SORT_KEYS[shape.sort]
    ordered = key.desc() if descending else key.asc()
    if shape.sort is TaskSort.due_at:
        ordered = ordered.nulls_last()  # undated tasks last in both orders
    return [ordered, col(Task.id).desc() if descending else col(Task.id).asc()]


@lru_cache(maxsize=1024)
def _page(shape: _Shape) -> Select[Any]:
    conditions, order_by = _conditions(shape), _order_by(shape)
    limit = bindparam("limit", type_=Integer())
    if not shape.skips:
        return select(*_COLUMNS).where(*conditions).order_by(*order_by).limit(limit)
    # Deferred join: skip `offset` entries of an index (index-only, no table rows), then
    # read the rows of the page alone. Read directly, every skipped row is fetched, and at
    # a deep offset PostgreSQL may prefer to fetch and sort all of the user's tasks.
    page_ids = (
        select(col(Task.id))
        .where(*conditions)
        .order_by(*order_by)
        .limit(limit)
        .offset(bindparam("offset", type_=Integer()))
    )
    return select(*_COLUMNS).where(col(Task.id).in_(page_ids)).order_by(*order_by)


@lru_cache(maxsize=1024)
def _count(shape: _Shape) -> Select[Any]:
    return select(func.count()).select_from(Task).where(*_conditions(shape))


def page_statement(
    user_id: str, query: ListQuery, limit: int, offset: int, now: datetime
) -> Select[Any]:
    """The page query with its values bound (for EXPLAIN; list_tasks binds at execution)."""
    return _page(_shape(query, offset)).params(_params(user_id, query, limit, offset, now))


def count_statement(user_id: str, query: ListQuery, now: datetime) -> Select[Any]:
    return _count(_shape(query, 0)).params(_params(user_id, query, 0, 0, now))


def list_tasks(
    connection: Connection, user_id: str, query: ListQuery, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """One page (as the contract's Tasks) and the number of matching tasks."""
    if query.tags and query.tag_ids is None:
        tag_ids = tags.find_ids(connection, user_id, query.tags)
        if tag_ids is None:  # a tag nobody uses: nothing can match
            return [], 0
        query = replace(query, tag_ids=tag_ids)
    shape = _shape(query, offset)
    params = _params(user_id, query, limit, offset, utcnow())
    rows = connection.execute(_page(shape), params).all()
    if len(rows) < limit and (rows or offset == 0):
        # The last page: the total is known without counting.
        return [row_to_api(row) for row in rows], offset + len(rows)
    total = connection.execute(_count(shape), params).scalar_one()
    return [row_to_api(row) for row in rows], total


def stats(connection: Connection, user_id: str, zone: tzinfo) -> dict[str, Any]:
    """Counts by priority and status, overdue and due today (in `zone`), in one query that
    reads only ix_tasks_user_completed_due on PostgreSQL."""
    now = utcnow()
    start = datetime.combine(now.astimezone(zone).date(), datetime.min.time(), zone)
    end = datetime.combine(start.date() + timedelta(days=1), datetime.min.time(), zone)
    pending = not_(col(Task.completed))
    due = col(Task.due_at)
    statement = (
        select(
            col(Task.priority),
            col(Task.completed),
            func.count(),
            func.count().filter(and_(pending, due < now)),
            func.count().filter(and_(pending, due >= start, due < end)),
        )
        .where(col(Task.user_id) == user_id)
        .group_by(col(Task.priority), col(Task.completed))
    )
    by_priority = {name: {"pending": 0, "completed": 0} for name in PRIORITY_RANKS}
    overdue = due_today = 0
    for rank, completed, count, overdue_count, today_count in connection.execute(statement):
        by_priority[PRIORITY_NAMES[rank]]["completed" if completed else "pending"] += count
        overdue += overdue_count
        due_today += today_count
    completed_total = sum(counts["completed"] for counts in by_priority.values())
    pending_total = sum(counts["pending"] for counts in by_priority.values())
    return {
        "total": completed_total + pending_total,
        "pending": pending_total,
        "completed": completed_total,
        "by_priority": by_priority,
        "overdue": overdue,
        "due_today": due_today,
    }


# --- single tasks ---


def _next_timestamp(previous: datetime) -> datetime:
    # updated_at must move forward on every change, even within one clock tick.
    return max(utcnow(), previous + timedelta(microseconds=1))


_GET = select(*_COLUMNS).where(
    col(Task.user_id) == bindparam("user_id"), col(Task.id) == bindparam("task_id")
)


def get_task(connection: Connection, user_id: str, task_id: int) -> Any:
    """The task as a Core row (see row_to_api), or None."""
    return connection.execute(_GET, {"user_id": user_id, "task_id": task_id}).first()


def _month_day(due_at: datetime | None, rule: Rule | None) -> int | None:
    return due_at.day if due_at is not None and rule and rule.frequency == "monthly" else None


_INSERT = insert(Task).returning(*_COLUMNS)


def create_task(connection: Connection, user_id: str, fields: dict[str, Any]) -> Any:
    """A new pending task from normalised `fields` (see EDITABLE_FIELDS, all but completed),
    as a Core row (see row_to_api)."""
    now = utcnow()
    rule: Rule | None = fields.get("recurrence")
    due_at: datetime | None = fields.get("due_at")
    return _insert(
        connection,
        {
            "user_id": user_id,
            "title": fields["title"],
            "description": fields.get("description"),
            "priority": fields.get("priority", PRIORITY_RANKS["medium"]),
            "tag_names": list(fields.get("tags", [])),
            "due_at": due_at,
            "recurrence_frequency": rule.frequency if rule else None,
            "recurrence_interval": rule.interval if rule else None,
            "recurrence_day": _month_day(due_at, rule),
            "created_at": now,
            "updated_at": now,
        },
    )


def _insert(connection: Connection, values: dict[str, Any]) -> Any:
    """INSERT … RETURNING of a new pending task (Core: no ORM flush for a plain insert),
    and its tag links."""
    row = connection.execute(
        _INSERT,
        {
            **values,
            "completed": False,
            "completed_at": None,
            "next_occurrence_id": None,
            "version": 1,
        },
    ).one()
    if values["tag_names"]:
        tags.link(connection, values["user_id"], row.id, values["tag_names"])
    return row


_LOCK = _GET.with_for_update()
# SET: the columns named in the parameters (see _apply), the version one up from the one read.
_UPDATE = (
    update(Task)
    .where(col(Task.id) == bindparam("task_id"), col(Task.version) == bindparam("read_version"))
    .returning(*_COLUMNS)
)


def _locked(connection: Connection, user_id: str, task_id: int, if_match: str | None) -> Any:
    # Row lock on PostgreSQL so concurrent read-modify-writes serialise; SQLite has none,
    # and there the version check of the UPDATE catches a concurrent change instead.
    row = connection.execute(_LOCK, {"user_id": user_id, "task_id": task_id}).first()
    if row is not None and if_match is not None:
        etags.require_match(if_match, etag_of(row), task_id)
    return row


def _rule(task: dict[str, Any]) -> Rule | None:
    if task["recurrence_frequency"] is None:
        return None
    return Rule(task["recurrence_frequency"], task["recurrence_interval"])


def _set(task: dict[str, Any], field: str, value: Any) -> None:
    """Store one editable field in `task` (column → value)."""
    if field == "recurrence":
        task["recurrence_frequency"] = value.frequency if value else None
        task["recurrence_interval"] = value.interval if value else None
    elif field == "tags":
        task["tag_names"] = list(value)
    else:
        task[field] = value


def _apply(connection: Connection, row: Any, changes: dict[str, Any]) -> Any:
    """Set editable fields; updated_at and the version (hence the ETag) move only if a
    stored value actually changed. Completing a recurring task creates its next occurrence.
    One UPDATE … WHERE version = <the one read>: a concurrent change in between (possible
    on SQLite, which has no row locks) raises StaleRow and the unit of work runs again."""
    unknown = changes.keys() - EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    stored: dict[str, Any] = row._asdict()
    task = dict(stored)
    for field, value in changes.items():
        _set(task, field, value)
    changed = {column for column, value in task.items() if stored[column] != value}
    if not changed:
        return row
    now = _next_timestamp(stored["updated_at"])
    if changed & {"due_at", "recurrence_frequency", "recurrence_interval"}:
        task["recurrence_day"] = _month_day(task["due_at"], _rule(task))
    if "tag_names" in changed:
        tags.link(connection, task["user_id"], task["id"], task["tag_names"])
    if "completed" in changed:
        task["completed_at"] = now if task["completed"] else None
        if task["completed"] and task["next_occurrence_id"] is None:
            task["next_occurrence_id"] = _create_next_occurrence(connection, task, now)
    task["updated_at"] = now
    task["version"] = stored["version"] + 1
    values = {column: value for column, value in task.items() if stored[column] != value}
    updated = connection.execute(
        _UPDATE, {"task_id": stored["id"], "read_version": stored["version"], **values}
    ).first()
    if updated is None:
        raise StaleRow(f"task {stored['id']} changed after it was read")
    return updated


def _create_next_occurrence(
    connection: Connection, task: dict[str, Any], now: datetime
) -> int | None:
    rule = _rule(task)
    if rule is None:
        return None
    previous = task["due_at"] or now
    day = task["recurrence_day"]
    due_at = recurrence.next_due(previous, rule.frequency, rule.interval, day)
    if due_at is None:
        return None  # past the year 9999: the series ends
    successor = _insert(
        connection,
        {
            "user_id": task["user_id"],
            "title": task["title"],
            "description": task["description"],
            "priority": task["priority"],
            "tag_names": list(task["tag_names"]),
            "due_at": due_at,
            "recurrence_frequency": rule.frequency,
            "recurrence_interval": rule.interval,
            "recurrence_day": day or _month_day(due_at, rule),
            "created_at": now,
            "updated_at": now,
        },
    )
    return int(successor.id)


def update_task(
    connection: Connection,
    user_id: str,
    task_id: int,
    changes: dict[str, Any],
    if_match: str | None = None,
) -> Any:
    """The updated task as a Core row (see row_to_api), or None when there is no such task."""
    row = _locked(connection, user_id, task_id, if_match)
    return None if row is None else _apply(connection, row, changes)


def set_completion(
    connection: Connection,
    user_id: str,
    task_id: int,
    completed: bool | None,
    if_match: str | None = None,
) -> Any:
    """Set `completed`, or flip it when `completed` is None (a Core row, or None)."""
    row = _locked(connection, user_id, task_id, if_match)
    if row is None:
        return None
    target = (not row.completed) if completed is None else completed
    return _apply(connection, row, {"completed": target})


def delete_task(
    connection: Connection, user_id: str, task_id: int, if_match: str | None = None
) -> bool:
    statement = delete(Task).where(col(Task.user_id) == user_id, col(Task.id) == task_id)
    if if_match is None:
        return connection.execute(statement).rowcount > 0
    row = _locked(connection, user_id, task_id, if_match)
    if row is None:
        return False
    if connection.execute(statement.where(col(Task.version) == row.version)).rowcount == 0:
        raise StaleRow("task changed between the If-Match check and the delete")
    return True
