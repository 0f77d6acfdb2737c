"""Task responses are serialised from dicts, not through the generated models (see
backend.routes.deps.json_content). These tests hold them to the models: every body must
validate against its generated model and be byte for byte what that model would write."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from generated.models import Task, TaskPage
from tests.helpers import MakeTask, auth

FULL_TASK = {
    "title": '  Ünïcode ☕ "quoted" \\ title  ',
    "description": "line one\nline two\t\u2028 and a NUL-free description",
    "priority": "high",
    "tags": ["Work", "home", "ß-tag"],
    "due_at": "2027-01-31T09:30:00.123456+02:00",
    "recurrence": {"frequency": "monthly", "interval": 2},
}


def _same_as_model(response: Any, model: type[BaseModel]) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/json"
    parsed = model.model_validate_json(response.content)
    assert response.content == parsed.model_dump_json().encode()
    body: dict[str, Any] = response.json()
    return body


def test_created_and_read_tasks_are_what_the_task_model_writes(client: TestClient) -> None:
    created = client.post("/api/alice/tasks", json=FULL_TASK, headers=auth("alice"))
    assert created.status_code == 201, created.text
    body = _same_as_model(created, Task)
    assert body["title"] == 'Ünïcode ☕ "quoted" \\ title'
    assert body["due_at"] == "2027-01-31T07:30:00.123456Z"
    assert body["tags"] == ["home", "ß-tag", "Work"]  # by casefolded key: ss < work
    assert created.headers["etag"] == body["etag"]

    path = f"/api/alice/tasks/{body['id']}"
    read = client.get(path, headers=auth("alice"))
    assert _same_as_model(read, Task) == body
    assert read.headers["etag"] == body["etag"]


def test_a_completed_recurring_task_and_its_successor_are_model_shaped(
    client: TestClient,
) -> None:
    created = client.post("/api/alice/tasks", json=FULL_TASK, headers=auth("alice")).json()
    path = f"/api/alice/tasks/{created['id']}"
    completed = _same_as_model(client.patch(f"{path}/complete", headers=auth("alice")), Task)
    assert completed["completed_at"] is not None
    assert completed["next_occurrence_id"] is not None
    successor = client.get(
        f"/api/alice/tasks/{completed['next_occurrence_id']}", headers=auth("alice")
    )
    assert _same_as_model(successor, Task)["due_at"] == "2027-03-31T07:30:00.123456Z"


@pytest.mark.parametrize(
    "query",
    ["", "?limit=1", "?limit=1&offset=1", "?status=completed", "?tag=work&sort=title&order=asc"],
)
def test_pages_are_what_the_page_model_writes(
    client: TestClient, make_task: MakeTask, query: str
) -> None:
    make_task(title="Plain")
    make_task(**FULL_TASK)
    done = make_task(title="Done")
    client.patch(f"/api/alice/tasks/{done['id']}/complete", headers=auth("alice"))
    page = _same_as_model(client.get(f"/api/alice/tasks{query}", headers=auth("alice")), TaskPage)
    assert page["total"] >= len(page["items"])
    assert page["items"], "every query above matches a task"
