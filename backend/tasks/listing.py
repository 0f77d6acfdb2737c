"""Task listings: filters, sorts, pages, keyset cursors, totals. Statements are built once
per shape of query, with the values bound at execution, and all start from the owner scope
(backend.tasks.scope)."""

from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

from pydantic_core import to_json
from sqlalchemy import (
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
from backend.identity.users import UserCheck
from backend.tables import Task
from backend.tasks import tags
from backend.tasks.cursors import ListCursors
from backend.tasks.query import After, ListQuery
from backend.tasks.rows import COLUMNS, TaskJson, row_to_api
from backend.tasks.scope import OWNER, OWNER_VALID_AFTER, owned, tasks_of
from generated.models import SortOrder, TaskSort, TaskStatusFilter

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
    counts: bool  # the total, in the same statement


def _keyset(query: ListQuery) -> Keyset:
    if query.after is None:
        return "none"
    return "after_undated" if query.after.key is None else "after"


def _shape(query: ListQuery, keyset: Keyset | None = None) -> _Shape:
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
        skips=query.offset > 0,
        keyset=_keyset(query) if keyset is None else keyset,
        counts=query.count_total and keyset is None,
    )


def bind_values(owner_id: str, query: ListQuery, now: datetime) -> dict[str, Any]:
    """The values a listing's statements are executed with (one row more than the page:
    whether there is a next one)."""
    params: dict[str, Any] = {
        **owned(owner_id),
        "limit": query.limit + 1,
        "offset": query.offset,
        "now": now,
    }
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
    """The page's rows: every task column, then the owner's users row's tokens_valid_after
    (the user check, folded in) and, when asked, the number of all matches (a subquery
    PostgreSQL and SQLite evaluate once): one statement, one round trip."""
    conditions, order_by = _conditions(shape), _order_by(shape)
    extra: list[Any] = [OWNER_VALID_AFTER]
    if shape.counts:
        extra.append(_count(shape).scalar_subquery().label("total"))
    limit = bindparam("limit", type_=Integer())
    if not shape.skips:
        first: AnySelect = (
            select(*COLUMNS, *extra).where(*conditions).order_by(*order_by).limit(limit)
        )
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
    later: AnySelect = (
        select(*COLUMNS, *extra).where(col(Task.id).in_(page_ids)).order_by(*order_by)
    )
    return later


@lru_cache(maxsize=1024)
def _count(shape: _Shape) -> AnySelect:
    whole = replace(shape, skips=False, keyset="none", counts=False)  # every match
    count: AnySelect = select(func.count()).select_from(Task).where(*_conditions(whole))
    return count


def statements(query: ListQuery) -> tuple[AnySelect, AnySelect]:
    """The page and count statements of a listing (built once per shape), to execute with
    `bind_values(...)`. list_tasks runs them; make bench-queries EXPLAINs them."""
    shape = _shape(query)
    return _page(shape), _count(shape)


@dataclass(frozen=True, slots=True)
class TaskPage:
    """One page of a listing, as the contract's TaskPage."""

    items: list[TaskJson]
    total: int | None
    limit: int
    offset: int
    next_cursor: str | None

    def json(self) -> bytes:
        return to_json(
            {
                "items": self.items,
                "total": self.total,
                "limit": self.limit,
                "offset": self.offset,
                "next_cursor": self.next_cursor,
            }
        )


def list_tasks(
    connection: Connection, owner: UserCheck, query: ListQuery, cursors: ListCursors
) -> TaskPage:
    """One page: the contract's Tasks, the number of matching tasks (None when not asked)
    and the cursor of the next page (None on the last)."""
    owner_id = owner.user_id
    if query.tags and query.tag_ids is None:
        tag_ids = tags.find_ids(connection, owner_id, query.tags)
        if tag_ids is None:  # a tag nobody uses: nothing can match
            owner.ensure(connection)
            return TaskPage([], 0 if query.count_total else None, query.limit, query.offset, None)
        query = replace(query, tag_ids=tag_ids)
    shape, params = _shape(query), bind_values(owner_id, query, utcnow())
    rows = list(connection.execute(_page(shape), params).all())
    total: int | None = rows[0].total if rows and shape.counts else None
    if rows:
        owner.seen(rows[0].owner_valid_after)
    if _undated_follow(query) and len(rows) <= query.limit:
        # The dated tasks after the cursor are done; the undated ones follow (NULLS LAST).
        undated = _page(_shape(query, "undated"))
        params_left = {**params, "limit": query.limit + 1 - len(rows)}
        rows += connection.execute(undated, params_left).all()
    owner.ensure(connection)  # when no row showed the user's: checked (or created) now
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    if query.count_total and total is None:
        if query.after is None and not more and (rows or query.offset == 0):
            total = query.offset + len(rows)  # every match is on this page: nothing to count
        else:
            total = connection.execute(_count(shape), params).scalar_one()
    items = [row_to_api(row) for row in rows]
    following = After(_key_of(rows[-1], query.sort), int(rows[-1].id)) if more else None
    next_cursor = None if following is None else cursors.seal(owner_id, query, following)
    return TaskPage(items, total, query.limit, query.offset, next_cursor)


def _key_of(row: Any, sort: TaskSort) -> datetime | int | str | None:
    """A row's sort key as a cursor keeps it (the title as written: SQL lowers it)."""
    value: datetime | int | str | None = getattr(row, sort.value)
    return value


def _undated_follow(query: ListQuery) -> bool:
    return query.sort is TaskSort.due_at and query.after is not None and query.after.key is not None
