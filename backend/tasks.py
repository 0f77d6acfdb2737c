"""Task queries and rules. Every function takes the owner's user id: there is no way
to read or write a task by id alone."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from backend.db import utcnow
from backend.models import Task
from generated.models import TaskStatusFilter

EDITABLE_FIELDS = frozenset({"title", "description", "completed"})
_COLUMNS = tuple(Task.__table__.columns)  # type: ignore[attr-defined]
_NAMES = tuple(column.key for column in _COLUMNS)


# The spaces openapi.yaml's Title pattern names: exactly these are trimmed (str.strip()
# would also take U+001C to U+001F, which the contract treats as control characters).
TITLE_SPACES = (
    " \u0085\u00a0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000\ufeff")
)


def normalise_title(title: str) -> str | None:
    """Titles are stored trimmed; None when nothing but spaces is left."""
    title = title.strip(TITLE_SPACES)
    return title or None


def _owned(user_id: str, task_id: int) -> Any:
    return select(Task).where(col(Task.user_id) == user_id, col(Task.id) == task_id)


def _next_timestamp(previous: datetime) -> datetime:
    # updated_at must move forward on every change, even within one clock tick.
    return max(utcnow(), previous + timedelta(microseconds=1))


def list_tasks(
    session: Session, user_id: str, status: TaskStatusFilter, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """One page, newest first, and the number of matching tasks, in one query. Plain
    rows, not ORM objects: a page is read-only and this is the hottest query."""
    conditions = [col(Task.user_id) == user_id]
    if status is not TaskStatusFilter.all:
        conditions.append(col(Task.completed) == (status is TaskStatusFilter.completed))
    total = func.count().over().label("total")
    rows = (
        session.connection()
        .execute(  # Core: no ORM result processing
            select(*_COLUMNS, total)
            .where(*conditions)
            .order_by(col(Task.created_at).desc(), col(Task.id).desc())
            .limit(limit)
            .offset(offset)
        )
        .all()
    )
    if rows:
        return [dict(zip(_NAMES, row[:-1], strict=True)) for row in rows], rows[0][-1]
    if offset == 0:
        return [], 0
    # Past the last page the window is empty: count separately.
    count = session.execute(select(func.count()).select_from(Task).where(*conditions)).scalar_one()
    return [], count


def get_task(session: Session, user_id: str, task_id: int) -> Task | None:
    return session.exec(_owned(user_id, task_id)).first()


def create_task(session: Session, user_id: str, title: str, description: str | None) -> Task:
    now = utcnow()
    task = Task(
        user_id=user_id,
        title=title,
        description=description,
        completed=False,
        created_at=now,
        updated_at=now,
    )
    session.add(task)
    session.flush()  # assigns the id
    return task


def _locked(session: Session, user_id: str, task_id: int) -> Task | None:
    # Row lock on PostgreSQL so concurrent read-modify-writes (toggle) serialise.
    return session.exec(_owned(user_id, task_id).with_for_update()).first()


def _apply(session: Session, task: Task, changes: dict[str, Any]) -> Task:
    """Set editable fields; updated_at moves only if a value actually changed."""
    unknown = changes.keys() - EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    changed = False
    for field, value in changes.items():
        if getattr(task, field) != value:
            setattr(task, field, value)
            changed = True
    if changed:
        task.updated_at = _next_timestamp(task.updated_at)
        session.flush()
    return task


def update_task(
    session: Session, user_id: str, task_id: int, changes: dict[str, Any]
) -> Task | None:
    task = _locked(session, user_id, task_id)
    return None if task is None else _apply(session, task, changes)


def set_completion(
    session: Session, user_id: str, task_id: int, completed: bool | None
) -> Task | None:
    """Set `completed`, or flip it when `completed` is None."""
    task = _locked(session, user_id, task_id)
    if task is None:
        return None
    target = (not task.completed) if completed is None else completed
    return _apply(session, task, {"completed": target})


def delete_task(session: Session, user_id: str, task_id: int) -> bool:
    result = session.execute(
        delete(Task).where(col(Task.user_id) == user_id, col(Task.id) == task_id)
    )
    return result.rowcount > 0
