"""Task listings (filters, sorts, pages, cursors, totals) and the stats counts. Statements
are built once per shape of query, with the values bound at execution, and all start from
the owner scope (backend.tasks.scope)."""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any, Literal, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Integer,
    String,
    and_,
    bindparam,
    func,
    not_,
    or_,
    select,
    tuple_,
)
from sqlmodel import col

from backend.clock import utcnow
from backend.database.sql import AnySelect, contains_text, like_pattern, lower_text
from backend.tables import Task
from backend.tasks import tags
from backend.tasks.fields import PRIORITY_NAMES
from backend.tasks.quotas import Quotas, usage
from backend.tasks.rows import COLUMNS, row_to_api
from backend.tasks.scope import OWNER, owned, tasks_of
from generated.models import SortOrder, TaskSort, TaskStatusFilter


@dataclass(frozen=True)
class After:
    """Where a cursor page starts: after the task with this sort key (None: an undated
    task, sorting by due_at) and id, in the listing's order."""

    key: datetime | int | str | None
    id: int


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
    after: After | None = None  # a cursor page (backend.tasks.cursors)
    count_total: bool = True


# How a page starts: at the beginning (or an offset), after a dated task, after an undated
# one (due_at sorts), or with the undated tasks that follow the dated ones (due_at sorts).
Keyset = Literal["none", "after", "after_undated", "undated"]


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
    keyset: Keyset


def _keyset(query: ListQuery) -> Keyset:
    if query.after is None:
        return "none"
    return "after_undated" if query.after.key is None else "after"


def _shape(query: ListQuery, offset: int, keyset: Keyset | None = None) -> _Shape:
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
        keyset=_keyset(query) if keyset is None else keyset,
    )


def parameters(
    owner_id: str, query: ListQuery, limit: int, offset: int, now: datetime
) -> dict[str, Any]:
    params: dict[str, Any] = {**owned(owner_id), "limit": limit, "offset": offset, "now": now}
    params["priorities"] = list(query.priorities)
    params.update({f"tag_{index}": tag_id for index, tag_id in enumerate(query.tag_ids or ())})
    params["pattern"] = None if query.q is None else like_pattern(query.q)
    params["due_before"] = query.due_before
    params["due_after"] = query.due_after
    params["after_key"] = None if query.after is None else query.after.key
    params["after_id"] = None if query.after is None else query.after.id
    return params


def _conditions(shape: _Shape) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [tasks_of(OWNER)]
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
    conditions.extend(_after(shape))
    return conditions


def _after(shape: _Shape) -> list[ColumnElement[bool]]:
    """Keyset conditions: the rows after the cursor's (sort key, id), as one row-value
    comparison that the sort's index serves as a range (no OR, no offset)."""
    descending = shape.order is SortOrder.desc
    after_id = bindparam("after_id", type_=Integer())
    task_id = col(Task.id)
    if shape.keyset == "after":
        bound: Any = bindparam("after_key", type_=_SORT_KEYS[shape.sort].type)
        if shape.sort is TaskSort.title:
            bound = lower_text(bound)  # the cursor keeps the title; the database lowers both
        row, start = tuple_(_SORT_KEYS[shape.sort], task_id), tuple_(bound, after_id)
        return [row < start if descending else row > start]
    if shape.keyset == "after_undated":
        return [
            col(Task.due_at).is_(None),
            task_id < after_id if descending else task_id > after_id,
        ]
    if shape.keyset == "undated":
        return [col(Task.due_at).is_(None)]
    return []


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
def _page(shape: _Shape) -> AnySelect:
    conditions, order_by = _conditions(shape), _order_by(shape)
    limit = bindparam("limit", type_=Integer())
    if not shape.skips:
        first: AnySelect = select(*COLUMNS).where(*conditions).order_by(*order_by).limit(limit)
        return first
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
    later: AnySelect = select(*COLUMNS).where(col(Task.id).in_(page_ids)).order_by(*order_by)
    return later


@lru_cache(maxsize=1024)
def _count(shape: _Shape) -> AnySelect:
    whole = replace(shape, skips=False, keyset="none")  # every match, wherever the page is
    count: AnySelect = select(func.count()).select_from(Task).where(*_conditions(whole))
    return count


def statements(query: ListQuery, offset: int) -> tuple[AnySelect, AnySelect]:
    """The page and count statements of a listing (built once per shape), to execute with
    `parameters(...)`. list_tasks runs them; make bench-queries EXPLAINs them."""
    shape = _shape(query, offset)
    return _page(shape), _count(shape)


def _key_of(row: Any, sort: TaskSort) -> datetime | int | str | None:
    """A row's sort key as a cursor keeps it (the title as written: SQL lowers it)."""
    value: datetime | int | str | None = getattr(row, sort.value)
    return value


def list_tasks(
    connection: Connection, owner_id: str, query: ListQuery, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int | None, After | None]:
    """One page (as the contract's Tasks), the number of matching tasks (None when not
    counted) and where the next page starts (None on the last page)."""
    if query.tags and query.tag_ids is None:
        tag_ids = tags.find_ids(connection, owner_id, query.tags)
        if tag_ids is None:  # a tag nobody uses: nothing can match
            return [], 0 if query.count_total else None, None
        query = replace(query, tag_ids=tag_ids)
    page, count = statements(query, offset)
    params = parameters(owner_id, query, limit + 1, offset, utcnow())  # one more: is there a next?
    rows = list(connection.execute(page, params).all())
    if _undated_follow(query) and len(rows) <= limit:
        # The dated tasks after the cursor are done; the undated ones follow (NULLS LAST).
        undated = _page(_shape(query, 0, "undated"))
        rows += connection.execute(undated, {**params, "limit": limit + 1 - len(rows)}).all()
    more = len(rows) > limit
    rows = rows[:limit]
    following = After(_key_of(rows[-1], query.sort), int(rows[-1].id)) if more else None
    items = [row_to_api(row) for row in rows]
    if not query.count_total:
        return items, None, following
    if query.after is None and not more and (rows or offset == 0):
        return items, offset + len(rows), following  # the last page: no need to count
    total: int = connection.execute(count, params).scalar_one()
    return items, total, following


# Listings that cost more than a page of an index range: served in the narrower lane of
# heavy work (backend.database.admission), so they can never hold every connection.
DEEP_OFFSET = 1_000


def expensive(query: ListQuery, offset: int) -> bool:
    """A search (every match may be read to rank and count) or a deep offset."""
    return query.q is not None or offset >= DEEP_OFFSET


def _undated_follow(query: ListQuery) -> bool:
    return query.sort is TaskSort.due_at and query.after is not None and query.after.key is not None


# --- stats ---


def _stats_statement() -> AnySelect:
    pending = not_(col(Task.completed))
    due = col(Task.due_at)
    now: BindParameter[datetime] = bindparam("now")
    start: BindParameter[datetime] = bindparam("day_start")
    end: BindParameter[datetime] = bindparam("day_end")
    return (
        select(
            col(Task.priority),
            col(Task.completed),
            func.count(),
            func.count().filter(and_(pending, due < now)),
            func.count().filter(and_(pending, due >= start, due < end)),
        )
        .where(tasks_of(OWNER))
        .group_by(col(Task.priority), col(Task.completed))
    )


STATS = _stats_statement()
_StatsRow = tuple[int, bool, int, int, int]  # priority, completed and the three counts


def stats_params(owner_id: str, zone: tzinfo, now: datetime) -> dict[str, Any]:
    """STATS's parameters: "today" is the calendar day of `now` in `zone`."""
    start = datetime.combine(now.astimezone(zone).date(), datetime.min.time(), zone)
    end = datetime.combine(start.date() + timedelta(days=1), datetime.min.time(), zone)
    return {**owned(owner_id), "now": now, "day_start": start, "day_end": end}


def stats(connection: Connection, owner_id: str, zone: tzinfo, quotas: Quotas) -> dict[str, Any]:
    """Counts by priority and status, overdue and due today (in `zone`), in one query that
    reads only ix_tasks_user_completed_due on PostgreSQL; and the owner's quota usage."""
    by_priority = {name: {"pending": 0, "completed": 0} for name in PRIORITY_NAMES.values()}
    overdue = due_today = 0
    rows = connection.execute(STATS, stats_params(owner_id, zone, utcnow()))
    for row in rows:
        rank, completed, count, overdue_count, today_count = cast(_StatsRow, tuple(row))
        by_priority[PRIORITY_NAMES[rank]]["completed" if completed else "pending"] += count
        overdue += overdue_count
        due_today += today_count
    completed_total = sum(counts["completed"] for counts in by_priority.values())
    pending_total = sum(counts["pending"] for counts in by_priority.values())
    tasks, tag_count = usage(connection, owner_id)
    return {
        "total": completed_total + pending_total,
        "pending": pending_total,
        "completed": completed_total,
        "by_priority": by_priority,
        "overdue": overdue,
        "due_today": due_today,
        "usage": {
            "tasks": tasks,
            "max_tasks": quotas.max_tasks,
            "tags": tag_count,
            "max_tags": quotas.max_tags,
        },
    }
