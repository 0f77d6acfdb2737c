"""Password hashing: argon2id through passlib (the maintained `libpass` distribution)."""

from passlib.context import CryptContext

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
