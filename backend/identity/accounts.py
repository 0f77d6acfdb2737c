"""The API's own accounts: sign-up, sign-in, profile changes, deletion.

Each operation runs its database work in short units of work and hashes or verifies
passwords between them, never while holding a connection. A counted failure is committed in
a unit of its own before the refusal is raised, so nothing that fails later undoes it."""

import uuid
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from backend.db import Database, utcnow
from backend.identity import ratelimit
from backend.identity.errors import (
    EmailTaken,
    InvalidCredentials,
    NoPassword,
    TooManyAttempts,
    WrongPassword,
)
from backend.identity.passwords import hash_password, verify_password
from backend.identity.tokens import Identity
from backend.identity.users import ensure_user
from backend.tables import Credential, DeletedUser, User
from backend.text import trimmed


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


def _signin_counters(email: str, client: str, limits: Limits) -> list[tuple[str, ratelimit.Limit]]:
    return [
        (f"signin:email:{email}", limits.signin_failures_per_email),
        (f"signin:client:{client}", limits.signin_failures_per_client),
    ]


def _refuse_when_limited(session: Session, counters: list[tuple[str, ratelimit.Limit]]) -> None:
    waits = [ratelimit.retry_after(session, key, limit) for key, limit in counters]
    if any(wait is not None for wait in waits):
        raise TooManyAttempts(max(wait for wait in waits if wait is not None))


async def sign_up(
    db: Database, email: str, password: str, name: str, client: str, limits: Limits
) -> User:
    email = normalise_email(email)
    counter = (f"signup:client:{client}", limits.signups)

    def count_attempt(session: Session) -> None:
        _refuse_when_limited(session, [counter])
        ratelimit.record(session, *counter)

    await db.orm_unit(count_attempt)
    password_hash = await run_in_threadpool(hash_password, password)

    def create(session: Session) -> User:
        if session.exec(select(Credential).where(col(Credential.email) == email)).first():
            raise EmailTaken()
        now = utcnow()
        user = User(id=uuid.uuid4().hex, email=email, name=name, created_at=now)
        session.add(user)
        session.flush()
        try:
            with session.begin_nested():  # a concurrent sign-up with the same email
                session.add(
                    Credential(
                        user_id=user.id, email=email, password_hash=password_hash, created_at=now
                    )
                )
        except IntegrityError:
            raise EmailTaken() from None
        return user

    return await db.orm_unit(create)


async def sign_in(db: Database, email: str, password: str, client: str, limits: Limits) -> User:
    email = normalise_email(email)
    counters = _signin_counters(email, client, limits)

    def credential_of(session: Session) -> tuple[str, str] | None:
        _refuse_when_limited(session, counters)
        found = session.exec(select(Credential).where(col(Credential.email) == email)).first()
        return None if found is None else (found.user_id, found.password_hash)

    found = await db.orm_unit(credential_of)
    matches, new_hash = await run_in_threadpool(verify_password, password, found and found[1])
    if found is None or not matches:

        def count_failure(session: Session) -> None:
            for key, limit in counters:
                ratelimit.record(session, key, limit)

        await db.orm_unit(count_failure)
        raise InvalidCredentials()
    user_id = found[0]

    def signed_in(session: Session) -> User:
        ratelimit.clear(session, counters[0][0])  # the email's failures; the client's stay
        credential = session.get(Credential, user_id)
        user = session.get(User, user_id)
        if credential is None or user is None:  # deleted meanwhile
            raise InvalidCredentials()
        if new_hash is not None:  # made with older parameters: upgrade, the password is known
            credential.password_hash = new_hash
        return user

    return await db.orm_unit(signed_in)


async def profile(db: Database, identity: Identity) -> User:
    """The token's user (created on first sight for tokens from Better Auth)."""
    return await db.orm_unit(lambda session: ensure_user(session, identity))


async def update_profile(
    db: Database,
    identity: Identity,
    *,
    name: str | None,
    password: str | None,
    current_password: str | None,
) -> User:
    new_hash: str | None = None
    if password is not None:

        def stored_hash(session: Session) -> str:
            ensure_user(session, identity)
            credential = session.get(Credential, identity.user_id)
            if credential is None:
                raise NoPassword()
            return credential.password_hash

        current_hash = await db.orm_unit(stored_hash)
        matches, _ = await run_in_threadpool(verify_password, current_password or "", current_hash)
        if not matches:
            raise WrongPassword()
        new_hash = await run_in_threadpool(hash_password, password)

    def change(session: Session) -> User:
        user = ensure_user(session, identity)
        if new_hash is not None:
            credential = session.get(Credential, user.id)
            if credential is None:
                raise NoPassword()
            credential.password_hash = new_hash
            user.tokens_valid_after = utcnow()  # every token issued before now stops working
        if name is not None:
            user.name = name
        session.flush()
        return user

    return await db.orm_unit(change)


async def delete_account(db: Database, identity: Identity) -> None:
    """The user, their tasks and credentials (ON DELETE CASCADE), and a tombstone so that
    an old token cannot bring the account back."""

    def remove(session: Session) -> None:
        user = ensure_user(session, identity)
        session.merge(DeletedUser(id=user.id, deleted_at=utcnow()))
        session.execute(delete(User).where(col(User.id) == user.id))

    await db.orm_unit(remove)
