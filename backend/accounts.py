"""The API's own accounts: sign-up, sign-in, profile changes, deletion. Every function
runs inside one unit of work (backend.db.Database.run) and returns an outcome; the route
turns outcomes into HTTP, so that counted failures are committed before a 401/429."""

import uuid
from dataclasses import dataclass
from enum import Enum, auto

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from backend import ratelimit
from backend.db import utcnow
from backend.models import Credential, DeletedUser, User
from backend.passwords import hash_password, verify_password
from backend.text import trimmed


class Refusal(Enum):
    EMAIL_TAKEN = auto()
    INVALID_CREDENTIALS = auto()
    TOO_MANY = auto()
    WRONG_PASSWORD = auto()
    NO_PASSWORD = auto()


@dataclass(frozen=True)
class Refused:
    reason: Refusal
    retry_after: int | None = None


@dataclass(frozen=True)
class Limits:
    signin_failures_per_email: ratelimit.Limit
    signin_failures_per_client: ratelimit.Limit
    signups: ratelimit.Limit


def normalise_email(email: str) -> str:
    return email.strip(" ").lower()


def normalise_name(name: str) -> str | None:
    """Names follow the task-title rules: trimmed, None when nothing visible is left."""
    return trimmed(name)


def _keys(email: str, client: str) -> tuple[str, str]:
    return f"signin:email:{email}", f"signin:client:{client}"


def sign_up(
    session: Session, email: str, password: str, name: str, client: str, limits: Limits
) -> User | Refused:
    key = f"signup:client:{client}"
    wait = ratelimit.retry_after(session, key, limits.signups)
    if wait is not None:
        return Refused(Refusal.TOO_MANY, wait)
    ratelimit.record(session, key, limits.signups)
    email = normalise_email(email)
    if session.exec(select(Credential).where(col(Credential.email) == email)).first():
        return Refused(Refusal.EMAIL_TAKEN)
    now = utcnow()
    user = User(id=uuid.uuid4().hex, email=email, name=name, created_at=now)
    session.add(user)
    session.flush()
    try:
        with session.begin_nested():  # a concurrent sign-up with the same email
            session.add(
                Credential(
                    user_id=user.id,
                    email=email,
                    password_hash=hash_password(password),
                    created_at=now,
                )
            )
    except IntegrityError:
        session.delete(user)
        return Refused(Refusal.EMAIL_TAKEN)
    return user


def sign_in(
    session: Session, email: str, password: str, client: str, limits: Limits
) -> User | Refused:
    email = normalise_email(email)
    email_key, client_key = _keys(email, client)
    counters = [
        (email_key, limits.signin_failures_per_email),
        (client_key, limits.signin_failures_per_client),
    ]
    waits = [ratelimit.retry_after(session, key, limit) for key, limit in counters]
    if any(w is not None for w in waits):
        return Refused(Refusal.TOO_MANY, max(w for w in waits if w is not None))
    credential = session.exec(select(Credential).where(col(Credential.email) == email)).first()
    matches, new_hash = verify_password(password, credential.password_hash if credential else None)
    if credential is None or not matches:
        for key, limit in counters:
            ratelimit.record(session, key, limit)
        return Refused(Refusal.INVALID_CREDENTIALS)
    ratelimit.clear(session, email_key)  # the email's failures; the client's stay
    if new_hash is not None:  # made with older parameters: upgrade now that we know the password
        credential.password_hash = new_hash
    user = session.get(User, credential.user_id)
    assert user is not None  # credentials are deleted with their user
    return user


def update_profile(
    session: Session,
    user: User,
    *,
    name: str | None,
    password: str | None,
    current_password: str | None,
) -> User | Refused:
    if password is not None:
        credential = session.get(Credential, user.id)
        if credential is None:
            return Refused(Refusal.NO_PASSWORD)
        matches, _ = verify_password(current_password or "", credential.password_hash)
        if not matches:
            return Refused(Refusal.WRONG_PASSWORD)
        credential.password_hash = hash_password(password)
        user.tokens_valid_after = utcnow()  # every token issued before now stops working
    if name is not None:
        user.name = name
    session.flush()
    return user


def delete_account(session: Session, user: User) -> None:
    """The user, their tasks and credentials (ON DELETE CASCADE), and a tombstone so that
    an old token cannot bring the account back."""
    session.merge(DeletedUser(id=user.id, deleted_at=utcnow()))
    session.execute(delete(User).where(col(User.id) == user.id))
