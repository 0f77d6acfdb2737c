"""User records. Users are created from the first token that names them (`sub`), unless
that token predates the account's deletion or its last password change."""

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from backend.auth import Identity, token_revoked
from backend.db import insert_ignoring_duplicates, utcnow
from backend.models import DeletedUser, User


def _issued_before(identity: Identity, moment_timestamp: float) -> bool:
    return identity.issued_at is None or identity.issued_at < moment_timestamp


# Built once: this runs on every task request.
_VALID_AFTER = select(User.tokens_valid_after).where(col(User.id) == bindparam("user_id"))


def check_user(session: Session, identity: Identity) -> None:
    """ensure_user for the hot path (task operations): one Core query, no ORM instance."""
    found = session.connection().execute(_VALID_AFTER, {"user_id": identity.user_id}).first()
    if found is None:
        ensure_user(session, identity)
    elif found[0] is not None and _issued_before(identity, found[0].timestamp()):
        raise token_revoked()


def ensure_user(session: Session, identity: Identity) -> User:
    """The token's user, created on first sight (a concurrent first request is not an
    error). A token issued before a password change or the account's deletion is refused."""
    user = session.get(User, identity.user_id)
    if user is not None:
        if user.tokens_valid_after is not None and _issued_before(
            identity, user.tokens_valid_after.timestamp()
        ):
            raise token_revoked()
        return user
    tombstone = session.get(DeletedUser, identity.user_id)
    if tombstone is not None and _issued_before(identity, tombstone.deleted_at.timestamp()):
        raise token_revoked()
    session.execute(
        insert_ignoring_duplicates(session, User).values(
            id=identity.user_id, email=identity.email, name=identity.name, created_at=utcnow()
        )
    )
    user = session.get(User, identity.user_id)
    assert user is not None
    return user
