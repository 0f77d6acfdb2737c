"""SQLModel tables: persistence only. Never returned to clients (generated/models.py is
what the API returns)."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from backend.limits import DESCRIPTION_MAX, EMAIL_MAX, IDEMPOTENCY_KEY_MAX, TAG_MAX, TITLE_MAX


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out. SQLite keeps no offset, so one is put back on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store timezone-aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        # The API's PostgreSQL transactions run in time zone UTC (backend.database.engine):
        # the driver's timestamps are UTC as they come, so no call per value (4 per task
        # row; a twentieth of a long page's CPU). SQLite's need their UTC put back.
        if dialect.name == "postgresql":
            return None
        return super().result_processor(dialect, coltype)


# BIGINT ids on PostgreSQL; SQLite only auto-increments a column spelled INTEGER PRIMARY KEY.
IdType = BigInteger().with_variant(Integer(), "sqlite")

# A token's sub (backend.identity.tokens) and so every user id: at most 255 characters.
USER_ID_MAX = 255


def _column(*args: Any, **kwargs: Any) -> Any:
    return Field(sa_column=Column(*args, **kwargs))


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: str = _column(String(USER_ID_MAX), primary_key=True)
    email: str | None = _column(String(EMAIL_MAX), nullable=True)
    name: str | None = _column(String(255), nullable=True)
    created_at: datetime = _column(UTCDateTime(), nullable=False)
    # Tokens issued (iat) before this moment are refused: set by a password change.
    tokens_valid_after: datetime | None = _column(UTCDateTime(), nullable=True)
    # How many tasks the user has, kept with every create and delete: the quota's check
    # is one conditional UPDATE instead of counting a heavy user's rows.
    task_count: int = Field(
        default=0,
        sa_column=Column("task_count", Integer(), nullable=False, server_default=text("0")),
    )
    # The user's change sequence: every task write takes the next number while it holds
    # this row (backend.tasks.feed), so the changes feed sees writes in commit order.
    change_seq: int = Field(
        default=0, sa_column=Column("change_seq", IdType, nullable=False, server_default=text("0"))
    )
    # Tombstones up to this number were purged: an older feed cursor is 410.
    feed_floor: int = Field(
        default=0, sa_column=Column("feed_floor", IdType, nullable=False, server_default=text("0"))
    )


class Credential(SQLModel, table=True):
    """A password of the API's own accounts. Users known only from Better Auth have none."""

    __tablename__ = "credentials"

    user_id: str = _column(
        String(USER_ID_MAX), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    email: str = _column(String(EMAIL_MAX), nullable=False, unique=True)  # stored lower-cased
    password_hash: str = _column(String(255), nullable=False)
    created_at: datetime = _column(UTCDateTime(), nullable=False)


class DeletedUser(SQLModel, table=True):
    """Tombstone of a deleted account: tokens issued before deleted_at cannot re-create it."""

    __tablename__ = "deleted_users"

    id: str = _column(String(USER_ID_MAX), primary_key=True)
    deleted_at: datetime = _column(UTCDateTime(), nullable=False)


RATE_KEY_MAX = 80  # "<scope>:<kind>:" and a 64-character digest or an address prefix


class RateLimit(SQLModel, table=True):
    """One fixed-window counter per key (`signin-failures:email:<digest>`, …), counted and
    checked in one conditional upsert so that parallel attempts cannot pass its limit. In
    the database so every worker and instance sees the same counts."""

    __tablename__ = "rate_limits"
    __table_args__ = (Index("ix_rate_limits_expires_at", "expires_at"),)

    key: str = _column(String(RATE_KEY_MAX), primary_key=True)
    window_started_at: datetime = _column(UTCDateTime(), nullable=False)
    count: int = _column(Integer(), nullable=False)
    expires_at: datetime = _column(UTCDateTime(), nullable=False)  # for the purge


class DeviceToken(SQLModel, table=True):
    """A device that signed in to an account before (OWASP's "device cookie"): sign-ins that
    present it are exempt from the account's lockout. Stored as a SHA-256 digest; deleted
    with the account and by a password change."""

    __tablename__ = "device_tokens"
    __table_args__ = (Index("ix_device_tokens_user_id", "user_id"),)

    digest: str = _column(String(64), primary_key=True)
    user_id: str = _column(
        String(USER_ID_MAX), ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    created_at: datetime = _column(UTCDateTime(), nullable=False)
    expires_at: datetime = _column(UTCDateTime(), nullable=False)


class IdempotencyRecord(SQLModel, table=True):
    """One user's Idempotency-Key (backend.idempotency): claimed by the first request
    that sends it (in_flight), then the answer that request gave (done), kept until
    expires_at so that a retry gets the same answer. Purged after that."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        Index("ix_idempotency_keys_expires_at", "expires_at"),
        CheckConstraint("state IN ('in_flight', 'done')", name="ck_idempotency_keys_state"),
    )

    user_id: str = _column(
        String(USER_ID_MAX), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    key: str = _column(String(IDEMPOTENCY_KEY_MAX), primary_key=True)
    # SHA-256 (hex) of the request's method, path and body: a retry must match it.
    fingerprint: str = _column(String(64), nullable=False)
    state: str = _column(String(9), nullable=False)
    # The answer (state done): status, body (none for 204), ETag and Location headers.
    status: int | None = _column(SmallInteger(), nullable=True)
    body: bytes | None = _column(LargeBinary(), nullable=True)
    etag: str | None = _column(String(64), nullable=True)
    location: str | None = _column(Text(), nullable=True)
    # When the current claim was made: it identifies the claim (a takeover of an abandoned
    # or expired one sets another), and in_flight claims older than the lease are abandoned.
    created_at: datetime = _column(UTCDateTime(), nullable=False)
    expires_at: datetime = _column(UTCDateTime(), nullable=False)


TAG_KEY_MAX = 200  # casefold() can lengthen a tag ("ß" -> "ss")


_VERSION = Column("version", Integer(), nullable=False, server_default=text("1"))


class Task(SQLModel, table=True):
    __tablename__ = "tasks"
    __table_args__ = (
        # One index per sort key, each led by user_id and ending in id (the tie-break), so a
        # page of any order is an index range scan. Backward scans serve the other order,
        # except for due_at, whose NULLs must come last in both orders.
        Index("ix_tasks_user_created", "user_id", "created_at", "id"),
        Index("ix_tasks_user_completed", "user_id", "completed", "created_at", "id"),
        Index("ix_tasks_user_updated", "user_id", "updated_at", "id"),
        Index("ix_tasks_user_priority", "user_id", "priority", "id"),
        # ASC puts NULLs last; DESC with NULLs last is ix_tasks_user_due_desc, PostgreSQL
        # only (SQLite has no NULLS LAST in an index).
        Index("ix_tasks_user_due", "user_id", "due_at", "id"),
        Index("ix_tasks_user_title", "user_id", func.lower(text("title")), "id"),
        # Overdue and due-today counts: pending tasks by due date, without visiting rows.
        Index(
            "ix_tasks_user_completed_due",
            "user_id",
            "completed",
            "due_at",
            postgresql_include=["priority"],  # the stats query reads only this index
        ),
        # The changes feed: the user's tasks by the number of their last change.
        Index("ix_tasks_user_change", "user_id", "change_seq"),
        # Never hand out the id of a deleted task again (SQLite would reuse the highest one).
        {"sqlite_autoincrement": True},
    )

    id: int | None = _column(IdType, primary_key=True, autoincrement=True)
    user_id: str = _column(
        String(USER_ID_MAX), ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    title: str = _column(String(TITLE_MAX), nullable=False)
    description: str | None = _column(String(DESCRIPTION_MAX), nullable=True)
    completed: bool = _column(Boolean(), nullable=False)
    completed_at: datetime | None = _column(UTCDateTime(), nullable=True)
    # Rank, so that sorting by priority is sorting by a number: 1 low, 2 medium, 3 high.
    priority: int = _column(SmallInteger(), nullable=False, server_default=text("2"))
    # The task's tags as given, sorted by key: what responses show, without a join. The
    # tags / task_tags tables are the index for filtering and counting by tag.
    tag_names: list[str] = _column(JSON(), nullable=False, server_default=text("'[]'"))
    due_at: datetime | None = _column(UTCDateTime(), nullable=True)
    recurrence_frequency: str | None = _column(String(10), nullable=True)
    recurrence_interval: int | None = _column(Integer(), nullable=True)
    # Day of the month a monthly rule keeps (31 survives February), from the due date.
    recurrence_day: int | None = _column(SmallInteger(), nullable=True)
    # Set once, when completing the task created its next occurrence; no foreign key, so
    # deleting that occurrence does not change this task (nor its ETag).
    next_occurrence_id: int | None = _column(IdType, nullable=True)
    # The ETag's counter. Optimistic concurrency: every UPDATE says `WHERE version = <read
    # value>` and bumps it (backend.tasks.changes), so a write based on a stale read fails
    # instead of being lost.
    version: int = Field(sa_column=_VERSION)
    created_at: datetime = _column(UTCDateTime(), nullable=False)
    updated_at: datetime = _column(UTCDateTime(), nullable=False)
    # The number of the user's change that last wrote this task (backend.tasks.feed).
    change_seq: int = Field(
        default=0, sa_column=Column("change_seq", IdType, nullable=False, server_default=text("0"))
    )


class TaskTombstone(SQLModel, table=True):
    """A deleted task, for the changes feed; purged after the retention period."""

    __tablename__ = "task_tombstones"
    __table_args__ = (Index("ix_task_tombstones_deleted_at", "deleted_at"),)

    user_id: str = _column(
        String(USER_ID_MAX), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    change_seq: int = _column(IdType, primary_key=True, autoincrement=False)
    task_id: int = _column(IdType, nullable=False)
    deleted_at: datetime = _column(UTCDateTime(), nullable=False)


class Tag(SQLModel, table=True):
    """A user's tag, under the spelling it was first used with."""

    __tablename__ = "tags"
    __table_args__ = (Index("uq_tags_user_key", "user_id", "key", unique=True),)

    id: int | None = _column(IdType, primary_key=True, autoincrement=True)
    user_id: str = _column(
        String(USER_ID_MAX), ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    key: str = _column(String(TAG_KEY_MAX), nullable=False)  # casefolded: compares tags
    name: str = _column(String(TAG_MAX), nullable=False)


class TaskTag(SQLModel, table=True):
    __tablename__ = "task_tags"
    # "Tasks with tag X" and "how many tasks have tag X" read this index only.
    __table_args__ = (Index("ix_task_tags_tag_task", "tag_id", "task_id"),)

    task_id: int = _column(IdType, ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    tag_id: int = _column(IdType, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)


# Created by migration 0003 on PostgreSQL only (trigram search, NULLS LAST); autogenerate
# and the schema test leave them alone.
POSTGRESQL_ONLY_INDEXES = frozenset(
    {"ix_tasks_user_due_desc", "ix_tasks_search_title", "ix_tasks_search_description"}
)


def include_in_autogenerate(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    return not (type_ == "index" and name in POSTGRESQL_ONLY_INDEXES)
