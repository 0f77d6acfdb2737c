"""The changes feed: what changed in a user's tasks since a cursor.

Every task write takes the next number of the owner's change sequence (users.change_seq)
with an UPDATE of the owner's row, and holds that row's lock until it commits (PostgreSQL;
SQLite serialises writers anyway): a user's writes commit in the order of their numbers, so
a reader that has seen number N has seen everything before it. A task row keeps the number
of its last change (tasks.change_seq); a deletion leaves a tombstone with its number. A
page reads both up to the highest number committed when it started, so what it returns is
one consistent prefix of the sequence.

Chosen over "read only up to the oldest in-flight transaction" (PostgreSQL's
pg_snapshot_xmin) because it is the same on SQLite and PostgreSQL and needs nothing but
the user's row, which the quota counter already updates on creates and deletes.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic_core import to_json
from sqlalchemy import (
    BigInteger,
    BindParameter,
    Connection,
    Integer,
    bindparam,
    delete,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlmodel import col

from backend.errors import ProblemError
from backend.identity.errors import TokenRevoked
from backend.tables import Task, TaskTombstone, User
from backend.tasks.rows import COLUMNS, TaskJson, row_to_api
from backend.tasks.scope import OWNER, owned, tasks_of, tombstones_of


class CursorExpired(ProblemError):
    status = 410
    type = "urn:task-api:problem:cursor-expired"

    def __init__(self, retention_days: int) -> None:
        super().__init__(
            f"The cursor is older than the {retention_days} days of changes kept; sync again "
            "from the start (no since)."
        )


@dataclass(frozen=True)
class FeedPage:
    changes: list[TaskJson]
    deleted: list[dict[str, Any]]
    cursor: int  # the change number the next page follows (sealed into a cursor for clients)
    has_more: bool

    def json(self, cursor: str) -> bytes:
        """The contract's ChangeFeed, with the page's `cursor` as the client gets it."""
        return to_json(
            {
                "changes": self.changes,
                "deleted": self.deleted,
                "cursor": cursor,
                "has_more": self.has_more,
            }
        )


_NEXT = (
    update(User)
    .where(col(User.id) == OWNER)
    .values(change_seq=col(User.change_seq) + 1)
    .returning(col(User.change_seq))
)
_HEAD = select(col(User.change_seq), col(User.feed_floor)).where(col(User.id) == OWNER)
_SINCE: BindParameter[int] = bindparam("since", type_=BigInteger())
_UPTO: BindParameter[int] = bindparam("upto", type_=BigInteger())
_LIMIT: BindParameter[int] = bindparam("limit", type_=Integer())
CHANGED_TASKS = (
    select(*COLUMNS)
    .where(tasks_of(OWNER), col(Task.change_seq) > _SINCE, col(Task.change_seq) <= _UPTO)
    .order_by(col(Task.change_seq))
    .limit(_LIMIT)
)
DELETIONS = (
    select(col(TaskTombstone.change_seq), col(TaskTombstone.task_id), col(TaskTombstone.deleted_at))
    .where(
        tombstones_of(OWNER),
        col(TaskTombstone.change_seq) > _SINCE,
        col(TaskTombstone.change_seq) <= _UPTO,
    )
    .order_by(col(TaskTombstone.change_seq))
    .limit(_LIMIT)
)


# Pages longer than this are heavy work (backend.database.admission): hundreds of tasks to read and
# serialise.
LONG_PAGE = 100


def expensive(limit: int) -> bool:
    return limit > LONG_PAGE


def next_change(connection: Connection, owner_id: str) -> int:
    """The owner's next change number; the owner's row stays locked until commit.
    TokenRevoked when the owner was deleted under the request."""
    taken = connection.execute(_NEXT, owned(owner_id)).first()
    if taken is None:
        raise TokenRevoked()
    return int(taken[0])


def record_deletion(
    connection: Connection, owner_id: str, task_id: int, seq: int, at: datetime
) -> None:
    connection.execute(
        insert(TaskTombstone).values(
            user_id=owner_id, change_seq=seq, task_id=task_id, deleted_at=at
        )
    )


def changes_since(
    connection: Connection, owner_id: str, since: int | None, limit: int, retention_days: int
) -> FeedPage:
    """Up to `limit` changes and deletions after `since` (None: from the beginning)."""
    head = connection.execute(_HEAD, owned(owner_id)).first()
    upto, floor = (int(head[0]), int(head[1])) if head is not None else (0, 0)
    if since is not None and since < floor:
        raise CursorExpired(retention_days)
    params = {**owned(owner_id), "since": since or 0, "upto": upto, "limit": limit + 1}
    # (number, a changed task or None, a deletion or None), in the sequence's order.
    merged: list[tuple[int, TaskJson | None, dict[str, Any] | None]] = [
        (int(row.change_seq), row_to_api(row), None)
        for row in connection.execute(CHANGED_TASKS, params)
    ]
    merged += [
        (int(seq), None, {"id": int(task_id), "deleted_at": at})
        for seq, task_id, at in connection.execute(DELETIONS, params)
    ]
    merged.sort(key=lambda item: item[0])
    page = merged[:limit]
    return FeedPage(
        changes=[task for _, task, _ in page if task is not None],
        deleted=[gone for _, _, gone in page if gone is not None],
        cursor=page[-1][0] if page else (since or 0),
        has_more=len(merged) > limit,
    )


def purge(connection: Connection, now: datetime, retention_days: int) -> int:
    """Forget deletions older than the retention; remember how far, for 410s."""
    cutoff = now - timedelta(days=retention_days)
    old = (col(TaskTombstone.user_id) == col(User.id)) & (col(TaskTombstone.deleted_at) < cutoff)
    newest_purged = select(func.max(TaskTombstone.change_seq)).where(old).scalar_subquery()
    connection.execute(update(User).where(exists().where(old)).values(feed_floor=newest_purged))
    done = connection.execute(delete(TaskTombstone).where(col(TaskTombstone.deleted_at) < cutoff))
    return done.rowcount
