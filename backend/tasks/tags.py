"""Tags: one row per user and tag (compared casefolded), linked to tasks in task_tags.

A task's own spelling of its tags is kept on the task (tasks.tag_names) for responses;
these tables answer "which tasks carry tag X" and "how many" with index lookups."""

from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    bindparam,
    delete,
    exists,
    func,
    select,
)
from sqlalchemy import insert as sql_insert
from sqlmodel import col

from backend.database.sql import AnySelect, insert_ignoring_duplicates
from backend.tables import Tag, Task, TaskTag
from backend.tasks.quotas import Quotas, check_new_tags
from backend.tasks.scope import OWNER, owned, tags_of
from backend.text import trimmed


def key(name: str) -> str:
    return name.casefold()


def normalise(names: Iterable[str]) -> tuple[str, ...] | None:
    """Trimmed, the first spelling of each tag (by key), sorted by key; None when a name is
    blank after trimming."""
    first: dict[str, str] = {}
    for raw in names:
        name = trimmed(raw)
        if name is None:
            return None
        first.setdefault(key(name), name)
    return tuple(first[k] for k in sorted(first))


def has_tag_id(tag_id: Any) -> ColumnElement[bool]:
    """SQL condition on tasks: the task carries the tag with this id (a value or a bind
    parameter)."""
    return col(Task.id).in_(select(col(TaskTag.task_id)).where(col(TaskTag.tag_id) == tag_id))


def ids_statement(owner_id: str, names: Sequence[str]) -> AnySelect:
    """The ids of the owner's tags named `names` (any case)."""
    keys = {key(n) for n in names}
    return select(col(Tag.id)).where(tags_of(owner_id), col(Tag.key).in_(keys))


def find_ids(connection: Connection, owner_id: str, names: Sequence[str]) -> tuple[int, ...] | None:
    """The ids of the owner's tags `names` (any case); None when one of them does not exist."""
    wanted = {key(name) for name in names}
    found: tuple[int, ...] = tuple(connection.execute(ids_statement(owner_id, names)).scalars())
    return found if len(found) == len(wanted) else None


def _keyed_ids(connection: Connection, query: AnySelect) -> dict[str, int]:
    return dict(cast(list[tuple[str, int]], connection.execute(query).all()))


def _tag_ids(
    connection: Connection, owner_id: str, names: Sequence[str], quotas: Quotas
) -> list[int]:
    """Ids of the owner's tags for `names`, creating the missing ones (a concurrent
    creation of the same tag is not an error)."""
    wanted = {key(name): name for name in names}
    query = select(col(Tag.key), col(Tag.id)).where(tags_of(owner_id), col(Tag.key).in_(wanted))
    found = _keyed_ids(connection, query)
    missing = [
        {"user_id": owner_id, "key": k, "name": name}
        for k, name in wanted.items()
        if k not in found
    ]
    if missing:
        check_new_tags(connection, owner_id, len(missing), quotas)
        connection.execute(insert_ignoring_duplicates(connection, Tag).values(missing))
        found = _keyed_ids(connection, query)
    return [found[k] for k in wanted]


def link(
    connection: Connection, owner_id: str, task_id: int, names: Sequence[str], quotas: Quotas
) -> None:
    """Make `names` the tags of the owner's task `task_id` in the link table."""
    ids = _tag_ids(connection, owner_id, names, quotas) if names else []
    linked = select(col(TaskTag.tag_id)).where(col(TaskTag.task_id) == task_id)
    current: set[int] = set(connection.execute(linked).scalars())
    stale = current - set(ids)
    if stale:
        connection.execute(
            delete(TaskTag).where(col(TaskTag.task_id) == task_id, col(TaskTag.tag_id).in_(stale))
        )
    new = [{"task_id": task_id, "tag_id": tag_id} for tag_id in ids if tag_id not in current]
    if new:
        connection.execute(sql_insert(TaskTag).values(new))


# The tag listing, built once (the owner, limit and offset are bound at execution).
_TASK_COUNT = func.count().label("task_count")
PAGE = (
    select(col(Tag.name), _TASK_COUNT)
    .join(TaskTag, col(TaskTag.tag_id) == col(Tag.id))
    .where(tags_of(OWNER))
    .group_by(col(Tag.id), col(Tag.key), col(Tag.name))
    .order_by(col(Tag.key), col(Tag.id))
    .limit(bindparam("limit", type_=Integer()))
    .offset(bindparam("offset", type_=Integer()))
)
COUNT = (
    select(func.count())
    .select_from(Tag)
    .where(tags_of(OWNER), exists().where(col(TaskTag.tag_id) == col(Tag.id)))
)


# Tag pages past these are heavy work (backend.database.admission): many groups to count and return.
LONG_PAGE = 100
DEEP_OFFSET = 1_000


def expensive(limit: int, offset: int) -> bool:
    return limit > LONG_PAGE or offset >= DEEP_OFFSET


def list_tags(
    connection: Connection, owner_id: str, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """The owner's tags that some task carries, with task counts, by key; and their number."""
    params = {**owned(owner_id), "limit": limit, "offset": offset}
    rows = [dict(row) for row in connection.execute(PAGE, params).mappings()]
    if len(rows) < limit and (rows or offset == 0):
        return rows, offset + len(rows)
    return rows, connection.execute(COUNT, params).scalar_one()
