"""Single tasks: read, create, change, complete, delete. Every function takes the owner (the
user the unit of work runs for, checked once in it: backend.tasks.scope.UserCheck) and
starts from the owner scope: there is no task by id alone."""

from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, delete, insert, update
from sqlmodel import col, select

from backend.clock import utcnow
from backend.database.errors import StaleRow
from backend.database.sql import AnySelect
from backend.errors import ProblemError
from backend.identity.users import UserCheck
from backend.tables import Task
from backend.tasks import etags, feed, recurrence, tags
from backend.tasks.fields import UNSET, NewTask, Rule, TaskChanges
from backend.tasks.quotas import Quotas, give_back_task, take_task
from backend.tasks.rows import COLUMNS, TaskRow, etag_of
from backend.tasks.scope import OWNER, OWNER_VALID_AFTER, owned, tasks_of


class TaskNotFound(ProblemError):
    """No such task for this user; another user's task is reported the same way."""

    status = 404

    def __init__(self, task_id: int) -> None:
        super().__init__(f"Task {task_id} does not exist.")


_THE_TASK = (tasks_of(OWNER), col(Task.id) == bindparam("task_id"))
# A read folds the user check in (OWNER_VALID_AFTER): one statement.
_GET: AnySelect = select(*COLUMNS, *[OWNER_VALID_AFTER]).where(*_THE_TASK)
# Row lock on PostgreSQL so concurrent read-modify-writes serialise; SQLite has none, and
# there the version check of the UPDATE catches a concurrent change instead.
_LOCK = select(*COLUMNS).where(*_THE_TASK).with_for_update()
_INSERT = insert(Task).returning(*COLUMNS)
# SET: the columns named in the parameters (see _apply), the version one up from the one
# read: a concurrent change in between (SQLite) matches nothing.
_UPDATE = (
    update(Task)
    .where(*_THE_TASK, col(Task.version) == bindparam("read_version"))
    .returning(*COLUMNS)
)
_DELETE = delete(Task).where(*_THE_TASK)


@dataclass(frozen=True, slots=True)
class StoredTask:
    """A tasks row, typed, as the rules change it (every column of COLUMNS, in order)."""

    id: int
    user_id: str
    title: str
    description: str | None
    completed: bool
    completed_at: datetime | None
    priority: int
    tag_names: tuple[str, ...]
    due_at: datetime | None
    recurrence_frequency: str | None
    recurrence_interval: int | None
    recurrence_day: int | None
    next_occurrence_id: int | None
    version: int
    created_at: datetime
    updated_at: datetime
    change_seq: int

    @classmethod
    def of(cls, row: TaskRow) -> "StoredTask":
        task = cls(*row[: len(COLUMNS)])
        return replace(task, tag_names=tuple(task.tag_names))  # a JSON list in the row

    @property
    def rule(self) -> Rule | None:
        if self.recurrence_frequency is None or self.recurrence_interval is None:
            return None
        return Rule(self.recurrence_frequency, self.recurrence_interval)

    def columns_changed_since(self, before: "StoredTask") -> dict[str, Any]:
        """What an UPDATE sets: the columns that differ from `before`, as stored."""
        changed = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if value != getattr(before, field.name):
                changed[field.name] = list(value) if field.name == "tag_names" else value
        return changed


def _edited(task: StoredTask, change: TaskChanges) -> StoredTask:
    """`task` with the fields `change` sets."""
    if change.title is not UNSET:
        task = replace(task, title=change.title)
    if change.description is not UNSET:
        task = replace(task, description=change.description)
    if change.completed is not UNSET:
        task = replace(task, completed=change.completed)
    if change.priority is not UNSET:
        task = replace(task, priority=change.priority)
    if change.tags is not UNSET:
        task = replace(task, tag_names=change.tags)
    if change.due_at is not UNSET:
        task = replace(task, due_at=change.due_at)
    if change.recurrence is not UNSET:
        rule = change.recurrence
        task = replace(
            task,
            recurrence_frequency=rule.frequency if rule else None,
            recurrence_interval=rule.interval if rule else None,
        )
    return task


class Changed(NamedTuple):
    """A task after a change, and whether anything about it actually changed."""

    row: TaskRow
    changed: bool


def get_task(connection: Connection, owner: UserCheck, task_id: int) -> TaskRow:
    row = connection.execute(_GET, {**owned(owner.user_id), "task_id": task_id}).first()
    if row is None:
        owner.ensure(connection)  # a revoked token is 401, not 404
        raise TaskNotFound(task_id)
    owner.seen(row.owner_valid_after)
    return row


def _next_timestamp(previous: datetime) -> datetime:
    # updated_at must move forward on every change, even within one clock tick.
    return max(utcnow(), previous + timedelta(microseconds=1))


def _month_day(due_at: datetime | None, rule: Rule | None) -> int | None:
    return due_at.day if due_at is not None and rule and rule.frequency == "monthly" else None


def create_task(connection: Connection, owner: UserCheck, task: NewTask, quotas: Quotas) -> TaskRow:
    """A new pending task (QuotaExceeded when the owner has no room for it)."""
    now = utcnow()
    return _insert(connection, owner, quotas, task, _month_day(task.due_at, task.recurrence), now)


def _insert(
    connection: Connection,
    owner: UserCheck,
    quotas: Quotas,
    task: NewTask,
    month_day: int | None,
    now: datetime,
) -> TaskRow:
    """INSERT … RETURNING of a new pending task (Core: no ORM flush for a plain insert),
    and its tag links, counted on the owner's quota (which also checks the owner)."""
    seq = take_task(connection, owner, quotas)
    rule = task.recurrence
    row = connection.execute(
        _INSERT,
        {
            "user_id": owner.user_id,
            "title": task.title,
            "description": task.description,
            "completed": False,
            "completed_at": None,
            "priority": task.priority,
            "tag_names": list(task.tags),
            "due_at": task.due_at,
            "recurrence_frequency": rule.frequency if rule else None,
            "recurrence_interval": rule.interval if rule else None,
            "recurrence_day": month_day,
            "next_occurrence_id": None,
            "version": 1,
            "created_at": now,
            "updated_at": now,
            "change_seq": seq,
        },
    ).one()
    if task.tags:
        tags.link(connection, owner.user_id, row.id, task.tags, quotas)
    return row


def _locked(
    connection: Connection, owner: UserCheck, task_id: int, if_match: str | None
) -> TaskRow:
    # The user first, locked against the account's deletion until the unit ends (the
    # order every write takes its locks in: the user's row, then the task's).
    owner.ensure(connection, lock=True)
    row = connection.execute(_LOCK, {**owned(owner.user_id), "task_id": task_id}).first()
    if row is None:
        raise TaskNotFound(task_id)
    if if_match is not None:
        etags.require_match(if_match, etag_of(row), task_id)
    return row


def _apply(
    connection: Connection, owner: UserCheck, row: TaskRow, change: TaskChanges, quotas: Quotas
) -> Changed:
    """Set editable fields; updated_at and the version (hence the ETag) move only if a
    stored value actually changed. Completing a recurring task creates its next occurrence.
    One UPDATE … WHERE version = <the one read>: a concurrent change in between (possible
    on SQLite, which has no row locks) raises StaleRow and the unit of work runs again."""
    stored = StoredTask.of(row)
    task = _edited(stored, change)
    if task == stored:
        return Changed(row, changed=False)
    now = _next_timestamp(stored.updated_at)
    if (task.due_at, task.rule) != (stored.due_at, stored.rule):
        task = replace(task, recurrence_day=_month_day(task.due_at, task.rule))
    if task.tag_names != stored.tag_names:
        tags.link(connection, owner.user_id, task.id, task.tag_names, quotas)
    if task.completed != stored.completed:
        task = replace(task, completed_at=now if task.completed else None)
        if task.completed and task.next_occurrence_id is None:
            successor = _create_next_occurrence(connection, owner, quotas, task, now)
            task = replace(task, next_occurrence_id=successor)
    task = replace(
        task,
        updated_at=now,
        version=stored.version + 1,
        change_seq=feed.next_change(connection, owner.user_id),
    )
    updated = connection.execute(
        _UPDATE,
        {
            **owned(owner.user_id),
            "task_id": stored.id,
            "read_version": stored.version,
            **task.columns_changed_since(stored),
        },
    ).first()
    if updated is None:
        raise StaleRow(f"task {stored.id} changed after it was read")
    return Changed(updated, changed=True)


def _create_next_occurrence(
    connection: Connection, owner: UserCheck, quotas: Quotas, task: StoredTask, now: datetime
) -> int | None:
    rule = task.rule
    if rule is None:
        return None
    due_at = recurrence.next_due(
        task.due_at or now, rule.frequency, rule.interval, task.recurrence_day
    )
    if due_at is None:
        return None  # past the year 9999: the series ends
    successor = NewTask(
        title=task.title,
        description=task.description,
        priority=task.priority,
        tags=task.tag_names,
        due_at=due_at,
        recurrence=rule,
    )
    month_day = task.recurrence_day or _month_day(due_at, rule)
    return int(_insert(connection, owner, quotas, successor, month_day, now).id)


def update_task(
    connection: Connection,
    owner: UserCheck,
    task_id: int,
    change: TaskChanges,
    quotas: Quotas,
    if_match: str | None = None,
) -> Changed:
    """The updated task (TaskNotFound when the owner has no such task)."""
    row = _locked(connection, owner, task_id, if_match)
    return _apply(connection, owner, row, change, quotas)


def set_completion(
    connection: Connection,
    owner: UserCheck,
    task_id: int,
    completed: bool | None,
    quotas: Quotas,
    if_match: str | None = None,
) -> Changed:
    """Set `completed`, or flip it when `completed` is None."""
    row = _locked(connection, owner, task_id, if_match)
    target = (not row.completed) if completed is None else completed
    return _apply(connection, owner, row, TaskChanges(completed=target), quotas)


def delete_task(
    connection: Connection, owner: UserCheck, task_id: int, if_match: str | None = None
) -> None:
    params = {**owned(owner.user_id), "task_id": task_id}
    if if_match is None:
        owner.ensure(connection, lock=True)
        if connection.execute(_DELETE, params).rowcount == 0:
            raise TaskNotFound(task_id)
    else:
        row = _locked(connection, owner, task_id, if_match)
        versioned = _DELETE.where(col(Task.version) == row.version)
        if connection.execute(versioned, params).rowcount == 0:
            raise StaleRow("task changed between the If-Match check and the delete")
    seq = give_back_task(connection, owner.user_id)
    feed.record_deletion(connection, owner.user_id, task_id, seq, utcnow())
