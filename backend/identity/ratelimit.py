"""Fixed-window counters kept in the database, so the limits hold across worker processes
and instances (no shared store besides the database is assumed).

`take` counts an event and checks the limit in ONE conditional upsert (INSERT … ON CONFLICT
DO UPDATE … WHERE count < max RETURNING), so N parallel attempts never get more than the
limit's number past it, on PostgreSQL (the conflicting row is locked) and SQLite (writers
are serialised). No maintained library fits: `limits` stores in Redis/Memcached/MongoDB,
pyrate-limiter's PostgreSQL bucket needs psycopg 3; both would add a second way to reach
the data.
"""

import hashlib
import hmac
import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from backend.tables import RATE_KEY_MAX, RateLimit

_TABLE = RateLimit.__table__  # type: ignore[attr-defined]  # SQLModel declares it untyped
_DIGEST_CHARS = 40  # 160 bits of an HMAC: keys stay short and never hold the email itself
IPV6_PREFIX = 64  # one IPv6 client is a /64: hosts get whole /64s, one address each is free


@dataclass(frozen=True)
class Limit:
    max_events: int
    window_seconds: int


def digest(secret: bytes, value: str) -> str:
    """A keyed digest of `value` (an email): the same for every worker, not reversible by
    someone who reads the table without the secret."""
    return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()[:_DIGEST_CHARS]


def client_key(host: str | None) -> str:
    """The throttle key of a client address: IPv4 as is, IPv6 by its /64, anything else (a
    proxy's garbage, a Unix socket) in one shared bucket. Bounded whatever the input."""
    try:
        address = ipaddress.ip_address((host or "").strip())
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)


def _upsert(connection: Connection, key: str, limit: Limit, now: datetime) -> bool:
    if len(key) > RATE_KEY_MAX:
        raise ValueError(f"rate-limit key longer than {RATE_KEY_MAX}: {key[:20]}…")
    window = timedelta(seconds=limit.window_seconds)
    insert = (
        postgresql.insert(_TABLE)
        if connection.dialect.name == "postgresql"
        else sqlite.insert(_TABLE)
    )
    values = insert.values(key=key, window_started_at=now, count=1, expires_at=now + window)
    expired = _TABLE.c.window_started_at <= now - window
    statement = values.on_conflict_do_update(
        index_elements=[_TABLE.c.key],
        set_={
            "count": case((expired, 1), else_=_TABLE.c.count + 1),
            "window_started_at": case((expired, now), else_=_TABLE.c.window_started_at),
            "expires_at": case((expired, now + window), else_=_TABLE.c.expires_at),
        },
        where=or_(expired, _TABLE.c.count < limit.max_events),
    ).returning(_TABLE.c.count)
    return connection.execute(statement).first() is not None


def take(connection: Connection, key: str, limit: Limit, now: datetime) -> int | None:
    """Count one event under `key`. None when it was within the limit; otherwise nothing is
    counted and the answer is the seconds until the window ends."""
    if _upsert(connection, key, limit, now):
        return None
    started = connection.execute(
        select(_TABLE.c.window_started_at).where(_TABLE.c.key == key)
    ).scalar_one_or_none()
    if started is None:
        return 1
    remaining = (started + timedelta(seconds=limit.window_seconds) - now).total_seconds()
    return max(1, math.ceil(remaining))


def refund(connection: Connection, key: str) -> None:
    """Give back one event counted by `take` (an attempt that turned out fine)."""
    connection.execute(
        update(_TABLE)
        .where(_TABLE.c.key == key, _TABLE.c.count > 0)
        .values(count=_TABLE.c.count - 1)
    )


def clear(connection: Connection, key: str) -> None:
    connection.execute(delete(_TABLE).where(_TABLE.c.key == key))


def purge(connection: Connection, now: datetime) -> int:
    """Forget every counter whose window has ended; the number forgotten."""
    return connection.execute(delete(_TABLE).where(_TABLE.c.expires_at <= now)).rowcount
