"""The owner scope: which tasks and tags a user may see, and the owner's own row. Every task
and tag statement starts from these conditions (listing, reads, changes, counts, stats,
tags, the feed's tasks and tombstones), so sharing a task with another user later means
changing this module alone.

Deliberately not here: task_tags rows (backend.tasks.tags.link) are reached by their task
id alone, because every caller has read that task through tasks_of, under a row lock,
in the same unit of work; a task's versioned UPDATE (backend.tasks.changes) says
tasks_of too, although the row it names was read the same way.
"""

from typing import Any

from sqlalchemy import BindParameter, ColumnElement, String, bindparam, select
from sqlmodel import col

from backend.tables import Tag, Task, TaskTombstone, User

# The user a statement runs for, bound at execution: statements are built once.
OWNER: BindParameter[str] = bindparam("owner_id", type_=String())


def owned(owner_id: str) -> dict[str, Any]:
    """The bind parameters that put a prebuilt statement in `owner_id`'s scope."""
    return {"owner_id": owner_id}


Owner = str | BindParameter[str]  # a user id, or OWNER in a prebuilt statement


def tasks_of(owner: Owner = OWNER) -> ColumnElement[bool]:
    """The tasks `owner` may see and change: their own."""
    return col(Task.user_id).__eq__(owner)


def tags_of(owner: Owner = OWNER) -> ColumnElement[bool]:
    """The tags `owner` may see: their own."""
    return col(Tag.user_id).__eq__(owner)


def tombstones_of(owner: Owner = OWNER) -> ColumnElement[bool]:
    """The deletions of `owner`'s tasks the changes feed reports: their own."""
    return col(TaskTombstone.user_id).__eq__(owner)


# The owner's users.tokens_valid_after, as a column any statement of theirs can carry: the
# user check rides on the statement that reads the data anyway (UserCheck.seen,
# backend.identity.users).
OWNER_VALID_AFTER = (
    select(col(User.tokens_valid_after))
    .where(col(User.id) == OWNER)
    .scalar_subquery()
    .label("owner_valid_after")
)
