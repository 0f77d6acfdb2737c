"""backend.tasks.recurrence.next_due, the repeat rule itself: no HTTP, no database (the
same rule through the API: test_recurrence.py)."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from backend.tasks.recurrence import next_due


def at(year: int, month: int, day: int) -> datetime:
    """A moment with a time of day that must survive every step."""
    return datetime(year, month, day, 9, 30, 15, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("frequency", "interval", "expected"),
    [
        ("daily", 1, at(2027, 3, 11)),
        ("daily", 3, at(2027, 3, 13)),
        ("daily", 30, at(2027, 4, 9)),
        ("daily", 366, at(2028, 3, 10)),  # across 2028-02-29
        ("weekly", 1, at(2027, 3, 17)),
        ("weekly", 2, at(2027, 3, 24)),
        ("weekly", 52, at(2028, 3, 8)),
        ("monthly", 1, at(2027, 4, 10)),
        ("monthly", 11, at(2028, 2, 10)),
        ("monthly", 12, at(2028, 3, 10)),
        ("monthly", 13, at(2028, 4, 10)),
        ("monthly", 22, at(2029, 1, 10)),
        ("monthly", 1000, at(2110, 7, 10)),
    ],
)
def test_each_frequency_advances_by_its_interval(
    frequency: str, interval: int, expected: datetime
) -> None:
    assert next_due(at(2027, 3, 10), frequency, interval) == expected


def test_the_time_of_day_and_the_offset_are_kept() -> None:
    plus_two = timezone(timedelta(hours=2))
    previous = datetime(2027, 1, 31, 23, 45, 10, 999999, tzinfo=plus_two)
    for frequency in ("daily", "weekly", "monthly"):
        following = next_due(previous, frequency, 1)
        assert following is not None
        assert following.timetz() == previous.timetz()
        assert following.tzinfo is plus_two


def _monthly_series(first: datetime, interval: int, count: int) -> list[datetime | None]:
    """The next `count` due dates of a monthly rule anchored on the day of `first`."""
    seen: list[datetime | None] = []
    due: datetime | None = first
    for _ in range(count):
        assert due is not None
        due = next_due(due, "monthly", interval, month_day=first.day)
        seen.append(due)
    return seen


def test_a_series_anchored_on_the_31st_comes_back_to_it() -> None:
    assert _monthly_series(at(2027, 1, 31), 1, 7) == [
        at(2027, 2, 28),
        at(2027, 3, 31),
        at(2027, 4, 30),
        at(2027, 5, 31),
        at(2027, 6, 30),
        at(2027, 7, 31),
        at(2027, 8, 31),
    ]


def test_without_an_anchor_the_day_of_the_previous_due_date_is_kept() -> None:
    assert next_due(at(2027, 2, 28), "monthly", 1) == at(2027, 3, 28)
    assert next_due(at(2027, 2, 28), "monthly", 1, month_day=31) == at(2027, 3, 31)
    assert next_due(at(2027, 2, 28), "monthly", 1, month_day=15) == at(2027, 3, 15)


@pytest.mark.parametrize(
    ("previous", "interval", "expected"),
    [
        (at(2027, 1, 31), 1, at(2027, 2, 28)),
        (at(2028, 1, 31), 1, at(2028, 2, 29)),  # divisible by 4: leap
        (at(2100, 1, 31), 1, at(2100, 2, 28)),  # by 100 but not by 400: not leap
        (at(2000, 1, 31), 1, at(2000, 2, 29)),  # by 400: leap
        (at(1900, 1, 31), 1, at(1900, 2, 28)),
        (at(2027, 12, 31), 2, at(2028, 2, 29)),
        (at(2027, 10, 31), 4, at(2028, 2, 29)),
        (at(2027, 1, 31), 13, at(2028, 2, 29)),  # more than a year ahead
        (at(2027, 12, 31), 14, at(2029, 2, 28)),
        (at(2096, 2, 29), 48, at(2100, 2, 28)),
        (at(1996, 2, 29), 48, at(2000, 2, 29)),
        (at(2027, 8, 31), 1, at(2027, 9, 30)),
    ],
)
def test_monthly_clamps_to_the_length_of_the_month(
    previous: datetime, interval: int, expected: datetime
) -> None:
    assert next_due(previous, "monthly", interval) == expected


def test_a_leap_day_anchor_comes_back_in_the_next_leap_year() -> None:
    assert _monthly_series(at(2028, 2, 29), 12, 4) == [
        at(2029, 2, 28),
        at(2030, 2, 28),
        at(2031, 2, 28),
        at(2032, 2, 29),
    ]


@pytest.mark.parametrize(
    ("previous", "expected"),
    [
        (at(2100, 2, 28), at(2100, 3, 1)),
        (at(2000, 2, 28), at(2000, 2, 29)),
        (at(2027, 12, 31), at(2028, 1, 1)),
    ],
)
def test_daily_follows_the_calendar(previous: datetime, expected: datetime) -> None:
    assert next_due(previous, "daily", 1) == expected


@pytest.mark.parametrize(
    ("previous", "frequency", "interval"),
    [
        (at(9999, 12, 31), "daily", 1),
        (at(9999, 12, 27), "weekly", 1),
        (at(9999, 12, 15), "monthly", 1),
        (at(9950, 1, 15), "monthly", 1000),
        (at(2027, 1, 1), "daily", 3_000_000),
        (at(2027, 1, 1), "weekly", 500_000),
    ],
)
def test_nothing_is_due_after_the_year_9999(
    previous: datetime, frequency: str, interval: int
) -> None:
    assert next_due(previous, frequency, interval) is None


@pytest.mark.parametrize(
    ("previous", "frequency", "expected"),
    [
        (at(9999, 12, 30), "daily", at(9999, 12, 31)),
        (at(9999, 12, 24), "weekly", at(9999, 12, 31)),
        (at(9999, 11, 30), "monthly", at(9999, 12, 30)),
    ],
)
def test_the_last_days_of_9999_are_still_due(
    previous: datetime, frequency: str, expected: datetime
) -> None:
    assert next_due(previous, frequency, 1) == expected


def test_an_unknown_frequency_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown frequency"):
        next_due(at(2027, 1, 1), "yearly", 1)
