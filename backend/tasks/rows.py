"""Stored task rows → the contract's Task (TaskJson: dicts in the generated model's shape,
serialised once without validating our own output again; tests/tasks/test_shapes.py checks
them against the generated models, the contract test every response)."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypedDict

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


class Recurrence(TypedDict):
    frequency: str
    interval: int


class TaskJson(TypedDict):
    """The contract's Task, field for field (generated.models.Task)."""

    id: int
    user_id: str
    title: str
    description: str | None
    completed: bool
    completed_at: datetime | None
    priority: str
    tags: list[str]
    due_at: datetime | None
    recurrence: Recurrence | None
    next_occurrence_id: int | None
    etag: str
    created_at: datetime
    updated_at: datetime


_WIDTH = len(_ROW_ORDER)


def row_to_api(row: Sequence[Any]) -> TaskJson:
    """A Core row that starts with every tasks column (COLUMNS; a statement may add columns
    after them) as the contract's Task: by position, without a Row attribute lookup per
    field (a page has 20 rows of 16)."""
    (
        task_id, user_id, title, description, completed, completed_at, priority, tag_names,
        due_at, frequency, interval, _day, next_occurrence_id, version, created_at, updated_at,
        _change,
    ) = row if len(row) == _WIDTH else row[:_WIDTH]  # fmt: skip
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
