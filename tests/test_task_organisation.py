"""Organising tasks through HTTP: priority, tags, due dates, recurrence, filters, sorting,
the tag listing, the stats and ETags (openapi.yaml is the contract)."""

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.helpers import TASK_FIELDS, MakeTask, assert_problem, auth, count_rows

Params = dict[str, Any] | list[tuple[str, Any]]

RANK = {"low": 1, "medium": 2, "high": 3}


# --- helpers -----------------------------------------------------------------------------


def _ts(value: str) -> datetime:
    assert value.endswith("Z"), value
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0)
    return parsed


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _url(task: dict[str, Any] | int, suffix: str = "", user: str = "alice") -> str:
    task_id = task if isinstance(task, int) else task["id"]
    return f"/api/{user}/tasks/{task_id}{suffix}"


def _get(client: TestClient, task: dict[str, Any] | int, user: str = "alice") -> dict[str, Any]:
    response = client.get(_url(task, user=user), headers=auth(user))
    assert response.status_code == 200, response.text
    return response.json()


def _patch(client: TestClient, task: dict[str, Any], body: Any, **headers: str) -> Any:
    return client.patch(_url(task), json=body, headers={**auth("alice"), **headers})


def _put(client: TestClient, task: dict[str, Any], body: Any, **headers: str) -> Any:
    return client.put(_url(task), json=body, headers={**auth("alice"), **headers})


def _complete(client: TestClient, task: dict[str, Any], body: Any = None, **headers: str) -> Any:
    return client.patch(_url(task, "/complete"), json=body, headers={**auth("alice"), **headers})


def _page(client: TestClient, params: Params = (), user: str = "alice") -> dict[str, Any]:
    response = client.get(f"/api/{user}/tasks", params=params, headers=auth(user))
    assert response.status_code == 200, response.text
    return response.json()


def _ids(client: TestClient, params: Params = (), user: str = "alice") -> tuple[list[int], int]:
    page = _page(client, params, user)
    return [t["id"] for t in page["items"]], page["total"]


def _twins(make_task: MakeTask, title: str = "Buy milk", **fields: Any) -> dict[str, Any]:
    """The same task for bob (first) and alice; alice's is returned. Bob's must never show
    up in alice's listings, tags or counts."""
    make_task("bob", title=title, **fields)
    return make_task("alice", title=title, **fields)


def _query_error(response: Any, parameter: str) -> None:
    body = assert_problem(response, 422)
    error = body["errors"][0]
    assert error["location"] == "query"
    assert error["pointer"] == f"/{parameter}" or error["pointer"].startswith(f"/{parameter}/")
    assert error["message"]


def _body_error(response: Any, pointer: str) -> None:
    body = assert_problem(response, 422)
    error = body["errors"][0]
    assert error["location"] == "body"
    assert error["pointer"] == pointer or error["pointer"].startswith(f"{pointer}/"), error
    assert error["message"]


def _stored(engine: Engine, task_id: int) -> dict[str, Any]:
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT title, completed FROM tasks WHERE id = :i"), {"i": task_id}
        ).one()
    return dict(row._mapping)


def _day_bounds(zone: str) -> tuple[datetime, datetime]:
    """Today in `zone`, as a half-open UTC interval."""
    tz = ZoneInfo(zone)
    today = datetime.now(tz).date()
    start = datetime(today.year, today.month, today.day, tzinfo=tz)
    tomorrow = today + timedelta(days=1)
    end = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def _clear_of_midnight(*zones: str) -> None:
    """Wait for the next day when it is less than a minute away in one of `zones`, so the
    test's "today" is the server's "today"."""
    for zone in zones:
        _, end = _day_bounds(zone)
        left = (end - datetime.now(UTC)).total_seconds()
        if left < 60:
            time.sleep(max(left, 0) + 1)


# --- fields: defaults and validation -----------------------------------------------------


def test_new_task_has_the_defaults(client: TestClient, make_task: MakeTask) -> None:
    response = client.post("/api/alice/tasks", json={"title": "x"}, headers=auth("alice"))
    assert response.status_code == 201
    task = response.json()
    assert set(task) == TASK_FIELDS
    assert task["priority"] == "medium"
    assert task["tags"] == []
    assert task["due_at"] is None
    assert task["recurrence"] is None
    assert task["completed_at"] is None
    assert task["next_occurrence_id"] is None
    assert isinstance(task["etag"], str)
    assert _get(client, task) == task


@pytest.mark.parametrize("priority", ["low", "medium", "high"])
def test_priority_round_trips(client: TestClient, make_task: MakeTask, priority: str) -> None:
    task = make_task(priority=priority)
    assert task["priority"] == priority
    assert _get(client, task)["priority"] == priority


@pytest.mark.parametrize("priority", ["urgent", "High", "", 3, None])
def test_invalid_priority_is_422(client: TestClient, engine: Engine, priority: Any) -> None:
    body = {"title": "x", "priority": priority}
    _body_error(client.post("/api/alice/tasks", json=body, headers=auth("alice")), "/priority")
    assert count_rows(engine, "tasks") == 0


def test_tags_are_trimmed_deduplicated_and_sorted(client: TestClient, make_task: MakeTask) -> None:
    task = make_task(tags=["  work ", "b", "Home", "WORK", "A", "home", "C", " a"])
    # First spelling kept, sorted without regard to case (plain sorting: A, C, Home, b, work).
    assert task["tags"] == ["A", "b", "C", "Home", "work"]
    assert _get(client, task)["tags"] == task["tags"]


def test_tags_compare_by_case_folding(make_task: MakeTask) -> None:
    task = make_task(tags=["Straße", "STRASSE", "zebra", "Äpfel", "äPFEL"])
    assert sorted(task["tags"]) == ["Straße", "zebra", "Äpfel"]


def test_tags_at_their_limits(make_task: MakeTask) -> None:
    tags = [f"tag{i:02}" for i in range(19)] + ["t" * 50]
    task = make_task(tags=tags)
    assert len(task["tags"]) == 20
    assert "t" * 50 in task["tags"]


@pytest.mark.parametrize(
    "tags",
    [
        [f"tag{i}" for i in range(21)],
        ["t" * 51],
        ["  "],
        [""],
        ["ok", "\u3000"],
        ["tab\there"],
        "work",
        [None],
        None,
    ],
    ids=["21-tags", "51-chars", "blank", "empty", "ideographic-space", "control", "string",
         "null-item", "null"],
)  # fmt: skip
def test_invalid_tags_are_422(client: TestClient, engine: Engine, tags: Any) -> None:
    body = {"title": "x", "tags": tags}
    _body_error(client.post("/api/alice/tasks", json=body, headers=auth("alice")), "/tags")
    assert count_rows(engine, "tasks") == 0


def test_due_at_is_stored_and_returned_in_utc(
    client: TestClient, engine: Engine, make_task: MakeTask
) -> None:
    task = make_task(due_at="2026-11-28T18:00:00+02:00")
    assert task["due_at"] == "2026-11-28T16:00:00Z"
    assert _get(client, task)["due_at"] == "2026-11-28T16:00:00Z"
    task = make_task(due_at="2027-01-01T00:30:00-05:30")
    assert _ts(task["due_at"]) == datetime(2027, 1, 1, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "due_at", ["2026-11-28T18:00:00", "2026-11-28", "tomorrow", "2026-02-30T10:00:00Z", 1764352800]
)
def test_invalid_due_at_is_422(client: TestClient, engine: Engine, due_at: Any) -> None:
    body = {"title": "x", "due_at": due_at}
    _body_error(client.post("/api/alice/tasks", json=body, headers=auth("alice")), "/due_at")
    assert count_rows(engine, "tasks") == 0


@pytest.mark.parametrize(
    ("recurrence", "stored"),
    [
        ({"frequency": "daily"}, {"frequency": "daily", "interval": 1}),
        ({"frequency": "weekly", "interval": 2}, {"frequency": "weekly", "interval": 2}),
        ({"frequency": "monthly", "interval": 1000}, {"frequency": "monthly", "interval": 1000}),
        (None, None),
    ],
)
def test_recurrence_round_trips(
    client: TestClient, make_task: MakeTask, recurrence: Any, stored: Any
) -> None:
    task = make_task(recurrence=recurrence)
    assert task["recurrence"] == stored
    assert _get(client, task)["recurrence"] == stored


@pytest.mark.parametrize(
    "recurrence",
    [
        {"frequency": "daily", "interval": 0},
        {"frequency": "daily", "interval": -1},
        {"frequency": "daily", "interval": 1001},
        {"frequency": "daily", "interval": 1.5},
        {"frequency": "yearly"},
        {"frequency": "Daily"},
        {"interval": 2},
        {"frequency": "daily", "every": 2},
        "daily",
    ],
)
def test_invalid_recurrence_is_422(client: TestClient, engine: Engine, recurrence: Any) -> None:
    body = {"title": "x", "recurrence": recurrence}
    _body_error(client.post("/api/alice/tasks", json=body, headers=auth("alice")), "/recurrence")
    assert count_rows(engine, "tasks") == 0


def _assert_recent(value: str, before: datetime, after: datetime) -> None:
    moment = _ts(value)
    assert before - timedelta(seconds=1) <= moment <= after + timedelta(seconds=1)


def test_completed_at_follows_the_complete_endpoint(
    client: TestClient, make_task: MakeTask
) -> None:
    task = make_task()
    before = datetime.now(UTC)
    done = _complete(client, task).json()
    after = datetime.now(UTC)
    assert done["completed"] is True
    _assert_recent(done["completed_at"], before, after)
    assert _get(client, task)["completed_at"] == done["completed_at"]
    undone = _complete(client, task).json()
    assert undone["completed"] is False
    assert undone["completed_at"] is None
    again = _complete(client, task, {"completed": True}).json()
    assert _ts(again["completed_at"]) >= _ts(done["completed_at"])
    # Setting the same value again changes nothing, completed_at included.
    assert _complete(client, task, {"completed": True}).json() == again


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_completed_at_follows_put_and_patch(
    client: TestClient, make_task: MakeTask, method: str
) -> None:
    task = make_task()
    before = datetime.now(UTC)
    response = client.request(
        method, _url(task), json={"title": "x", "completed": True}, headers=auth("alice")
    )
    after = datetime.now(UTC)
    assert response.status_code == 200
    _assert_recent(response.json()["completed_at"], before, after)
    response = client.request(
        method, _url(task), json={"title": "x", "completed": False}, headers=auth("alice")
    )
    assert response.json()["completed"] is False
    assert response.json()["completed_at"] is None
    assert _get(client, task)["completed_at"] is None


@pytest.mark.parametrize("field", ["priority", "tags"])
def test_patch_null_priority_or_tags_is_422(
    client: TestClient, make_task: MakeTask, field: str
) -> None:
    task = make_task(priority="high", tags=["work"])
    _body_error(_patch(client, task, {field: None}), f"/{field}")
    assert _get(client, task) == task


@pytest.mark.parametrize("field", ["due_at", "recurrence", "description"])
def test_patch_null_clears_nullable_fields(
    client: TestClient, make_task: MakeTask, field: str
) -> None:
    task = make_task(
        description="d",
        due_at="2027-05-01T10:00:00Z",
        recurrence={"frequency": "weekly"},
        priority="high",
        tags=["x"],
    )
    response = _patch(client, task, {field: None})
    assert response.status_code == 200
    updated = response.json()
    assert updated[field] is None
    for other in ("title", "description", "due_at", "recurrence", "priority", "tags"):
        if other != field:
            assert updated[other] == task[other]
    assert _get(client, task) == updated


def test_patch_changes_organising_fields(client: TestClient, make_task: MakeTask) -> None:
    task = make_task(tags=["a", "b"])
    body = {
        "priority": "low",
        "tags": [" c ", "B"],
        "due_at": "2027-05-01T12:00:00+01:00",
        "recurrence": {"frequency": "monthly", "interval": 3},
    }
    updated = _patch(client, task, body).json()
    assert updated["priority"] == "low"
    assert updated["tags"] == ["B", "c"]  # the whole set is replaced
    assert updated["due_at"] == "2027-05-01T11:00:00Z"
    assert updated["recurrence"] == {"frequency": "monthly", "interval": 3}
    assert updated["title"] == task["title"]
    assert _get(client, task) == updated


def test_put_resets_omitted_fields_to_defaults(client: TestClient, make_task: MakeTask) -> None:
    task = make_task(
        description="d",
        priority="high",
        tags=["work"],
        due_at="2027-05-01T10:00:00Z",
        recurrence={"frequency": "daily"},
    )
    _complete(client, task, {"completed": True})
    response = _put(client, task, {"title": "t"})
    assert response.status_code == 200
    replaced = response.json()
    assert replaced["title"] == "t"
    assert replaced["description"] is None
    assert replaced["completed"] is False
    assert replaced["completed_at"] is None
    assert replaced["priority"] == "medium"
    assert replaced["tags"] == []
    assert replaced["due_at"] is None
    assert replaced["recurrence"] is None
    assert _get(client, task) == replaced


def test_put_sets_every_organising_field(client: TestClient, make_task: MakeTask) -> None:
    task = make_task()
    body = {
        "title": "t",
        "priority": "low",
        "tags": ["Z", "y"],
        "due_at": "2027-05-01T10:00:00Z",
        "recurrence": {"frequency": "weekly", "interval": 2},
    }
    replaced = _put(client, task, body).json()
    assert (replaced["priority"], replaced["tags"]) == ("low", ["y", "Z"])
    assert replaced["due_at"] == "2027-05-01T10:00:00Z"
    assert replaced["recurrence"] == {"frequency": "weekly", "interval": 2}
    assert _get(client, task) == replaced


# --- recurrence --------------------------------------------------------------------------


def _complete_and_follow(client: TestClient, task: dict[str, Any]) -> dict[str, Any]:
    """Complete `task`; check it names its next occurrence and that the occurrence is a
    pending copy; return the occurrence."""
    response = _complete(client, task)
    assert response.status_code == 200, response.text
    done = response.json()
    assert done["completed"] is True
    next_id = done["next_occurrence_id"]
    assert isinstance(next_id, int)
    assert next_id != task["id"]
    assert _get(client, task) == done
    following = _get(client, next_id)
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
    assert _ts(following["due_at"]) == expected
    assert following["id"] > task["id"]
    assert count_rows(engine, "tasks", "user_id = 'alice'") == 2
    # The occurrence is an ordinary task of the user: listed, pending, tagged.
    assert _ids(client, {"status": "pending"}) == ([following["id"]], 1)
    assert _ids(client, {"tag": "chores"}) == ([following["id"], task["id"]], 2)
    assert _tag_list(client) == [("Chores", 2), ("home", 2)]


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
    task = _patch(client, task, {"due_at": "2027-02-15T08:00:00Z"}).json()
    assert _complete_and_follow(client, task)["due_at"] == "2027-03-15T08:00:00Z"


def test_monthly_day_comes_from_the_due_date_when_recurrence_is_added(
    client: TestClient, make_task: MakeTask
) -> None:
    task = make_task(due_at="2027-01-30T08:00:00Z")
    task = _patch(client, task, {"recurrence": {"frequency": "monthly"}}).json()
    following = _complete_and_follow(client, task)
    assert following["due_at"] == "2027-02-28T08:00:00Z"
    assert _complete_and_follow(client, following)["due_at"] == "2027-03-30T08:00:00Z"


def test_completing_again_creates_no_second_occurrence(
    client: TestClient, engine: Engine, make_task: MakeTask
) -> None:
    task = make_task(due_at="2027-03-10T09:00:00Z", recurrence={"frequency": "daily"})
    first = _complete(client, task).json()
    assert first["next_occurrence_id"] is not None
    undone = _complete(client, task)
    assert undone.status_code == 200
    assert undone.json()["completed"] is False
    again = _complete(client, task, {"completed": True})
    assert again.status_code == 200
    assert again.json()["next_occurrence_id"] == first["next_occurrence_id"]
    _patch(client, task, {"completed": False})
    assert _patch(client, task, {"completed": True}).status_code == 200
    assert count_rows(engine, "tasks", "user_id = 'alice'") == 2


def test_completing_twice_with_a_body_creates_one_occurrence(
    client: TestClient, engine: Engine, make_task: MakeTask
) -> None:
    task = make_task(due_at="2027-03-10T09:00:00Z", recurrence={"frequency": "daily"})
    first = _complete(client, task, {"completed": True}).json()
    second = _complete(client, task, {"completed": True}).json()
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
    response = _patch(client, task, {"completed": True})
    assert response.status_code == 200
    next_id = response.json()["next_occurrence_id"]
    assert next_id is not None
    following = _get(client, next_id)
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
    response = _put(client, task, body)
    assert response.status_code == 200
    next_id = response.json()["next_occurrence_id"]
    assert next_id is not None
    following = _get(client, next_id)
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
    assert abs(_ts(following["due_at"]) - expected) < timedelta(minutes=1)


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
    response = _complete(client, task)
    assert response.status_code == 200
    assert response.json()["completed"] is True
    assert response.json()["next_occurrence_id"] is None
    assert count_rows(engine, "tasks") == 1


def test_one_off_task_creates_no_occurrence(
    client: TestClient, engine: Engine, make_task: MakeTask
) -> None:
    task = make_task(due_at="2027-03-10T09:00:00Z")
    for body in (None, {"completed": False}, {"completed": True}):
        response = _complete(client, task, body)
        assert response.status_code == 200
        assert response.json()["next_occurrence_id"] is None
    _put(client, task, {"title": "x", "completed": True, "due_at": "2027-03-10T09:00:00Z"})
    assert count_rows(engine, "tasks") == 1


def test_deleting_the_occurrence_leaves_the_completed_task_alone(
    client: TestClient, make_task: MakeTask
) -> None:
    task = make_task(due_at="2027-03-10T09:00:00Z", recurrence={"frequency": "daily"})
    done = _complete(client, task).json()
    response = client.delete(_url(done["next_occurrence_id"]), headers=auth("alice"))
    assert response.status_code == 204
    assert _get(client, task) == done


# --- listing: filters --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priorities", "expected"),
    [
        (["high"], ["high"]),
        (["low"], ["low", "low2"]),
        (["high", "low"], ["high", "low", "low2"]),
        (["low", "medium", "high"], ["low", "medium", "high", "low2"]),
    ],
)
def test_filter_by_priority(
    client: TestClient, make_task: MakeTask, priorities: list[str], expected: list[str]
) -> None:
    ids = {
        name: _twins(make_task, title=name, priority=name.removesuffix("2"))["id"]
        for name in ("low", "medium", "high", "low2")
    }
    params = [("priority", p) for p in priorities]
    assert _ids(client, params) == (sorted((ids[n] for n in expected), reverse=True), len(expected))


def test_filter_by_tags_needs_all_of_them(client: TestClient, make_task: MakeTask) -> None:
    both = _twins(make_task, "both", tags=["Work", "urgent"])["id"]
    work = _twins(make_task, "work", tags=["work"])["id"]
    _twins(make_task, "home", tags=["home"])
    _twins(make_task, "none")
    assert _ids(client, {"tag": "work"}) == ([work, both], 2)
    assert _ids(client, {"tag": "WORK"}) == ([work, both], 2)
    assert _ids(client, {"tag": "  wOrK "}) == ([work, both], 2)
    assert _ids(client, [("tag", "work"), ("tag", "URGENT")]) == ([both], 1)
    assert _ids(client, [("tag", "work"), ("tag", "home")]) == ([], 0)
    assert _ids(client, {"tag": "wor"}) == ([], 0)
    assert _ids(client, {"tag": "nowhere"}) == ([], 0)


def test_filter_by_non_ascii_tag(client: TestClient, make_task: MakeTask) -> None:
    task = _twins(make_task, tags=["Äpfel"])["id"]
    assert _ids(client, {"tag": "äpfel"}) == ([task], 1)
    assert _ids(client, {"tag": "ÄPFEL"}) == ([task], 1)


def test_search_in_title_and_description(client: TestClient, make_task: MakeTask) -> None:
    title = _twins(make_task, "Buy MILK")["id"]
    description = _twins(make_task, "Groceries", description="oat milk, 2 litres")["id"]
    _twins(make_task, "Bread", description="wholemeal")
    _twins(make_task, "mil k")
    assert _ids(client, {"q": "milk"}) == ([description, title], 2)
    assert _ids(client, {"q": "MiLk"}) == ([description, title], 2)
    assert _ids(client, {"q": "y m"}) == ([title], 1)
    assert _ids(client, {"q": "2 litres"}) == ([description], 1)
    assert _ids(client, {"q": "cheese"}) == ([], 0)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("%", ["100% juice"]),
        ("00%", ["100% juice"]),
        ("_", ["snake_case"]),
        ("e_c", ["snake_case"]),
        ("\\", ["back\\slash"]),
        ("'", ["it's"]),
        ("ÄPFEL", ["Äpfel kaufen", "äpfel schälen"]),
        ("äpfel", ["Äpfel kaufen", "äpfel schälen"]),
        ("SCHÄLEN", ["äpfel schälen"]),
    ],
)
def test_search_takes_characters_literally(
    client: TestClient, make_task: MakeTask, query: str, expected: list[str]
) -> None:
    titles = [
        "100% juice",
        "1000 juice",
        "snake_case",
        "snakeXcase",
        "back\\slash",
        "it's",
        "Äpfel kaufen",
        "äpfel schälen",
    ]
    ids = {title: _twins(make_task, title)["id"] for title in titles}
    expected_ids = sorted((ids[t] for t in expected), reverse=True)
    assert _ids(client, {"q": query}) == (expected_ids, len(expected))


@pytest.mark.parametrize("query", ["\x00", "milk\x00", "\x00milk"])
def test_search_text_with_a_nul_character_is_422(
    client: TestClient, make_task: MakeTask, query: str
) -> None:
    # The Search pattern excludes NUL (PostgreSQL cannot take it in a string).
    _twins(make_task, "milk", description="milk")
    response = client.get("/api/alice/tasks", params={"q": query}, headers=auth("alice"))
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["location"] == "query"
    assert problem["errors"][0]["pointer"] == "/q"


def test_filter_by_due_window(client: TestClient, make_task: MakeTask) -> None:
    early = _twins(make_task, "early", due_at="2027-01-10T12:00:00Z")["id"]
    middle = _twins(make_task, "middle", due_at="2027-01-20T12:00:00Z")["id"]
    late = _twins(make_task, "late", due_at="2027-01-30T12:00:00Z")["id"]
    _twins(make_task, "undated")
    assert _ids(client, {"due_before": "2027-01-20T12:00:00Z"}) == ([early], 1)  # exclusive
    assert _ids(client, {"due_after": "2027-01-20T12:00:00Z"}) == ([late, middle], 2)  # inclusive
    assert _ids(client, {"due_after": "2027-01-20T14:00:00+02:00"}) == ([late, middle], 2)
    assert _ids(client, {"due_before": "2027-01-20T14:00:01+02:00"}) == ([middle, early], 2)
    window = {"due_after": "2027-01-10T12:00:00Z", "due_before": "2027-01-30T12:00:00Z"}
    assert _ids(client, window) == ([middle, early], 2)
    assert _ids(client, {"due_before": "9999-01-01T00:00:00Z"}) == ([late, middle, early], 3)
    assert _ids(client, {"due_after": "1970-01-01T00:00:00Z"}) == ([late, middle, early], 3)
    inverted = {"due_after": "2027-01-30T12:00:00Z", "due_before": "2027-01-10T12:00:00Z"}
    assert _ids(client, inverted) == ([], 0)


def test_filter_overdue(client: TestClient, make_task: MakeTask) -> None:
    now = _now()
    past = _iso(now - timedelta(hours=2))
    future = _iso(now + timedelta(hours=2))
    overdue = _twins(make_task, "overdue", due_at=past)["id"]
    done_late = _twins(make_task, "done late", due_at=past)
    _complete(client, done_late)
    future_id = _twins(make_task, "future", due_at=future)["id"]
    undated = _twins(make_task, "undated")["id"]
    assert _ids(client, {"overdue": "true"}) == ([overdue], 1)
    assert _ids(client, {"overdue": "false"}) == ([undated, future_id, done_late["id"]], 3)
    assert _ids(client, {"overdue": "true", "status": "completed"}) == ([], 0)
    assert _ids(client, {"overdue": "false", "status": "completed"}) == ([done_late["id"]], 1)


def test_filters_combine(client: TestClient, make_task: MakeTask) -> None:
    base = {
        "title": "Quarterly report",
        "priority": "high",
        "tags": ["work", "Q1"],
        "due_at": "2099-02-10T09:00:00Z",
    }
    match = _twins(make_task, **base)["id"]
    _twins(make_task, **{**base, "title": "Quarterly review"})  # q
    _twins(make_task, **{**base, "priority": "medium"})  # priority
    _twins(make_task, **{**base, "tags": ["work"]})  # tag
    _twins(make_task, **{**base, "due_at": "2099-03-10T09:00:00Z"})  # due_before
    _twins(make_task, **{**base, "due_at": "2099-01-10T09:00:00Z"})  # due_after
    _twins(make_task, **{**base, "due_at": None})  # due_after and due_before
    _complete(client, _twins(make_task, **base))  # status
    params = [
        ("status", "pending"),
        ("priority", "high"),
        ("priority", "low"),
        ("tag", "WORK"),
        ("tag", "q1"),
        ("q", "REPORT"),
        ("due_after", "2099-02-01T00:00:00Z"),
        ("due_before", "2099-03-01T00:00:00Z"),
        ("overdue", "false"),
    ]
    assert _ids(client, params) == ([match], 1)
    assert _ids(client, [p for p in params if p[0] != "status"])[1] == 2


def test_total_counts_matches_over_all_pages(client: TestClient, make_task: MakeTask) -> None:
    high = [_twins(make_task, f"high {i}", priority="high")["id"] for i in range(5)]
    for i in range(3):
        _twins(make_task, f"low {i}", priority="low")
    assert _ids(client, {"priority": "high", "limit": 2}) == ([high[4], high[3]], 5)
    assert _ids(client, {"priority": "high", "limit": 2, "offset": 4}) == ([high[0]], 5)
    page = _page(client, {"priority": "high", "offset": 10})
    assert page == {"items": [], "total": 5, "limit": 20, "offset": 10}


def test_other_users_tasks_never_match(client: TestClient, make_task: MakeTask) -> None:
    make_task("bob", title="milk", priority="high", tags=["work"], due_at="2027-01-01T00:00:00Z")
    for params in (
        {"priority": "high"},
        {"tag": "work"},
        {"q": "milk"},
        {"due_before": "2028-01-01T00:00:00Z"},
        {"overdue": "false"},
        {"sort": "due_at"},
    ):
        assert _ids(client, params) == ([], 0)


# --- listing: sorting --------------------------------------------------------------------


def _expected_order(
    tasks: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any], order: str
) -> list[int]:
    """Sorted by `key`, ties by id, both in `order`."""
    ordered = sorted(tasks, key=lambda t: (key(t), t["id"]))
    return [t["id"] for t in (ordered if order == "asc" else ordered[::-1])]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sort_by_created_at(client: TestClient, make_task: MakeTask, order: str) -> None:
    ids = [_twins(make_task, f"t{i}")["id"] for i in range(4)]
    expected = ids if order == "asc" else ids[::-1]
    assert _ids(client, {"sort": "created_at", "order": order}) == (expected, 4)


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sort_by_updated_at(client: TestClient, make_task: MakeTask, order: str) -> None:
    first, second, third = (_twins(make_task, f"t{i}") for i in range(3))
    _patch(client, first, {"title": "changed"})
    _patch(client, third, {"title": "changed too"})
    expected = [second["id"], first["id"], third["id"]]
    assert _ids(client, {"sort": "updated_at", "order": order}) == (
        expected if order == "asc" else expected[::-1],
        3,
    )


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sort_by_due_at_puts_undated_tasks_last(
    client: TestClient, make_task: MakeTask, order: str
) -> None:
    dues = [
        "2027-02-01T00:00:00Z",
        None,
        "2027-01-01T00:00:00Z",
        "2027-02-01T00:00:00Z",
        None,
        "2027-03-01T00:00:00Z",
    ]
    tasks = [_twins(make_task, f"t{i}", due_at=due) for i, due in enumerate(dues)]
    dated = [t for t in tasks if t["due_at"]]
    undated = [t for t in tasks if not t["due_at"]]
    expected = _expected_order(dated, lambda t: _ts(t["due_at"]), order) + _expected_order(
        undated, lambda t: 0, order
    )
    assert _ids(client, {"sort": "due_at", "order": order}) == (expected, 6)


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sort_by_priority_rank(client: TestClient, make_task: MakeTask, order: str) -> None:
    priorities = ["medium", "low", "high", "low", "high", "medium"]
    tasks = [_twins(make_task, f"t{i}", priority=p) for i, p in enumerate(priorities)]
    expected = _expected_order(tasks, lambda t: RANK[t["priority"]], order)
    assert _ids(client, {"sort": "priority", "order": order}) == (expected, 6)
    if order == "desc":
        page = _page(client, {"sort": "priority", "order": "desc"})
        assert [t["priority"] for t in page["items"]][:3] == ["high", "high", "medium"]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sort_by_title_ignores_case(client: TestClient, make_task: MakeTask, order: str) -> None:
    titles = ["cherry", "Banana", "apple", "banana", "Apple pie", "BANANA"]
    tasks = [_twins(make_task, title) for title in titles]
    expected = _expected_order(tasks, lambda t: t["title"].lower(), order)
    assert _ids(client, {"sort": "title", "order": order}) == (expected, 6)
    if order == "asc":
        page = _page(client, {"sort": "title", "order": "asc"})
        assert [t["title"] for t in page["items"]] == [
            "apple",
            "Apple pie",
            "Banana",
            "banana",
            "BANANA",
            "cherry",
        ]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sort_by_title_ignores_case_beyond_ascii(
    client: TestClient, make_task: MakeTask, order: str
) -> None:
    titles = ["Äb", "äa", "ÄC", "éa", "Éb"]
    ids = {title: make_task(title=title)["id"] for title in titles}
    expected = [ids[t] for t in ("äa", "Äb", "ÄC", "éa", "Éb")]
    assert _ids(client, {"sort": "title", "order": order}) == (
        expected if order == "asc" else expected[::-1],
        5,
    )


def test_default_order_is_newest_first(client: TestClient, make_task: MakeTask) -> None:
    ids = [_twins(make_task, f"t{i}", priority=p)["id"] for i, p in enumerate(["low", "high"])]
    assert _ids(client) == (ids[::-1], 2)
    assert _ids(client, {"sort": "created_at"}) == (ids[::-1], 2)
    assert _ids(client, {"order": "desc"}) == (ids[::-1], 2)
    assert _ids(client, {"order": "asc"}) == (ids, 2)
    assert _ids(client, {"sort": "priority"}) == (ids[::-1], 2)  # desc by default


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("sort=name", "sort"),
        ("sort=DUE_AT", "sort"),
        ("sort=", "sort"),
        ("order=up", "order"),
        ("order=ASC", "order"),
        ("priority=urgent", "priority"),
        ("priority=high&priority=bogus", "priority"),
        ("priority=low&priority=low&priority=low&priority=low", "priority"),
        ("status=done", "status"),
        ("overdue=maybe", "overdue"),
        ("due_before=tomorrow", "due_before"),
        ("due_after=2027-13-01T00:00:00Z", "due_after"),
        ("due_before=2027-01-01T00:00:00", "due_before"),
        ("q=", "q"),
        ("q=" + "x" * 201, "q"),
        ("tag=" + "x" * 51, "tag"),
        ("tag=%20%20", "tag"),
        ("&".join(f"tag=t{i}" for i in range(21)), "tag"),
    ],
)
def test_list_rejects_bad_query_parameters(client: TestClient, query: str, parameter: str) -> None:
    _query_error(client.get(f"/api/alice/tasks?{query}", headers=auth("alice")), parameter)


# --- listing: pagination -----------------------------------------------------------------


def test_pagination_limits(client: TestClient, make_task: MakeTask) -> None:
    for i in range(3):
        make_task(title=f"t{i}", priority="high")
    assert len(_page(client, {"sort": "title", "limit": 1})["items"]) == 1
    page = _page(client, {"sort": "title", "limit": 100})
    assert (len(page["items"]), page["limit"]) == (3, 100)
    for query in ("limit=101", "limit=0", "offset=0&limit=0"):
        _query_error(
            client.get(f"/api/alice/tasks?sort=title&{query}", headers=auth("alice")), "limit"
        )
    page = _page(client, {"sort": "due_at", "priority": "high", "offset": 3})
    assert page == {"items": [], "total": 3, "limit": 20, "offset": 3}


@pytest.mark.parametrize("sort", ["created_at", "updated_at", "due_at", "priority", "title"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_paging_visits_every_task_once(
    client: TestClient, make_task: MakeTask, sort: str, order: str
) -> None:
    for i in range(11):
        make_task(
            title=["same", "Same", "other"][i % 3],
            priority=["low", "high"][i % 2],
            due_at=None if i % 4 == 0 else f"2027-01-0{1 + i % 3}T00:00:00Z",
        )
    whole = _ids(client, {"sort": sort, "order": order, "limit": 100})[0]
    paged: list[int] = []
    for offset in range(0, 12, 3):
        ids, total = _ids(client, {"sort": sort, "order": order, "limit": 3, "offset": offset})
        assert total == 11
        paged += ids
    assert paged == whole
    assert sorted(paged) == sorted(set(paged))
    assert len(paged) == 11


# --- tags --------------------------------------------------------------------------------


def _tags(client: TestClient, params: Params = (), user: str = "alice") -> dict[str, Any]:
    response = client.get(f"/api/{user}/tags", params=params, headers=auth(user))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def _tag_list(client: TestClient, params: Params = (), user: str = "alice") -> list[Any]:
    return [(t["name"], t["task_count"]) for t in _tags(client, params, user)["items"]]


def test_tags_list_is_empty_for_a_new_user(client: TestClient, make_task: MakeTask) -> None:
    make_task(title="untagged")
    assert _tags(client) == {"items": [], "total": 0, "limit": 100, "offset": 0}


def test_tags_list_counts_tasks_under_the_first_spelling(
    client: TestClient, make_task: MakeTask
) -> None:
    make_task("bob", title="bob's", tags=["WORK", "secret"])
    first = make_task(title="a", tags=["Work", "home"])
    second = make_task(title="b", tags=["work"])
    done = make_task(title="c", tags=[" WORK ", "b"])
    _complete(client, done)
    assert second["tags"] == ["work"]
    assert _get(client, second)["tags"] == ["work"]
    assert _get(client, done)["tags"] == ["b", "WORK"]
    assert first["tags"] == ["home", "Work"]
    page = _tags(client)
    assert page["items"] == [
        {"name": "b", "task_count": 1},
        {"name": "home", "task_count": 1},
        {"name": "Work", "task_count": 3},
    ]
    assert (page["total"], page["limit"], page["offset"]) == (3, 100, 0)
    assert _tag_list(client, user="bob") == [("secret", 1), ("WORK", 1)]


def test_tags_list_is_sorted_without_regard_to_case(
    client: TestClient, make_task: MakeTask
) -> None:
    make_task(tags=["b", "C", "a"])
    make_task(tags=["B", "Z", "d"])
    assert _tag_list(client) == [("a", 1), ("b", 2), ("C", 1), ("d", 1), ("Z", 1)]


def test_unused_tags_are_not_listed(client: TestClient, make_task: MakeTask) -> None:
    first = make_task(title="a", tags=["Work", "home"])
    second = make_task(title="b", tags=["work", "garden"])
    client.delete(_url(second), headers=auth("alice"))
    assert _tag_list(client) == [("home", 1), ("Work", 1)]
    _patch(client, first, {"tags": ["errands"]})
    assert _tag_list(client) == [("errands", 1)]
    _put(client, first, {"title": "a"})
    assert _tags(client)["total"] == 0
    assert _tag_list(client) == []


def test_tag_keeps_its_first_spelling_while_in_use(client: TestClient, make_task: MakeTask) -> None:
    first = make_task(title="a", tags=["Work"])
    make_task(title="b", tags=["WORK"])
    _patch(client, first, {"tags": ["other"]})
    assert _tag_list(client) == [("other", 1), ("Work", 1)]


def test_tags_pagination(client: TestClient, make_task: MakeTask) -> None:
    make_task(tags=["e", "d", "c", "b", "a"])
    make_task(tags=["c"])
    page = _tags(client, {"limit": 2, "offset": 1})
    assert page == {
        "items": [{"name": "b", "task_count": 1}, {"name": "c", "task_count": 2}],
        "total": 5,
        "limit": 2,
        "offset": 1,
    }
    assert _tags(client, {"offset": 5}) == {"items": [], "total": 5, "limit": 100, "offset": 5}
    assert len(_tags(client, {"limit": 1000})["items"]) == 5
    assert len(_tags(client, {"limit": 1})["items"]) == 1


@pytest.mark.parametrize(
    ("query", "parameter"),
    [("limit=0", "limit"), ("limit=1001", "limit"), ("limit=x", "limit"), ("offset=-1", "offset")],
)
def test_tags_rejects_bad_query_parameters(client: TestClient, query: str, parameter: str) -> None:
    _query_error(client.get(f"/api/alice/tags?{query}", headers=auth("alice")), parameter)


@pytest.mark.parametrize("path", ["/api/bob/tags", "/api/bob/tasks/stats"])
def test_other_users_tags_and_stats_are_403(
    client: TestClient, make_task: MakeTask, path: str
) -> None:
    make_task("bob", tags=["secret"])
    response = client.get(path, headers=auth("alice"))
    assert_problem(response, 403)
    assert "secret" not in response.text


@pytest.mark.parametrize("path", ["/api/alice/tags", "/api/alice/tasks/stats"])
def test_tags_and_stats_need_a_token(client: TestClient, path: str) -> None:
    assert_problem(client.get(path), 401)


# --- stats -------------------------------------------------------------------------------


def _stats(client: TestClient, params: Params = (), user: str = "alice") -> dict[str, Any]:
    response = client.get(f"/api/{user}/tasks/stats", params=params, headers=auth(user))
    assert response.status_code == 200, response.text
    return response.json()


def test_stats_of_a_new_user(client: TestClient) -> None:
    zero = {"pending": 0, "completed": 0}
    assert _stats(client) == {
        "total": 0,
        "pending": 0,
        "completed": 0,
        "by_priority": {"low": zero, "medium": zero, "high": zero},
        "overdue": 0,
        "due_today": 0,
    }


def test_stats_count_by_status_priority_and_due_date(
    client: TestClient, make_task: MakeTask
) -> None:
    _clear_of_midnight("UTC")
    start, end = _day_bounds("UTC")
    now = datetime.now(UTC)
    earlier_today = _iso(start + (now - start) / 2)
    later_today = _iso(now + (end - now) / 2)
    yesterday = _iso(start - timedelta(hours=1))
    tomorrow = _iso(end + timedelta(hours=1))
    _twins(make_task, "overdue today", priority="high", due_at=earlier_today)
    _complete(client, _twins(make_task, "done today", priority="high", due_at=earlier_today))
    _twins(make_task, "later today", priority="medium", due_at=later_today)
    _twins(make_task, "overdue yesterday", priority="medium", due_at=yesterday)
    _twins(make_task, "tomorrow", priority="low", due_at=tomorrow)
    _complete(client, _twins(make_task, "done undated", priority="low"))
    _twins(make_task, "undated", priority="medium")
    make_task("bob", title="bob's extra", due_at=earlier_today)
    assert _stats(client) == {
        "total": 7,
        "pending": 5,
        "completed": 2,
        "by_priority": {
            "low": {"pending": 1, "completed": 1},
            "medium": {"pending": 3, "completed": 0},
            "high": {"pending": 1, "completed": 1},
        },
        "overdue": 2,
        "due_today": 2,
    }
    assert _stats(client, {"tz": "UTC"}) == _stats(client)


def _only_today_in(zone: str, other: str) -> datetime:
    """A moment that is today in `zone` but not in `other`."""
    start, end = _day_bounds(zone)
    other_start, other_end = _day_bounds(other)
    for moment in (start + timedelta(minutes=30), end - timedelta(minutes=30)):
        if not other_start <= moment < other_end:
            return moment
    raise AssertionError("no such moment")  # cannot happen: the zones are 25 hours apart


def test_stats_due_today_in_a_time_zone(client: TestClient, make_task: MakeTask) -> None:
    east, west = "Pacific/Kiritimati", "Pacific/Pago_Pago"  # UTC+14 and UTC-11
    _clear_of_midnight(east, west)
    make_task(title="east", due_at=_iso(_only_today_in(east, west)))
    for i in range(2):
        make_task(title=f"west {i}", due_at=_iso(_only_today_in(west, east)))
    assert _stats(client, {"tz": east})["due_today"] == 1
    assert _stats(client, {"tz": west})["due_today"] == 2
    assert _stats(client, {"tz": east})["total"] == 3


def test_stats_due_today_in_a_zone_with_dst(client: TestClient, make_task: MakeTask) -> None:
    zone = "America/New_York"
    _clear_of_midnight(zone, "UTC")
    start, end = _day_bounds(zone)
    utc_start, utc_end = _day_bounds("UTC")
    inside = [start + timedelta(minutes=1), end - timedelta(minutes=1)]
    outside = [start - timedelta(minutes=1), end + timedelta(minutes=1)]
    for moment in inside + outside:
        make_task(title="t", due_at=_iso(moment))
    assert _stats(client, {"tz": zone})["due_today"] == 2
    expected_utc = sum(utc_start <= m < utc_end for m in inside + outside)
    assert _stats(client)["due_today"] == expected_utc


@pytest.mark.parametrize("tz", ["Mars/Base", "../etc/passwd", "", "x" * 65, "UTC+5", "/etc/UTC"])
def test_stats_rejects_unknown_time_zones(client: TestClient, tz: str) -> None:
    response = client.get("/api/alice/tasks/stats", params={"tz": tz}, headers=auth("alice"))
    _query_error(response, "tz")


# --- ETags -------------------------------------------------------------------------------


def _etag(response: Any) -> str:
    etag = response.headers["etag"]
    assert etag == response.json()["etag"]
    assert etag.startswith('"')
    assert etag.endswith('"')  # strong
    return etag


def test_every_task_response_carries_its_etag(client: TestClient, make_task: MakeTask) -> None:
    created = client.post("/api/alice/tasks", json={"title": "x"}, headers=auth("alice"))
    assert created.status_code == 201
    task = created.json()
    tags = {_etag(created)}
    got = client.get(_url(task), headers=auth("alice"))
    assert _etag(got) == _etag(created)
    responses = [
        _put(client, task, {"title": "y"}),
        _patch(client, task, {"title": "z"}),
        _complete(client, task),
        _complete(client, task, {"completed": False}),
        _patch(client, task, {"priority": "high"}),
        _patch(client, task, {"tags": ["a"]}),
        _patch(client, task, {"due_at": "2027-01-01T00:00:00Z"}),
        _patch(client, task, {"recurrence": {"frequency": "daily"}}),
        _patch(client, task, {"description": "d"}),
    ]
    for response in responses:
        assert response.status_code == 200
        tags.add(_etag(response))
    assert len(tags) == len(responses) + 1  # a new one on every modification
    listed = _page(client)["items"][0]
    assert listed["etag"] == _etag(client.get(_url(task), headers=auth("alice")))


def test_etags_differ_between_tasks(make_task: MakeTask) -> None:
    assert make_task()["etag"] != make_task()["etag"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"title": "Buy milk"},
        {"priority": "high"},
        {"tags": ["b", "a"]},
        {"due_at": "2027-01-01T02:00:00+02:00"},
        {"recurrence": {"frequency": "daily"}},
        {"completed": False},
    ],
)
def test_patch_changing_nothing_keeps_the_etag(
    client: TestClient, make_task: MakeTask, body: dict[str, Any]
) -> None:
    task = make_task(
        priority="high",
        tags=["a", "b"],
        due_at="2027-01-01T00:00:00Z",
        recurrence={"frequency": "daily", "interval": 1},
    )
    response = _patch(client, task, body)
    assert response.status_code == 200
    assert _etag(response) == task["etag"]
    assert response.json() == task


def test_complete_changing_nothing_keeps_the_etag(client: TestClient, make_task: MakeTask) -> None:
    task = make_task()
    response = _complete(client, task, {"completed": False})
    assert _etag(response) == task["etag"]


@pytest.mark.parametrize(
    ("method", "suffix", "body", "status"),
    [
        ("PUT", "", {"title": "new"}, 200),
        ("PATCH", "", {"title": "new"}, 200),
        ("PATCH", "/complete", None, 200),
        ("DELETE", "", None, 204),
    ],
)
def test_if_match_with_the_current_etag_succeeds(
    client: TestClient, make_task: MakeTask, method: str, suffix: str, body: Any, status: int
) -> None:
    task = make_task()
    headers = {**auth("alice"), "If-Match": task["etag"]}
    response = client.request(method, _url(task, suffix), json=body, headers=headers)
    assert response.status_code == status, response.text
    if status == 200:
        assert _etag(response) != task["etag"]


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("PUT", "", {"title": "new", "completed": True}),
        ("PATCH", "", {"title": "new"}),
        ("PATCH", "", {"completed": True}),
        ("PATCH", "/complete", None),
        ("PATCH", "/complete", {"completed": True}),
        ("DELETE", "", None),
    ],
)
def test_if_match_with_a_stale_etag_is_412_and_changes_nothing(
    client: TestClient, engine: Engine, make_task: MakeTask, method: str, suffix: str, body: Any
) -> None:
    task = make_task(title="old", due_at="2027-01-01T00:00:00Z", recurrence={"frequency": "daily"})
    stale = task["etag"]
    current = _patch(client, task, {"priority": "high"}).json()
    assert current["etag"] != stale
    headers = {**auth("alice"), "If-Match": stale}
    response = client.request(method, _url(task, suffix), json=body, headers=headers)
    problem = assert_problem(response, 412)
    assert problem["instance"] == _url(task, suffix)
    assert _get(client, task) == current
    assert _stored(engine, task["id"]) == {"title": "old", "completed": False}
    assert count_rows(engine, "tasks") == 1  # no next occurrence either


@pytest.mark.parametrize(
    "if_match",
    ["*", '"stale", {current}', '{current}, "stale"', '"1.999",{current}', " {current} "],
)
def test_if_match_accepts_a_star_or_a_list(
    client: TestClient, make_task: MakeTask, if_match: str
) -> None:
    task = make_task()
    value = if_match.replace("{current}", task["etag"])
    response = _patch(client, task, {"title": "new"}, **{"If-Match": value})
    assert response.status_code == 200, response.text
    assert response.json()["title"] == "new"


@pytest.mark.parametrize(
    "if_match", ["W/{current}", '"stale"', '"stale", W/{current}', "{bare}", '""']
)
def test_if_match_compares_strongly(client: TestClient, make_task: MakeTask, if_match: str) -> None:
    task = make_task(title="old")
    value = if_match.replace("{current}", task["etag"]).replace("{bare}", task["etag"][1:-1])
    assert_problem(_patch(client, task, {"title": "new"}, **{"If-Match": value}), 412)
    assert _get(client, task)["title"] == "old"


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("PUT", "", {"title": "x"}),
        ("PATCH", "", {"title": "x"}),
        ("PATCH", "/complete", None),
        ("DELETE", "", None),
    ],
)
@pytest.mark.parametrize("if_match", ["*", '"1.1"'])
def test_if_match_on_a_missing_task_is_404(
    client: TestClient, method: str, suffix: str, body: Any, if_match: str
) -> None:
    headers = {**auth("alice"), "If-Match": if_match}
    response = client.request(method, _url(999999, suffix), json=body, headers=headers)
    assert_problem(response, 404)


def test_if_match_on_another_users_task_is_404(client: TestClient, make_task: MakeTask) -> None:
    task = make_task("bob")
    headers = {**auth("alice"), "If-Match": task["etag"]}
    response = client.patch(_url(task), json={"title": "x"}, headers=headers)
    assert_problem(response, 404)
    assert _get(client, task, user="bob") == task


@pytest.mark.parametrize(
    "if_none_match", ["{current}", "W/{current}", "*", '"stale", {current}', '"a",W/{current}']
)
def test_get_with_a_matching_if_none_match_is_304(
    client: TestClient, make_task: MakeTask, if_none_match: str
) -> None:
    task = make_task()
    value = if_none_match.replace("{current}", task["etag"])
    response = client.get(_url(task), headers={**auth("alice"), "If-None-Match": value})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == task["etag"]


@pytest.mark.parametrize("if_none_match", ['"stale"', 'W/"stale"', "{old}"])
def test_get_with_another_if_none_match_is_200(
    client: TestClient, make_task: MakeTask, if_none_match: str
) -> None:
    task = make_task()
    current = _patch(client, task, {"title": "new"}).json()
    value = if_none_match.replace("{old}", task["etag"])
    response = client.get(_url(task), headers={**auth("alice"), "If-None-Match": value})
    assert response.status_code == 200
    assert response.json() == current
    assert _etag(response) == current["etag"]


def test_if_none_match_on_a_missing_task_is_404(client: TestClient) -> None:
    headers = {**auth("alice"), "If-None-Match": "*"}
    assert_problem(client.get(_url(999999), headers=headers), 404)


def test_without_if_match_the_last_write_wins(client: TestClient, make_task: MakeTask) -> None:
    task = make_task()
    first = _patch(client, task, {"title": "first"})
    second = _patch(client, task, {"title": "second"})
    assert (first.status_code, second.status_code) == (200, 200)
    assert _get(client, task)["title"] == "second"
    assert _etag(second) not in (task["etag"], _etag(first))


def test_after_a_412_a_retry_with_the_fresh_etag_succeeds(
    client: TestClient, make_task: MakeTask
) -> None:
    task = make_task()
    current = _patch(client, task, {"title": "theirs"}).json()
    stale = _patch(client, task, {"title": "mine"}, **{"If-Match": task["etag"]})
    assert_problem(stale, 412)
    fresh = client.get(_url(task), headers=auth("alice"))
    assert _etag(fresh) == current["etag"]
    retry = _patch(client, task, {"title": "mine"}, **{"If-Match": current["etag"]})
    assert retry.status_code == 200
    assert retry.json()["title"] == "mine"


def test_an_integer_written_with_a_fraction_of_zero_is_an_integer(client: TestClient) -> None:
    # JSON Schema's integer: 2.0 is the integer 2 (strict parsing alone would reject it).
    body = {"title": "x", "recurrence": {"frequency": "weekly", "interval": 2.0}}
    response = client.post("/api/alice/tasks", json=body, headers=auth("alice"))
    assert response.status_code == 201, response.text
    assert response.json()["recurrence"] == {"frequency": "weekly", "interval": 2}
    body["recurrence"]["interval"] = 2.5
    response = client.post("/api/alice/tasks", json=body, headers=auth("alice"))
    assert assert_problem(response, 422)["errors"][0]["pointer"] == "/recurrence/interval"


@pytest.mark.parametrize("due_at", ["0.5", "1700000000", "2027-01-01 09:00:00Z", "2027-01-01"])
def test_due_at_must_be_an_rfc3339_date_time(
    client: TestClient, engine: Engine, due_at: str
) -> None:
    response = client.post(
        "/api/alice/tasks", json={"title": "x", "due_at": due_at}, headers=auth("alice")
    )
    assert assert_problem(response, 422)["errors"][0]["pointer"] == "/due_at"
    assert count_rows(engine, "tasks") == 0


@pytest.mark.parametrize("value", ["0.5", "1700000000", "2027-01-01 09:00:00Z", "2027-01-01"])
@pytest.mark.parametrize("name", ["due_before", "due_after"])
def test_due_filters_must_be_rfc3339_date_times(client: TestClient, name: str, value: str) -> None:
    response = client.get("/api/alice/tasks", params={name: value}, headers=auth("alice"))
    problem = assert_problem(response, 422)
    assert problem["errors"][0] == {
        "location": "query",
        "pointer": f"/{name}",
        "message": "must be an RFC 3339 date-time with a time zone offset",
    }


@pytest.mark.parametrize("tz", ["localtime", "posixrules", "Etc", "Abc/Def"])
def test_stats_time_zone_must_be_a_zone_of_the_database(client: TestClient, tz: str) -> None:
    response = client.get("/api/alice/tasks/stats", params={"tz": tz}, headers=auth("alice"))
    assert assert_problem(response, 422)["errors"][0]["pointer"] == "/tz"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_stats_answers_other_methods_with_405(client: TestClient, method: str) -> None:
    response = client.request(method, "/api/alice/tasks/stats", headers=auth("alice"))
    assert_problem(response, 405)
    assert response.headers["allow"] == "GET"


def test_filter_by_a_tag_nobody_uses_is_empty(client: TestClient, make_task: MakeTask) -> None:
    make_task(tags=["work"])
    make_task("bob", tags=["home"])
    assert _ids(client, {"tag": "home"}) == ([], 0)
    assert _ids(client, {"tag": ["work", "home"]}) == ([], 0)


def test_deep_pages_match_one_big_page(client: TestClient, make_task: MakeTask) -> None:
    # Pages past the first are read through a deferred join; they must be the same tasks.
    for index in range(30):
        make_task(title=f"task {index % 7}", priority=("low", "medium", "high")[index % 3])
    for sort in ("created_at", "priority", "title"):
        params = {"sort": sort, "order": "asc", "limit": 100}
        everything = client.get("/api/alice/tasks", params=params, headers=auth("alice"))
        expected = [task["id"] for task in everything.json()["items"]]
        pages = []
        for offset in range(0, 30, 7):
            page = client.get(
                "/api/alice/tasks",
                params={**params, "limit": 7, "offset": offset},
                headers=auth("alice"),
            ).json()
            assert page["total"] == 30
            pages.extend(task["id"] for task in page["items"])
        assert pages == expected
