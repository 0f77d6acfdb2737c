"""Repeat rules: when the next occurrence of a recurring task is due."""

import calendar
from datetime import datetime, timedelta


def next_due(
    previous: datetime, frequency: str, interval: int, month_day: int | None = None
) -> datetime | None:
    """`previous` advanced by `interval` days, weeks or months; None past the year 9999.

    Monthly rules land on `month_day` (default: the day of `previous`), clamped to the
    length of the month, so a series anchored on the 31st goes Jan 31 -> Feb 28/29 ->
    Mar 31. The time of day is kept."""
    try:
        if frequency == "daily":
            return previous + timedelta(days=interval)
        if frequency == "weekly":
            return previous + timedelta(weeks=interval)
    except OverflowError:
        return None
    if frequency != "monthly":
        raise ValueError(f"unknown frequency: {frequency}")
    months = previous.year * 12 + (previous.month - 1) + interval
    year, month = divmod(months, 12)
    if year > 9999:
        return None
    month += 1
    day = min(month_day or previous.day, calendar.monthrange(year, month)[1])
    return previous.replace(year=year, month=month, day=day)
