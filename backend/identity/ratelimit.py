"""Sliding-window counters kept in the database, so the limits hold across worker
processes and instances (no shared store besides the database is assumed).

No maintained library fits: `limits` stores in Redis/Memcached/MongoDB, pyrate-limiter's
PostgreSQL bucket needs psycopg 3; both would add a second way to reach the data.
"""

import math
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from backend.db import utcnow
from backend.tables import RateLimitEvent


@dataclass(frozen=True)
class Limit:
    max_events: int
    window_seconds: int


def retry_after(session: Session, key: str, limit: Limit) -> int | None:
    """Seconds until `key` may have another event, or None when it is under the limit."""
    since = utcnow() - timedelta(seconds=limit.window_seconds)
    count, oldest = session.exec(
        select(func.count(), func.min(RateLimitEvent.at)).where(
            col(RateLimitEvent.key) == key, col(RateLimitEvent.at) > since
        )
    ).one()
    if count < limit.max_events or oldest is None:
        return None
    return max(1, math.ceil((oldest - since).total_seconds()))


def record(session: Session, key: str, limit: Limit) -> None:
    """Count one event, and forget this key's events that left the window."""
    now = utcnow()
    session.execute(
        delete(RateLimitEvent).where(
            col(RateLimitEvent.key) == key,
            col(RateLimitEvent.at) <= now - timedelta(seconds=limit.window_seconds),
        )
    )
    session.add(RateLimitEvent(key=key, at=now))


def clear(session: Session, key: str) -> None:
    session.execute(delete(RateLimitEvent).where(col(RateLimitEvent.key) == key))
