"""SQLModel tables: persistence only. Never returned to clients (see generated/models.py)."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


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


# BIGINT ids on PostgreSQL; SQLite only auto-increments a column spelled INTEGER PRIMARY KEY.
IdType = BigInteger().with_variant(Integer(), "sqlite")

USER_ID_MAX = 255
TITLE_MAX = 200
DESCRIPTION_MAX = 1000


def _column(*args: Any, **kwargs: Any) -> Any:
    return Field(sa_column=Column(*args, **kwargs))


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: str = _column(String(USER_ID_MAX), primary_key=True)
    email: str | None = _column(String(320), nullable=True)
    name: str | None = _column(String(255), nullable=True)
    created_at: datetime = _column(UTCDateTime(), nullable=False)
    # Tokens issued (iat) before this moment are refused: set by a password change.
    tokens_valid_after: datetime | None = _column(UTCDateTime(), nullable=True)


class Credential(SQLModel, table=True):
    """A password of the API's own accounts. Users known only from Better Auth have none."""

    __tablename__ = "credentials"

    user_id: str = _column(
        String(USER_ID_MAX), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    email: str = _column(String(320), nullable=False, unique=True)  # stored lower-cased
    password_hash: str = _column(String(255), nullable=False)
    created_at: datetime = _column(UTCDateTime(), nullable=False)


class DeletedUser(SQLModel, table=True):
    """Tombstone of a deleted account: tokens issued before deleted_at cannot re-create it."""

    __tablename__ = "deleted_users"

    id: str = _column(String(USER_ID_MAX), primary_key=True)
    deleted_at: datetime = _column(UTCDateTime(), nullable=False)


class RateLimitEvent(SQLModel, table=True):
    """One counted event (a failed sign-in, a sign-up) under a key such as
    `signin:email:ada@example.com`. In the database so every worker sees the same counts."""

    __tablename__ = "rate_limit_events"
    __table_args__ = (Index("ix_rate_limit_events_key_at", "key", "at"),)

    id: int | None = _column(IdType, primary_key=True, autoincrement=True)
    key: str = _column(String(400), nullable=False)
    at: datetime = _column(UTCDateTime(), nullable=False)


class Task(SQLModel, table=True):
    __tablename__ = "tasks"
    __table_args__ = (
        # Newest-first listing of one user's tasks, with and without the status filter.
        Index("ix_tasks_user_created", "user_id", "created_at", "id"),
        Index("ix_tasks_user_completed", "user_id", "completed", "created_at", "id"),
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
    created_at: datetime = _column(UTCDateTime(), nullable=False)
    updated_at: datetime = _column(UTCDateTime(), nullable=False)
