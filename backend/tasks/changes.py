"""Single tasks: read, create, change, complete, delete. Every function takes the owner's
user id and starts from the owner scope: there is no task by id alone."""

from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, delete, insert, update
from sqlmodel import col, select

from backend.clock import utcnow
from backend.database.errors import StaleRow
from backend.errors import ProblemError
from backend.tables import Task
from backend.tasks import etags, feed, recurrence, tags
from backend.tasks.fields import NewTask, Rule, TaskChanges
from backend.tasks.quotas import Quotas, give_back_task, take_task
from backend.tasks.rows import COLUMNS, TaskRow, etag_of
from backend.tasks.scope import OWNER, owned, tasks_of


class TaskNotFound(ProblemError):
    """No such task for this user; another user's task is reported the same way."""

    status = 404

    def __init__(self, task_id: int) -> None:
        super().__init__(f"Task {task_id} does not exist.")


_GET = select(*COLUMNS).where(tasks_of(OWNER), col(Task.id) == bindparam("task_id"))
# Row lock on PostgreSQL so concurrent read-modify-writes serialise; SQLite has none, and
# there the version check of the UPDATE catches a concurrent change instead.
_LOCK = _GET.with_for_update()
_INSERT = insert(Task).returning(*COLUMNS)
# SET: the columns named in the parameters (see _apply), the version one up from the one
# read. The row was read through the owner scope under a lock, hence by id alone here.
_UPDATE = (
    update(Task)
    .where(col(Task.id) == bindparam("task_id"), col(Task.version) == bindparam("read_version"))
    .returning(*COLUMNS)
)
_DELETE = delete(Task).where(tasks_of(OWNER), col(Task.id) == bindparam("task_id"))


def get_task(connection: Connection, owner_id: str, task_id: int) -> TaskRow:
    row = connection.execute(_GET, {**owned(owner_id), "task_id": task_id}).first()
    if row is None:
        raise TaskNotFound(task_id)
    return row


def _next_timestamp(previous: datetime) -> datetime:
    # updated_at must move forward on every change, even within one clock tick.
    return max(utcnow(), previous + timedelta(microseconds=1))


def _month_day(due_at: datetime | None, rule: Rule | None) -> int | None:
    return due_at.day if due_at is not None and rule and rule.frequency == "monthly" else None


def create_task(connection: Connection, owner_id: str, task: NewTask, quotas: Quotas) -> TaskRow:
    """A new pending task (QuotaExceeded when the owner has no room for it)."""
    now = utcnow()
    rule = task.recurrence
    return _insert(
        connection,
        quotas,
        {
            "user_id": owner_id,
            "title": task.title,
            "description": task.description,
            "priority": task.priority,
            "tag_names": list(task.tags),
            "due_at": task.due_at,
            "recurrence_frequency": rule.frequency if rule else None,
            "recurrence_interval": rule.interval if rule else None,
            "recurrence_day": _month_day(task.due_at, rule),
            "created_at": now,
            "updated_at": now,
        },
    )


def _insert(connection: Connection, quotas: Quotas, values: dict[str, Any]) -> TaskRow:
    """INSERT … RETURNING of a new pending task (Core: no ORM flush for a plain insert),
    and its tag links, counted on the owner's quota."""
    seq = take_task(connection, values["user_id"], quotas)
    row = connection.execute(
        _INSERT,
        {
            **values,
            "completed": False,
            "completed_at": None,
            "next_occurrence_id": None,
            "version": 1,
            "change_seq": seq,
        },
    ).one()
    if values["tag_names"]:
        tags.link(connection, values["user_id"], row.id, values["tag_names"], quotas)
    return row


def _locked(connection: Connection, owner_id: str, task_id: int, if_match: str | None) -> TaskRow:
    row = connection.execute(_LOCK, {**owned(owner_id), "task_id": task_id}).first()
    if row is None:
        raise TaskNotFound(task_id)
    if if_match is not None:
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


class Changed(NamedTuple):
    """A task after a change, and whether anything about it actually changed."""

    row: TaskRow
    changed: bool


def _apply(connection: Connection, row: TaskRow, changes: TaskChanges, quotas: Quotas) -> Changed:
    """Set editable fields; updated_at and the version (hence the ETag) move only if a
    stored value actually changed. Completing a recurring task creates its next occurrence.
    One UPDATE … WHERE version = <the one read>: a concurrent change in between (possible
    on SQLite, which has no row locks) raises StaleRow and the unit of work runs again."""
    stored: dict[str, Any] = row._asdict()
    task = dict(stored)
    for field, value in changes.items():
        _set(task, field, value)
    changed = {column for column, value in task.items() if stored[column] != value}
    if not changed:
        return Changed(row, changed=False)
    now = _next_timestamp(stored["updated_at"])
    if changed & {"due_at", "recurrence_frequency", "recurrence_interval"}:
        task["recurrence_day"] = _month_day(task["due_at"], _rule(task))
    if "tag_names" in changed:
        tags.link(connection, task["user_id"], task["id"], task["tag_names"], quotas)
    if "completed" in changed:
        task["completed_at"] = now if task["completed"] else None
        if task["completed"] and task["next_occurrence_id"] is None:
            task["next_occurrence_id"] = _create_next_occurrence(connection, task, now, quotas)
    task["updated_at"] = now
    task["version"] = stored["version"] + 1
    task["change_seq"] = feed.next_change(connection, task["user_id"])
    values = {column: value for column, value in task.items() if stored[column] != value}
    updated = connection.execute(
        _UPDATE, {"task_id": stored["id"], "read_version": stored["version"], **values}
    ).first()
    if updated is None:
        raise StaleRow(f"task {stored['id']} changed after it was read")
    return Changed(updated, changed=True)


def _create_next_occurrence(
    connection: Connection, task: dict[str, Any], now: datetime, quotas: Quotas
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
        quotas,
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
    owner_id: str,
    task_id: int,
    changes: TaskChanges,
    quotas: Quotas,
    if_match: str | None = None,
) -> Changed:
    """The updated task (TaskNotFound when the owner has no such task)."""
    row = _locked(connection, owner_id, task_id, if_match)
    return _apply(connection, row, changes, quotas)


def set_completion(
    connection: Connection,
    owner_id: str,
    task_id: int,
    completed: bool | None,
    quotas: Quotas,
    if_match: str | None = None,
) -> Changed:
    """Set `completed`, or flip it when `completed` is None."""
    row = _locked(connection, owner_id, task_id, if_match)
    target = (not row.completed) if completed is None else completed
    return _apply(connection, row, TaskChanges(completed=target), quotas)


def delete_task(
    connection: Connection, owner_id: str, task_id: int, if_match: str | None = None
) -> None:
    params = {**owned(owner_id), "task_id": task_id}
    if if_match is None:
        if connection.execute(_DELETE, params).rowcount == 0:
            raise TaskNotFound(task_id)
    else:
        row = _locked(connection, owner_id, task_id, if_match)
        versioned = _DELETE.where(col(Task.version) == row.version)
        if connection.execute(versioned, params).rowcount == 0:
            raise StaleRow("task changed between the If-Match check and the delete")
    seq = give_back_task(connection, owner_id)
    feed.record_deletion(connection, owner_id, task_id, seq, utcnow())
