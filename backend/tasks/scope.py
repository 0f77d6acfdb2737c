"""The owner scope: which tasks and tags a user may see. Every task and tag statement
starts from these conditions (listing, reads, changes, counts, stats, tags), so sharing a
task with another user later means changing this module alone."""

from typing import Any

from sqlalchemy import BindParameter, ColumnElement, String, bindparam
from sqlmodel import col

from backend.tables import Tag, Task

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
