"""Recurring tasks through HTTP: completing one creates its next occurrence, due one
period later (the rule itself: test_recurrence_unit.py)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import MakeTask, auth, count_rows, replacement
from tests.tasks.helpers import (
    complete_task,
    get_task,
    listed_ids,
    parse_utc,
    patch_task,
    put_task,
    tag_list,
    task_url,
)


def _complete_and_follow(client: TestClient, task: dict[str, Any]) -> dict[str, Any]:
    """Complete `task`; check it names its next occurrence and that the occurrence is a
    pending copy; return the occurrence."""
    response = complete_task(client, task)
    assert response.status_code == 200, response.text
    done = response.json()
    assert done["completed"] is True
    next_id = done["next_occurrence_id"]
    assert isinstance(next_id, int)
    assert next_id != task["id"]
    assert get_task(client, task) == done
    following = get_task(client, next_id)
    for field in ("user_id", "title", "description", "priority", "tags", "recurrence"):
        assert following[field] == task[field], field
    assert following["completed"] is False
    assert following["completed_at"] is None
    assert following["next_occurrence_id"] is None
    return following


@pytest.mark.parametrize(
    ("frequency", "interval", "expected"),
    [
        ("daily", 1, datetime(2027, 3, 11, 9, 30, 15, tzinfo=UTC)),
        ("daily", 3, datetime(2027, 3, 13, 9, 30, 15, tzinfo=UTC)),
        ("daily", 30, datetime(2027, 4, 9, 9, 30, 15, tzinfo=UTC)),
        ("weekly", 1, datetime(2027, 3, 17, 9, 30, 15, tzinfo=UTC)),
        ("weekly", 2, datetime(2027, 3, 24, 9, 30, 15, tzinfo=UTC)),
        ("monthly", 1, datetime(2027, 4, 10, 9, 30, 15, tzinfo=UTC)),
        ("monthly", 11, datetime(2028, 2, 10, 9, 30, 15, tzinfo=UTC)),
    ],
)
def test_completing_a_recurring_task_creates_the_next_occurrence(
    client: TestClient,
    engine: Engine,
    make_task: MakeTask,
    frequency: str,
    interval: int,
    expected: datetime,
) -> None:
    task = make_task(
        title="Water the plants",
        description="all of them",
        priority="high",
        tags=["home", "Chores"],
        due_at="2027-03-10T09:30:15Z",
        recurrence={"frequency": frequency, "interval": interval},
    )
    following = _complete_and_follow(client, task)
    assert parse_utc(following["due_at"]) == expected
    assert following["id"] > task["id"]
    assert count_rows(engine, "tasks", "user_id = 'alice'") == 2
    # The occurrence is an ordinary task of the user: listed, pending, tagged.
    assert listed_ids(client, {"status": "pending"}) == ([following["id"]], 1)
    assert listed_ids(client, {"tag": "chores"}) == ([following["id"], task["id"]], 2)
    assert tag_list(client) == [("Chores", 2), ("home", 2)]


def _due_dates_of_the_next(client: TestClient, task: dict[str, Any], count: int) -> list[str]:
    """Complete `task`, then each occurrence it creates, `count` times: their due dates."""
    seen = []
    for _ in range(count):
        task = _complete_and_follow(client, task)
        seen.append(task["due_at"])
    return seen


def test_monthly_keeps_the_day_of_the_month(client: TestClient, make_task: MakeTask) -> None:
    task = make_task(due_at="2027-01-31T23:45:10Z", recurrence={"frequency": "monthly"})
    assert _due_dates_of_the_next(client, task, 5) == [
        "2027-02-28T23:45:10Z",
        "2027-03-31T23:45:10Z",
        "2027-04-30T23:45:10Z",
        "2027-05-31T23:45:10Z",
        "2027-06-30T23:45:10Z",
    ]


@pytest.mark.parametrize(
    ("due_at", "interval", "expected"),
    [
        ("2028-01-31T08:00:00Z", 1, "2028-02-29T08:00:00Z"),
        ("2028-02-29T08:00:00Z", 12, "2029-02-28T08:00:00Z"),
        ("2027-12-31T08:00:00Z", 2, "2028-02-29T08:00:00Z"),
        ("2027-10-31T08:00:00Z", 4, "2028-02-29T08:00:00Z"),
        ("2027-08-31T08:00:00Z", 1, "2027-09-30T08:00:00Z"),
    ],
)
def test_monthly_clamps_to_short_months(
    client: TestClient, make_task: MakeTask, due_at: str, interval: int, expected: str
) -> None:
    task = make_task(due_at=due_at, recurrence={"frequency": "monthly", "interval": interval})
    assert _complete_and_follow(client, task)["due_at"] == expected


def test_monthly_anchor_survives_a_leap_day(client: TestClient, make_task: MakeTask) -> None:
    task = make_task(
        due_at="2028-02-29T06:00:00Z", recurrence={"frequency": "monthly", "interval": 12}
    )
    assert _due_dates_of_the_next(client, task, 4) == [
        "2029-02-28T06:00:00Z",
        "2030-02-28T06:00:00Z",
        "2031-02-28T06:00:00Z",
        "2032-02-29T06:00:00Z",
    ]


def test_monthly_day_follows_a_changed_due_date(client: TestClient, make_task: MakeTask) -> None:
    task = make_task(due_at="2027-01-31T08:00:00Z", recurrence={"frequency": "monthly"})
    task = patch_task(client, task, {"due_at": "2027-02-15T08:00:00Z"}).json()
    assert _complete_and_follow(client, task)["due_at"] == "2027-03-15T08:00:00Z"


def test_monthly_day_comes_from_the_due_date_when_recurrence_is_added(
    client: TestClient, make_task: MakeTask
) -> None:
    task = make_task(due_at="2027-01-30T08:00:00Z")
    task = patch_task(client, task, {"recurrence": {"frequency": "monthly"}}).json()
    following = _complete_and_follow(client, task)
    assert following["due_at"] == "2027-02-28T08:00:00Z"
    assert _complete_and_follow(client, following)["due_at"] == "2027-03-30T08:00:00Z"


def test_completing_again_creates_no_second_occurrence(
    client: TestClient, engine: Engine, make_task: MakeTask
) -> None:
    task = make_task(due_at="2027-03-10T09:00:00Z", recurrence={"frequency": "daily"})
    first = complete_task(client, task).json()
    assert first["next_occurrence_id"] is not None
    undone = complete_task(client, task)
    assert undone.status_code == 200
    assert undone.json()["completed"] is False
    again = complete_task(client, task, {"completed": True})
    assert again.status_code == 200
    assert again.json()["next_occurrence_id"] == first["next_occurrence_id"]
    patch_task(client, task, {"completed": False})
    assert patch_task(client, task, {"completed": True}).status_code == 200
    assert count_rows(engine, "tasks", "user_id = 'alice'") == 2


def test_completing_twice_with_a_body_creates_one_occurrence(
    client: TestClient, engine: Engine, make_task: MakeTask
) -> None:
    task = make_task(due_at="2027-03-10T09:00:00Z", recurrence={"frequency": "daily"})
    first = complete_task(client, task, {"completed": True}).json()
    second = complete_task(client, task, {"completed": True}).json()
    assert second == first
    assert count_rows(engine, "tasks", "user_id = 'alice'") == 2


def test_patch_completed_creates_the_next_occurrence(
    client: TestClient, make_task: MakeTask
) -> None:
    task = make_task(
        title="Report",
        priority="low",
        tags=["work"],
        due_at="2027-03-10T09:00:00Z",
        recurrence={"frequency": "weekly"},
    )
    response = patch_task(client, task, {"completed": True})
    assert response.status_code == 200
    next_id = response.json()["next_occurrence_id"]
    assert next_id is not None
    following = get_task(client, next_id)
    assert following["title"] == "Report"
    assert following["due_at"] == "2027-03-17T09:00:00Z"
    assert following["recurrence"] == {"frequency": "weekly", "interval": 1}
    assert (following["priority"], following["tags"]) == ("low", ["work"])


def test_put_completed_creates_the_next_occurrence_from_the_new_values(
    client: TestClient, make_task: MakeTask
) -> None:
    task = make_task(due_at="2027-03-10T09:00:00Z", recurrence={"frequency": "weekly"})
    body = {
        "title": "Renamed",
        "description": "new",
        "completed": True,
        "priority": "high",
        "tags": ["x"],
        "due_at": "2027-03-12T09:00:00Z",
        "recurrence": {"frequency": "daily", "interval": 2},
    }
    response = put_task(client, task, body)
    assert response.status_code == 200
    next_id = response.json()["next_occurrence_id"]
    assert next_id is not None
    following = get_task(client, next_id)
    assert (following["title"], following["description"]) == ("Renamed", "new")
    assert (following["priority"], following["tags"]) == ("high", ["x"])
    assert following["recurrence"] == {"frequency": "daily", "interval": 2}
    assert following["due_at"] == "2027-03-14T09:00:00Z"
    assert following["completed"] is False


def test_undated_recurring_task_is_due_a_period_after_completion(
    client: TestClient, make_task: MakeTask
) -> None:
    task = make_task(recurrence={"frequency": "daily"})
    following = _complete_and_follow(client, task)
    expected = datetime.now(UTC) + timedelta(days=1)
    assert abs(parse_utc(following["due_at"]) - expected) < timedelta(minutes=1)


@pytest.mark.parametrize(
    ("due_at", "recurrence"),
    [
        ("9999-12-31T12:00:00Z", {"frequency": "daily"}),
        ("9999-12-27T12:00:00Z", {"frequency": "weekly"}),
        ("9999-12-15T12:00:00Z", {"frequency": "monthly"}),
        ("9950-01-15T12:00:00Z", {"frequency": "monthly", "interval": 1000}),
    ],
)
def test_no_occurrence_after_the_year_9999(
    client: TestClient, engine: Engine, make_task: MakeTask, due_at: str, recurrence: Any
) -> None:
    task = make_task(due_at=due_at, recurrence=recurrence)
    response = complete_task(client, task)
    assert response.status_code == 200
    assert response.json()["completed"] is True
    assert response.json()["next_occurrence_id"] is None
    assert count_rows(engine, "tasks") == 1


def test_one_off_task_creates_no_occurrence(
    client: TestClient, engine: Engine, make_task: MakeTask
) -> None:
    task = make_task(due_at="2027-03-10T09:00:00Z")
    for body in (None, {"completed": False}, {"completed": True}):
        response = complete_task(client, task, body)
        assert response.status_code == 200
        assert response.json()["next_occurrence_id"] is None
    replaced = put_task(client, task, replacement(completed=True, due_at="2027-03-10T09:00:00Z"))
    assert replaced.status_code == 200
    assert count_rows(engine, "tasks") == 1


def test_deleting_the_occurrence_leaves_the_completed_task_alone(
    client: TestClient, make_task: MakeTask
) -> None:
    task = make_task(due_at="2027-03-10T09:00:00Z", recurrence={"frequency": "daily"})
    done = complete_task(client, task).json()
    response = client.delete(task_url(done["next_occurrence_id"]), headers=auth("alice"))
    assert response.status_code == 204
    assert get_task(client, task) == done
