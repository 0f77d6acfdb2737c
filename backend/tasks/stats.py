"""The stats of a user's tasks: counts by priority and status, overdue, due today (in the
client's time zone), and the quota usage, in one query from the owner scope."""

from datetime import datetime, timedelta, tzinfo
from typing import Any, cast

from sqlalchemy import BindParameter, Connection, and_, bindparam, func, not_, select
from sqlmodel import col

from backend.clock import utcnow
from backend.database.sql import AnySelect
from backend.tables import Task
from backend.tasks.fields import PRIORITY_NAMES
from backend.tasks.quotas import Quotas, usage
from backend.tasks.scope import OWNER, owned, tasks_of


def _stats_statement() -> AnySelect:
    pending = not_(col(Task.completed))
    due = col(Task.due_at)
    now: BindParameter[datetime] = bindparam("now")
    start: BindParameter[datetime] = bindparam("day_start")
    end: BindParameter[datetime] = bindparam("day_end")
    return (
        select(
            col(Task.priority),
            col(Task.completed),
            func.count(),
            func.count().filter(and_(pending, due < now)),
            func.count().filter(and_(pending, due >= start, due < end)),
        )
        .where(tasks_of(OWNER))
        .group_by(col(Task.priority), col(Task.completed))
    )


STATS = _stats_statement()
_StatsRow = tuple[int, bool, int, int, int]  # priority, completed and the three counts


def stats_params(owner_id: str, zone: tzinfo, now: datetime) -> dict[str, Any]:
    """STATS's parameters: "today" is the calendar day of `now` in `zone`."""
    start = datetime.combine(now.astimezone(zone).date(), datetime.min.time(), zone)
    end = datetime.combine(start.date() + timedelta(days=1), datetime.min.time(), zone)
    return {**owned(owner_id), "now": now, "day_start": start, "day_end": end}


def stats(connection: Connection, owner_id: str, zone: tzinfo, quotas: Quotas) -> dict[str, Any]:
    """Counts by priority and status, overdue and due today (in `zone`), in one query that
    reads only ix_tasks_user_completed_due on PostgreSQL; and the owner's quota usage."""
    by_priority = {name: {"pending": 0, "completed": 0} for name in PRIORITY_NAMES.values()}
    overdue = due_today = 0
    rows = connection.execute(STATS, stats_params(owner_id, zone, utcnow()))
    for row in rows:
        rank, completed, count, overdue_count, today_count = cast(_StatsRow, tuple(row))
        by_priority[PRIORITY_NAMES[rank]]["completed" if completed else "pending"] += count
        overdue += overdue_count
        due_today += today_count
    completed_total = sum(counts["completed"] for counts in by_priority.values())
    pending_total = sum(counts["pending"] for counts in by_priority.values())
    tasks, tag_count = usage(connection, owner_id)
    return {
        "total": completed_total + pending_total,
        "pending": pending_total,
        "completed": completed_total,
        "by_priority": by_priority,
        "overdue": overdue,
        "due_today": due_today,
        "usage": {
            "tasks": tasks,
            "max_tasks": quotas.max_tasks,
            "tags": tag_count,
            "max_tags": quotas.max_tags,
        },
    }
