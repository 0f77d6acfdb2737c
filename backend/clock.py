"""The one clock: timezone-aware UTC (SQLModel rejects naive date-times)."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
