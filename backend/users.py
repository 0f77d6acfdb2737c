"""User records. Users are created from the first token that names them (`sub`)."""

from sqlmodel import Session

from backend.auth import Identity
from backend.db import insert_ignoring_duplicates, utcnow
from backend.models import User


def ensure_user(session: Session, identity: Identity) -> None:
    """Create the user record on first sight; a concurrent first request is not an error."""
    if session.get(User, identity.user_id) is not None:
        return
    statement = insert_ignoring_duplicates(session, User).values(
        id=identity.user_id, email=identity.email, name=identity.name, created_at=utcnow()
    )
    session.execute(statement)
