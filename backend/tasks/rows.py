"""Stored task rows → the contract's Task (dicts in the generated model's shape, serialised
once by the route without validating our own output again)."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Row

from backend.tables import Task
from backend.tasks.etags import etag
from backend.tasks.fields import PRIORITY_NAMES

# A row of every tasks column, as Core returns it.
TaskRow = Row[*tuple[Any, ...]]

COLUMNS: tuple[Column[Any], ...] = tuple(Task.__table__.columns)  # type: ignore[attr-defined]  # SQLModel declares __table__ without its type

_ROW_ORDER = (
    "id", "user_id", "title", "description", "completed", "completed_at", "priority",
    "tag_names", "due_at", "recurrence_frequency", "recurrence_interval", "recurrence_day",
    "next_occurrence_id", "version", "created_at", "updated_at", "change_seq",
)  # fmt: skip
# row_to_api unpacks rows in this order; a new column must be added there too.
assert tuple(column.name for column in COLUMNS) == _ROW_ORDER, "tasks columns changed"


def row_to_api(row: Sequence[Any]) -> dict[str, Any]:
    """A Core row of every tasks column (COLUMNS) as the contract's Task: by position,
    without a Row attribute lookup per field (a page has 20 rows of 16)."""
    (
        task_id, user_id, title, description, completed, completed_at, priority, tag_names,
        due_at, frequency, interval, _day, next_occurrence_id, version, created_at, updated_at,
        _change,
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
        "etag": etag(task_id, version),
        "created_at": created_at,
        "updated_at": updated_at,
    }


def etag_of(row: TaskRow) -> str:
    """The ETag of a stored task row."""
    task_id: int = row.id
    version: int = row.version
    return etag(task_id, version)
