"""The API's own accounts: sign-up, sign-in, profile changes, deletion.

Every attempt that could be a guess first takes its place on the throttles in a unit of
work of its own (committed before the password is checked, so nothing later undoes it);
passwords are hashed and verified between units of work on the Hasher's executor, never
while a connection is held. A right password gives its places back.

A sign-in passes, in order: the worker's memory of the client's refused keys (free, after
a pause); the client's attempt counter, in a unit of work that commits whatever comes next
(so refused attempts count too), which also reads the credential and whether the device
token belongs to it (read only: a bogus token is simply no token); the memory again for
the keys that apply (the device's, or the account's); then the guess counters in a unit of
their own."""

import asyncio
import math
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Connection, delete, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from backend.clock import utcnow
from backend.config import Settings
from backend.database.sql import insert_ignoring_duplicates
from backend.database.units import Database
from backend.errors import InvalidInput
from backend.identity import devices, ratelimit
from backend.identity.errors import (
    EmailTaken,
    InvalidCredentials,
    NoPassword,
    TokenRevoked,
    TooManyAttempts,
    WrongPassword,
)
from backend.identity.passwords import Hasher, weakness
from backend.identity.ratelimit import Limit
from backend.identity.tokens import Identity
from backend.identity.users import ensure_user
from backend.tables import Credential, DeletedUser, User
from backend.text import trimmed
from generated.models import Location

T = TypeVar("T")
Counters = list[tuple[str, Limit]]  # throttle keys and their limits
MINUTE = 60
DAY = 24 * 3600


@dataclass(frozen=True)
class Throttles:
    """The limits of the account endpoints (settings, documented in openapi.yaml)."""

    failures_per_email: Limit  # and per device, for sign-ins with a device token
    failures_per_email_per_day: Limit
    failures_per_client: Limit
    signins_per_client: Limit
    signups_per_client: Limit
    secret: bytes  # keys the email digests in throttle keys

    @classmethod
    def from_settings(cls, settings: Settings) -> "Throttles":
        return cls(
            failures_per_email=Limit(settings.signin_max_failures, settings.signin_window_seconds),
            failures_per_email_per_day=Limit(settings.signin_max_failures_per_day, DAY),
            failures_per_client=Limit(
                settings.signin_max_failures_per_client, settings.signin_window_seconds
            ),
            signins_per_client=Limit(settings.signin_max_per_client_per_minute, MINUTE),
            signups_per_client=Limit(
                settings.signup_max_per_window, settings.signup_window_seconds
            ),
            secret=settings.better_auth_secret.get_secret_value().encode(),
        )


@dataclass(frozen=True)
class SignedIn:
    user: User
    device_token: str


def normalise_email(email: str) -> str:
    return email.strip(" ").lower()


def normalise_name(name: str) -> str | None:
    """Names follow the task-title rules: trimmed, None when nothing visible is left."""
    return trimmed(name)


def _take_all(connection: Connection, counters: Counters, now: datetime) -> None:
    """Count one event on every counter, or none (429) when one of them is full."""
    for key, limit in counters:
        wait = ratelimit.take(connection, key, limit, now)
        if wait is not None:
            raise TooManyAttempts(wait, key)  # the unit of work rolls back what it counted


def _refund_all(connection: Connection, counters: Counters) -> None:
    for key, _ in counters:
        ratelimit.refund(connection, key)


def _check_strength(password: str, email: str) -> None:
    reason = weakness(password, email)
    if reason is not None:
        raise InvalidInput.at(Location.body, "/password", reason)


class _KnownBlocks:
    """Throttle keys this worker saw refused, until their windows end: a client that keeps
    knocking is answered from memory, after a pause, without a database round trip. A
    flood of refused attempts then costs next to nothing, and each of its connections
    gets at most one answer per TARPIT_SECONDS."""

    TARPIT_SECONDS = 1.0
    SIZE = 10_000

    def __init__(self) -> None:
        self._until: OrderedDict[str, float] = OrderedDict()

    def add(self, refusal: TooManyAttempts) -> None:
        if refusal.key:
            self._until[refusal.key] = time.monotonic() + refusal.retry_after
            self._until.move_to_end(refusal.key)
            if len(self._until) > self.SIZE:
                self._until.popitem(last=False)

    def forget(self, key: str) -> None:
        self._until.pop(key, None)

    async def refuse_known(self, *keys: str) -> None:
        for key in keys:
            until = self._until.get(key)
            if until is None:
                continue
            left = until - time.monotonic()
            if left <= 0:
                del self._until[key]
                continue
            await asyncio.sleep(min(self.TARPIT_SECONDS, left))
            raise TooManyAttempts(max(1, math.ceil(left)), key)


class Accounts:
    def __init__(self, db: Database, hasher: Hasher, throttles: Throttles, device_ttl: int) -> None:
        self._db = db
        self._hasher = hasher
        self._throttles = throttles
        self._device_ttl = device_ttl
        self._blocks = _KnownBlocks()

    def forget_known_blocks(self) -> None:
        """Forget the refusals this worker remembers (after the counters in the database
        were reset by hand)."""
        self._blocks = _KnownBlocks()

    async def _counted(self, unit: Callable[[Connection], T]) -> T:
        """A unit of work that takes throttle places; a refusal is remembered."""
        try:
            return await self._db.core_unit(unit)
        except TooManyAttempts as refusal:
            self._blocks.add(refusal)
            raise

    def _email_key(self, email: str) -> str:
        return f"signin-fail:email:{ratelimit.digest(self._throttles.secret, email)}"

    def _guess_counters(self, email: str, client: str) -> Counters:
        """Where a password guess for `email` from `client` (no device token) is counted."""
        limits = self._throttles
        day_key = f"signin-fail-day:email:{ratelimit.digest(limits.secret, email)}"
        return [
            (self._email_key(email), limits.failures_per_email),
            (day_key, limits.failures_per_email_per_day),
            (f"signin-fail:client:{client}", limits.failures_per_client),
        ]

    async def sign_up(self, email: str, password: str, name: str, client: str) -> SignedIn:
        email = normalise_email(email)
        _check_strength(password, email)
        now = utcnow()
        counter = (f"signup:client:{client}", self._throttles.signups_per_client)
        await self._blocks.refuse_known(counter[0])
        await self._counted(lambda connection: _take_all(connection, [counter], now))
        password_hash = await self._hasher.hash(password)

        def create(session: Session) -> SignedIn:
            taken = select(Credential).where(col(Credential.email) == email)
            if session.execute(taken).first():
                raise EmailTaken()
            user = User(id=uuid.uuid4().hex, email=email, name=name, created_at=now)
            session.add(user)
            session.flush()
            try:
                with session.begin_nested():  # a concurrent sign-up with the same email
                    session.add(
                        Credential(
                            user_id=user.id,
                            email=email,
                            password_hash=password_hash,
                            created_at=now,
                        )
                    )
            except IntegrityError:
                raise EmailTaken() from None
            token = devices.issue(session.connection(), user.id, now, self._device_ttl)
            return SignedIn(user, token)

        return await self._db.orm_unit(create)

    def _device_key(self, device_token: str) -> str:
        return f"signin-fail:device:{devices.digest(device_token)[:40]}"

    async def sign_in(
        self, email: str, password: str, client: str, device_token: str | None
    ) -> SignedIn:
        email = normalise_email(email)
        now = utcnow()
        limits = self._throttles
        attempts = (f"signin:client:{client}", limits.signins_per_client)
        # A token that cannot be one this API issued is no token, decided without a lookup.
        token = device_token if device_token and devices.well_formed(device_token) else None

        # A client past its own limits is answered from memory: nothing more to count.
        await self._blocks.refuse_known(attempts[0], f"signin-fail:client:{client}")

        def admit(connection: Connection) -> tuple[tuple[str, str] | None, bool]:
            # Committed on its own: every other attempt counts on the client's attempts,
            # also when a limit below refuses it (so a client knocking on a locked account
            # soon meets its own limit, which memory answers from then on).
            _take_all(connection, [attempts], now)
            found = connection.execute(
                select(col(Credential.user_id), col(Credential.password_hash)).where(
                    col(Credential.email) == email
                )
            ).first()
            credential = None if found is None else (str(found[0]), str(found[1]))
            trusted = bool(
                token and credential and devices.owner(connection, token, now) == credential[0]
            )
            return credential, trusted

        credential, trusted = await self._counted(admit)
        if trusted and token:
            # A device this account signed in from: its own counter, not the account's.
            counters: Counters = [(self._device_key(token), limits.failures_per_email)]
        else:  # no token, or one of no device of this account: as without one
            counters = self._guess_counters(email, client)
        await self._blocks.refuse_known(*(key for key, _ in counters))
        await self._counted(lambda connection: _take_all(connection, counters, now))
        matches, new_hash = await self._hasher.verify(password, credential and credential[1])
        if credential is None or not matches:
            raise InvalidCredentials()  # the places taken stay: they were this failure
        user_id = credential[0]
        known_device = token if trusted else None

        def finish(session: Session) -> SignedIn:
            connection = session.connection()
            # Only this client's own slate: a trusted device's failures are forgotten; an
            # untrusted client gives back this attempt's places and nothing else, so the
            # account's lockout for every other untrusted client runs its window (OWASP
            # device cookies), and nobody can reset a shared counter with an account of
            # their own.
            if known_device:
                ratelimit.clear(connection, counters[0][0])
            else:
                _refund_all(connection, counters)
            stored = session.get(Credential, user_id)
            user = session.get(User, user_id)
            if stored is None or user is None:  # deleted meanwhile
                raise InvalidCredentials()
            if new_hash is not None:  # made with older parameters: upgrade, the password is known
                stored.password_hash = new_hash
            # The device token it came with, or a new one for this device.
            issued = known_device or devices.issue(connection, user_id, now, self._device_ttl)
            return SignedIn(user, issued)

        signed_in = await self._db.orm_unit(finish)
        # Cleared or given back in the database just now: a refusal this worker remembers
        # for them (parallel attempts that found them full) may be out of date. The
        # database decides again at the next attempt.
        for key, _ in counters:
            self._blocks.forget(key)
        return signed_in

    async def profile(self, identity: Identity) -> User:
        """The token's user (created on first sight for tokens from Better Auth)."""
        return await self._db.orm_unit(
            lambda session: ensure_user(session, identity), owner=identity.user_id
        )

    async def update_profile(
        self,
        identity: Identity,
        *,
        name: str | None,
        password: str | None,
        current_password: str | None,
        client: str,
    ) -> User:
        new_hash: str | None = None
        counters: Counters = []
        if password is not None:
            now = utcnow()

            def start(session: Session) -> str:
                ensure_user(session, identity)
                credential = session.get(Credential, identity.user_id)
                if credential is None:
                    raise NoPassword()
                # The new password's rules first: a weak one is no guess and takes no place.
                _check_strength(password, credential.email)
                # A wrong current password is a guess like a failed sign-in, on the same
                # counters: a stolen token must not become a way to guess the password.
                counters.extend(self._guess_counters(credential.email, client))
                _take_all(session.connection(), counters, now)
                return credential.password_hash

            current_hash = await self._db.orm_unit(start, owner=identity.user_id)
            matches, _ = await self._hasher.verify(current_password or "", current_hash)
            if not matches:
                raise WrongPassword()
            new_hash = await self._hasher.hash(password)

        def change(session: Session) -> User:
            user = ensure_user(session, identity)
            if new_hash is not None:
                credential = session.get(Credential, user.id)
                if credential is None:
                    raise NoPassword()
                _refund_all(session.connection(), counters)
                credential.password_hash = new_hash
                user.tokens_valid_after = utcnow()  # every token issued before now stops working
                devices.revoke_all(session.connection(), user.id)
            if name is not None:
                user.name = name
            session.flush()
            return user

        return await self._db.orm_unit(change, owner=identity.user_id)

    async def delete_account(self, identity: Identity) -> None:
        """The user, their tasks, credentials and devices (ON DELETE CASCADE), and a
        tombstone so that an old token cannot bring the account back."""

        def remove(session: Session) -> None:
            user = ensure_user(session, identity)
            connection = session.connection()
            # Concurrent deletions with one token: one deletes, the others find nothing.
            connection.execute(
                insert_ignoring_duplicates(connection, DeletedUser).values(
                    id=user.id, deleted_at=utcnow()
                )
            )
            gone = connection.execute(delete(User).where(col(User.id) == user.id)).rowcount
            if gone == 0:
                raise TokenRevoked()

        await self._db.orm_unit(remove, owner=identity.user_id)

    async def purge_expired(self) -> int:
        """Forget ended throttle windows and expired device tokens."""
        now = utcnow()

        def purge(connection: Connection) -> int:
            return ratelimit.purge(connection, now) + devices.purge(connection, now)

        return await self._db.core_unit(purge)
