"""Tags: one row per user and tag (compared casefolded), linked to tasks in task_tags.

A task's own spelling of its tags is kept on the task (tasks.tag_names) for responses;
these tables answer "which tasks carry tag X" and "how many" with index lookups."""

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, delete, exists, func, insert
from sqlmodel import col, select

from backend.db import insert_ignoring_duplicates
from backend.models import Tag, Task, TaskTag
from backend.text import trimmed


def key(name: str) -> str:
    return name.casefold()


def normalise(names: Iterable[str]) -> list[str] | None:
    """Trimmed, the first spelling of each tag (by key), sorted by key; None when a name is
    blank after trimming."""
    first: dict[str, str] = {}
    for raw in names:
        name = trimmed(raw)
        if name is None:
            return None
        first.setdefault(key(name), name)
    return [first[k] for k in sorted(first)]


def has_tag_id(tag_id: Any) -> Any:
    """SQL condition on tasks: the task carries the tag with this id (a value or a bind
    parameter)."""
    return col(Task.id).in_(select(TaskTag.task_id).where(col(TaskTag.tag_id) == tag_id))


def ids_statement(user_id: str, names: Sequence[str]) -> Any:
    return select(Tag.id).where(
        col(Tag.user_id) == user_id, col(Tag.key).in_({key(n) for n in names})
    )


def find_ids(connection: Connection, user_id: str, names: Sequence[str]) -> tuple[int, ...] | None:
    """The ids of the user's tags `names` (any case); None when one of them does not exist."""
    wanted = {key(name) for name in names}
    found = tuple(connection.execute(ids_statement(user_id, names)).scalars())
    return found if len(found) == len(wanted) else None


def _tag_ids(connection: Connection, user_id: str, names: Sequence[str]) -> list[int]:
    """Ids of the user's tags for `names`, creating the missing ones (a concurrent
    creation of the same tag is not an error)."""
    wanted = {key(name): name for name in names}
    query = select(Tag.key, Tag.id).where(col(Tag.user_id) == user_id, col(Tag.key).in_(wanted))
    found = dict(connection.execute(query).all())
    missing = [
        {"user_id": user_id, "key": k, "name": name} for k, name in wanted.items() if k not in found
    ]
    if missing:
        connection.execute(insert_ignoring_duplicates(connection, Tag).values(missing))
        found = dict(connection.execute(query).all())
    return [found[k] for k in wanted]


def link(connection: Connection, user_id: str, task_id: int, names: Sequence[str]) -> None:
    """Make `names` the task's tags in the link table."""
    ids = _tag_ids(connection, user_id, names) if names else []
    current = set(
        connection.execute(select(TaskTag.tag_id).where(col(TaskTag.task_id) == task_id)).scalars()
    )
    stale = current - set(ids)
    if stale:
        connection.execute(
            delete(TaskTag).where(col(TaskTag.task_id) == task_id, col(TaskTag.tag_id).in_(stale))
        )
    new = [{"task_id": task_id, "tag_id": tag_id} for tag_id in ids if tag_id not in current]
    if new:
        connection.execute(insert(TaskTag).values(new))


def list_tags(
    connection: Connection, user_id: str, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """The user's tags that some task carries, with task counts, by key; and their number."""
    task_count = func.count().label("task_count")
    rows = (
        connection.execute(
            select(Tag.name, task_count)
            .join(TaskTag, col(TaskTag.tag_id) == col(Tag.id))
            .where(col(Tag.user_id) == user_id)
            .group_by(col(Tag.id), col(Tag.key), col(Tag.name))
            .order_by(col(Tag.key), col(Tag.id))
            .limit(limit)
            .offset(offset)
        )
        .mappings()
        .all()
    )
    if len(rows) < limit and (rows or offset == 0):
        return [dict(row) for row in rows], offset + len(rows)
    in_use = exists().where(col(TaskTag.tag_id) == col(Tag.id))
    total = connection.execute(
        select(func.count()).select_from(Tag).where(col(Tag.user_id) == user_id, in_use)
    ).scalar_one()
    return [dict(row) for row in rows], total
