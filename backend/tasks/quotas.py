"""Per-user quotas: how many tasks and distinct tags a user may have. The task count is
kept on the user's row (users.task_count) and moved by one conditional UPDATE per create
and delete, so the check costs the same for a user with ten tasks or two hundred thousand
(and on PostgreSQL it locks the user's row: concurrent creates cannot both take the last
place)."""

from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, case, func, select, update
from sqlmodel import col

from backend.errors import ProblemError
from backend.identity.errors import TokenRevoked
from backend.identity.users import UserCheck
from backend.tables import Tag, User
from backend.tasks.scope import OWNER, owned, tags_of


@dataclass(frozen=True)
class Quotas:
    max_tasks: int
    max_tags: int


class QuotaExceeded(ProblemError):
    status = 409
    type = "urn:task-api:problem:quota-exceeded"

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(
            f"You have reached the limit of {limit} {what}; delete some to make room.",
            limit=limit,
        )


# One UPDATE of the owner's row does both: the quota's count and the changes feed's next
# number (backend.tasks.feed), under the row's lock.
# It also returns what the user check needs (UserCheck.seen): a create is one statement
# on the users table, and its lock keeps the account from being deleted under the insert.
_TAKE = (
    update(User)
    .where(col(User.id) == OWNER, col(User.task_count) + 1 <= bindparam("max"))
    .values(task_count=col(User.task_count) + 1, change_seq=col(User.change_seq) + 1)
    .returning(col(User.change_seq), col(User.tokens_valid_after))
)
_GIVE_BACK = (
    update(User)
    .where(col(User.id) == OWNER)
    .values(
        task_count=case((col(User.task_count) > 0, col(User.task_count) - 1), else_=0),
        change_seq=col(User.change_seq) + 1,
    )
    .returning(col(User.change_seq))
)
_TASKS = select(col(User.task_count)).where(col(User.id) == OWNER)
_TAGS = select(func.count()).select_from(Tag).where(tags_of(OWNER))


def take_task(connection: Connection, owner: UserCheck, quotas: Quotas) -> int:
    """Count one more task for the owner (or QuotaExceeded); the creation's change number.
    The owner is checked on the way; TokenRevoked when they were deleted under the request
    (no quota to speak of)."""
    params = {**owned(owner.user_id), "max": quotas.max_tasks}
    taken = connection.execute(_TAKE, params).first()
    if taken is None:  # a user seen for the first time, a revoked token, or no room
        owner.ensure(connection, lock=True)
        taken = connection.execute(_TAKE, params).first()
        if taken is None:
            if connection.execute(_TASKS, owned(owner.user_id)).first() is None:
                raise TokenRevoked()
            raise QuotaExceeded("tasks", quotas.max_tasks)
    owner.seen(taken.tokens_valid_after)
    return int(taken.change_seq)


def give_back_task(connection: Connection, owner_id: str) -> int:
    """Count one task less for the owner; the deletion's change number."""
    given = connection.execute(_GIVE_BACK, owned(owner_id)).first()
    if given is None:  # the owner was deleted under the request
        raise TokenRevoked()
    return int(given[0])


def check_new_tags(connection: Connection, owner_id: str, new: int, quotas: Quotas) -> None:
    """QuotaExceeded when `new` more distinct tags would pass the owner's limit."""
    existing = int(connection.execute(_TAGS, owned(owner_id)).scalar_one())
    if existing + new > quotas.max_tags:
        raise QuotaExceeded("distinct tags", quotas.max_tags)


def usage(connection: Connection, owner_id: str) -> tuple[int, int]:
    """(tasks, distinct tags) the owner has."""
    tasks = connection.execute(_TASKS, owned(owner_id)).scalar_one_or_none() or 0
    tags = connection.execute(_TAGS, owned(owner_id)).scalar_one()
    return int(tasks), int(tags)
