"""Password hashing: argon2id through passlib (the maintained `libpass` distribution), on
an executor of its own; and the rules a new password must meet."""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import cache

from passlib.context import CryptContext
from zxcvbn.frequency_lists import FREQUENCY_LISTS

# OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane): about 20 ms per hash on this
# machine class. Hashes made with other parameters are upgraded at the next sign-in.
_context = CryptContext(
    schemes=["argon2"],
    argon2__type="ID",
    argon2__memory_cost=19456,
    argon2__time_cost=2,
    argon2__parallelism=1,
)
# Verified against when the email is unknown, so that both failures take the same time.
_DUMMY_HASH = _context.hash("not the password of any account")
MIN_DISTINCT_CHARACTERS = 3


def hash_password(password: str) -> str:
    hashed: str = _context.hash(password)
    return hashed


def verify_password(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    """(matches, new hash when the stored one should be upgraded). A missing hash is
    checked against a dummy one and never matches."""
    if password_hash is None:
        _context.verify(password, _DUMMY_HASH)
        return False, None
    matches, new_hash = _context.verify_and_update(password, password_hash)
    return matches, new_hash


class Hasher:
    """Hashing and verification on `workers` threads of their own, never while a database
    connection is held: a flood of sign-ins waits here, not in the units of work of other
    requests (which run on the event loop's default threadpool)."""

    def __init__(self, workers: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, hash_password, password
        )

    async def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, verify_password, password, password_hash
        )

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


@cache
def _common_passwords() -> frozenset[str]:
    # zxcvbn's list of the 30,000 most common passwords (from leaked password sets).
    return frozenset(FREQUENCY_LISTS["passwords"])


def weakness(password: str, email: str) -> str | None:
    """Why `password` is too weak for the account `email` (NIST SP 800-63B: no commonly
    used or context-specific passwords), or None. Never repeats the password."""
    folded = password.strip().casefold()
    local_part = email.split("@", 1)[0].casefold()
    if not folded:
        return "must not be only spaces"
    if folded in _common_passwords():
        return "is one of the most common passwords; choose a less guessable one"
    if folded in (email.casefold(), local_part):
        return "must not be the email address or its local part"
    if len(set(folded)) < MIN_DISTINCT_CHARACTERS:
        return f"must contain at least {MIN_DISTINCT_CHARACTERS} different characters"
    return None
