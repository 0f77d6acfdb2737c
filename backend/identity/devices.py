"""Device tokens (OWASP's "device cookie"): an opaque token handed out at a successful
sign-in. A later sign-in to the same account that presents it is throttled per device
instead of per account, so failed guesses by others cannot lock the owner out. Stored as a
SHA-256 digest; deleted with the account and by a password change."""

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, insert, select

from backend.tables import DeviceToken

_TABLE = DeviceToken.__table__  # type: ignore[attr-defined]  # SQLModel declares it untyped
TOKEN_BYTES = 32
# What secrets.token_urlsafe(TOKEN_BYTES) returns: 43 base64url characters, no padding.
_WELL_FORMED = re.compile(r"[A-Za-z0-9_-]{43}")


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def well_formed(token: str) -> bool:
    """Whether `token` could be one `issue` made (anything else needs no lookup)."""
    return _WELL_FORMED.fullmatch(token) is not None


def issue(connection: Connection, user_id: str, now: datetime, ttl_seconds: int) -> str:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    connection.execute(
        insert(_TABLE).values(
            digest=digest(token),
            user_id=user_id,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
        )
    )
    return token


def owner(connection: Connection, token: str, now: datetime) -> str | None:
    """The user a valid (known, unexpired) device token belongs to."""
    found: str | None = connection.execute(
        select(_TABLE.c.user_id).where(_TABLE.c.digest == digest(token), _TABLE.c.expires_at > now)
    ).scalar_one_or_none()
    return found


def revoke_all(connection: Connection, user_id: str) -> None:
    connection.execute(delete(_TABLE).where(_TABLE.c.user_id == user_id))


def purge(connection: Connection, now: datetime) -> int:
    return connection.execute(delete(_TABLE).where(_TABLE.c.expires_at <= now)).rowcount
