"""The organising fields of a task through HTTP: defaults, priority, tags, due dates,
repeat rules and completed_at, as created, patched and replaced (openapi.yaml is the contract)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import (
    REPLACEMENT_DEFAULTS,
    TASK_FIELDS,
    MakeTask,
    assert_problem,
    auth,
    count_rows,
    replacement,
)
from tests.tasks.helpers import (
    assert_body_error,
    complete_task,
    get_task,
    parse_utc,
    patch_task,
    put_task,
    task_url,
)


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
    assert get_task(client, task) == task


@pytest.mark.parametrize("priority", ["low", "medium", "high"])
def test_priority_round_trips(client: TestClient, make_task: MakeTask, priority: str) -> None:
    task = make_task(priority=priority)
    assert task["priority"] == priority
    assert get_task(client, task)["priority"] == priority


@pytest.mark.parametrize("priority", ["urgent", "High", "", 3, None])
def test_invalid_priority_is_422(client: TestClient, engine: Engine, priority: Any) -> None:
    body = {"title": "x", "priority": priority}
    assert_body_error(
        client.post("/api/alice/tasks", json=body, headers=auth("alice")), "/priority"
    )
    assert count_rows(engine, "tasks") == 0


def test_tags_are_trimmed_deduplicated_and_sorted(client: TestClient, make_task: MakeTask) -> None:
    task = make_task(tags=["  work ", "b", "Home", "WORK", "A", "home", "C", " a"])
    # First spelling kept, sorted without regard to case (plain sorting: A, C, Home, b, work).
    assert task["tags"] == ["A", "b", "C", "Home", "work"]
    assert get_task(client, task)["tags"] == task["tags"]


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
    assert_body_error(client.post("/api/alice/tasks", json=body, headers=auth("alice")), "/tags")
    assert count_rows(engine, "tasks") == 0


def test_due_at_is_stored_and_returned_in_utc(
    client: TestClient, engine: Engine, make_task: MakeTask
) -> None:
    task = make_task(due_at="2026-11-28T18:00:00+02:00")
    assert task["due_at"] == "2026-11-28T16:00:00Z"
    assert get_task(client, task)["due_at"] == "2026-11-28T16:00:00Z"
    task = make_task(due_at="2027-01-01T00:30:00-05:30")
    assert parse_utc(task["due_at"]) == datetime(2027, 1, 1, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "due_at", ["2026-11-28T18:00:00", "2026-11-28", "tomorrow", "2026-02-30T10:00:00Z", 1764352800]
)
def test_invalid_due_at_is_422(client: TestClient, engine: Engine, due_at: Any) -> None:
    body = {"title": "x", "due_at": due_at}
    assert_body_error(client.post("/api/alice/tasks", json=body, headers=auth("alice")), "/due_at")
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
    assert get_task(client, task)["recurrence"] == stored


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
    assert_body_error(
        client.post("/api/alice/tasks", json=body, headers=auth("alice")), "/recurrence"
    )
    assert count_rows(engine, "tasks") == 0


def _assert_recent(value: str, before: datetime, after: datetime) -> None:
    moment = parse_utc(value)
    assert before - timedelta(seconds=1) <= moment <= after + timedelta(seconds=1)


def test_completed_at_follows_the_complete_endpoint(
    client: TestClient, make_task: MakeTask
) -> None:
    task = make_task()
    before = datetime.now(UTC)
    done = complete_task(client, task).json()
    after = datetime.now(UTC)
    assert done["completed"] is True
    _assert_recent(done["completed_at"], before, after)
    assert get_task(client, task)["completed_at"] == done["completed_at"]
    undone = complete_task(client, task).json()
    assert undone["completed"] is False
    assert undone["completed_at"] is None
    again = complete_task(client, task, {"completed": True}).json()
    assert parse_utc(again["completed_at"]) >= parse_utc(done["completed_at"])
    # Setting the same value again changes nothing, completed_at included.
    assert complete_task(client, task, {"completed": True}).json() == again


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_completed_at_follows_put_and_patch(
    client: TestClient, make_task: MakeTask, method: str
) -> None:
    task = make_task()
    before = datetime.now(UTC)
    body = replacement(completed=True) if method == "PUT" else {"completed": True}
    response = client.request(method, task_url(task), json=body, headers=auth("alice"))
    after = datetime.now(UTC)
    assert response.status_code == 200
    _assert_recent(response.json()["completed_at"], before, after)
    body = replacement(completed=False) if method == "PUT" else {"completed": False}
    response = client.request(method, task_url(task), json=body, headers=auth("alice"))
    assert response.json()["completed"] is False
    assert response.json()["completed_at"] is None
    assert get_task(client, task)["completed_at"] is None


@pytest.mark.parametrize("field", ["priority", "tags"])
def test_patch_null_priority_or_tags_is_422(
    client: TestClient, make_task: MakeTask, field: str
) -> None:
    task = make_task(priority="high", tags=["work"])
    assert_body_error(patch_task(client, task, {field: None}), f"/{field}")
    assert get_task(client, task) == task


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
    response = patch_task(client, task, {field: None})
    assert response.status_code == 200
    updated = response.json()
    assert updated[field] is None
    for other in ("title", "description", "due_at", "recurrence", "priority", "tags"):
        if other != field:
            assert updated[other] == task[other]
    assert get_task(client, task) == updated


def test_patch_changes_organising_fields(client: TestClient, make_task: MakeTask) -> None:
    task = make_task(tags=["a", "b"])
    body = {
        "priority": "low",
        "tags": [" c ", "B"],
        "due_at": "2027-05-01T12:00:00+01:00",
        "recurrence": {"frequency": "monthly", "interval": 3},
    }
    updated = patch_task(client, task, body).json()
    assert updated["priority"] == "low"
    assert updated["tags"] == ["B", "c"]  # the whole set is replaced
    assert updated["due_at"] == "2027-05-01T11:00:00Z"
    assert updated["recurrence"] == {"frequency": "monthly", "interval": 3}
    assert updated["title"] == task["title"]
    assert get_task(client, task) == updated


def test_put_with_empty_values_clears_every_field(client: TestClient, make_task: MakeTask) -> None:
    task = make_task(
        description="d",
        priority="high",
        tags=["work"],
        due_at="2027-05-01T10:00:00Z",
        recurrence={"frequency": "daily"},
    )
    complete_task(client, task, {"completed": True})
    response = put_task(client, task, replacement("t"))  # null, [], false, medium
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
    assert get_task(client, task) == replaced


@pytest.mark.parametrize("left_out", sorted(REPLACEMENT_DEFAULTS))
def test_a_put_without_any_one_field_changes_nothing(
    client: TestClient, make_task: MakeTask, left_out: str
) -> None:
    # Even a field at its empty value must be sent: a PUT cannot tell "left out because
    # it is empty" from "left out because this client does not know it".
    task = make_task(description="d", priority="high", tags=["work"])
    body = replacement("t")
    del body[left_out]
    problem = assert_problem(put_task(client, task, body), 422)
    assert problem["detail"] == (
        "PUT replaces the whole task; send every field, or use PATCH to change some. "
        f"Missing: {left_out}"
    )
    assert problem["errors"] == [
        {"location": "body", "pointer": f"/{left_out}", "message": "is required"}
    ]
    assert get_task(client, task) == task


def test_put_sets_every_organising_field(client: TestClient, make_task: MakeTask) -> None:
    task = make_task()
    body = replacement(
        "t",
        priority="low",
        tags=["Z", "y"],
        due_at="2027-05-01T10:00:00Z",
        recurrence={"frequency": "weekly", "interval": 2},
    )
    replaced = put_task(client, task, body).json()
    assert (replaced["priority"], replaced["tags"]) == ("low", ["y", "Z"])
    assert replaced["due_at"] == "2027-05-01T10:00:00Z"
    assert replaced["recurrence"] == {"frequency": "weekly", "interval": 2}
    assert get_task(client, task) == replaced


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
