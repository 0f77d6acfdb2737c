"""User records. Users are created from the first token that names them (`sub`), unless
that token predates the account's deletion or its last password change."""

from datetime import datetime

from sqlalchemy import Connection, bindparam
from sqlmodel import Session, col, select

from backend.clock import utcnow
from backend.database.sql import insert_ignoring_duplicates
from backend.identity.errors import TokenRevoked
from backend.identity.tokens import Identity
from backend.tables import DeletedUser, User


def _issued_before(identity: Identity, moment_timestamp: float) -> bool:
    return identity.issued_at is None or identity.issued_at < moment_timestamp


# Built once: this runs on every task request.
_VALID_AFTER = select(User.tokens_valid_after).where(col(User.id) == bindparam("user_id"))
# For writes: FOR KEY SHARE blocks the account's deletion (FOR UPDATE) until the unit ends,
# and does not block other writes of the user (FOR NO KEY UPDATE). SQLite ignores it; its
# writers take turns anyway.
_VALID_AFTER_LOCKED = _VALID_AFTER.with_for_update(read=True, key_share=True)
_DELETED_AT = select(DeletedUser.deleted_at).where(col(DeletedUser.id) == bindparam("user_id"))


def check_user(connection: Connection, identity: Identity, *, lock: bool = False) -> None:
    """The token's user exists afterwards, created on first sight (a concurrent first
    request is not an error). A token issued before a password change or the account's
    deletion is refused (401). Core only: one indexed query on the hot path. With `lock`,
    the user cannot be deleted before the unit of work ends."""
    statement = _VALID_AFTER_LOCKED if lock else _VALID_AFTER
    found = connection.execute(statement, {"user_id": identity.user_id}).first()
    if found is not None:
        if found[0] is not None and _issued_before(identity, found[0].timestamp()):
            raise TokenRevoked()
        return
    deleted_at = connection.execute(_DELETED_AT, {"user_id": identity.user_id}).scalar()
    if deleted_at is not None and _issued_before(identity, deleted_at.timestamp()):
        raise TokenRevoked()
    connection.execute(
        insert_ignoring_duplicates(connection, User).values(
            id=identity.user_id, email=identity.email, name=identity.name, created_at=utcnow()
        )
    )


class UserCheck:
    """The user a unit of work runs for, checked once in it: from the users row a statement
    of the unit read anyway (`seen`, with backend.tasks.scope.OWNER_VALID_AFTER: one
    statement fewer per request), or by check_user (`ensure`: also creates the user on
    first sight). 401 for a revoked token either way. One per unit of work."""

    __slots__ = ("_checked", "identity")

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self._checked = False

    @property
    def user_id(self) -> str:
        return self.identity.user_id

    def seen(self, valid_after: datetime | None) -> None:
        """The user's row as a statement read it (it exists): 401 for a revoked token."""
        if valid_after is not None and _issued_before(self.identity, valid_after.timestamp()):
            raise TokenRevoked()
        self._checked = True

    def ensure(self, connection: Connection, *, lock: bool = False) -> None:
        """check_user, unless a statement has shown the user's row already."""
        if not self._checked:
            check_user(connection, self.identity, lock=lock)
            self._checked = True


def ensure_user(session: Session, identity: Identity) -> User:
    """check_user, then the user as an ORM object (for the account routes)."""
    check_user(session.connection(), identity)
    user = session.get(User, identity.user_id)
    if user is None:  # deleted by a concurrent request since check_user saw it
        raise TokenRevoked()
    return user
