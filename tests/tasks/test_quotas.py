"""Per-user quotas: tasks and distinct tags, refused with a 409 problem that names the
limit, and the usage in the stats."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from backend.app import create_app
from tests.helpers import auth, count_rows, make_settings

QUOTA = "urn:task-api:problem:quota-exceeded"


@pytest.fixture
def small(client: TestClient, database_url: str) -> Iterator[TestClient]:
    """An app on the suite's (emptied) database with quotas of 3 tasks and 4 tags."""
    app = create_app(make_settings(database_url, max_tasks_per_user=3, max_tags_per_user=4))
    with TestClient(app, raise_server_exceptions=False) as small_client:
        yield small_client
    app.state.services.db.dispose()


def _create(client: TestClient, title: str, **fields: object) -> dict[str, object]:
    response = client.post("/api/alice/tasks", json={"title": title, **fields}, headers=auth())
    return {"status": response.status_code, **response.json()}


def test_tasks_beyond_the_quota_are_refused(small: TestClient, engine: Engine) -> None:
    created = [_create(small, f"Task {n}") for n in range(3)]
    assert [task["status"] for task in created] == [201, 201, 201]
    refused = small.post("/api/alice/tasks", json={"title": "One too many"}, headers=auth())
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert body["type"] == QUOTA
    assert body["limit"] == 3
    assert "3 tasks" in body["detail"]
    assert count_rows(engine, "tasks") == 3
    # Deleting one makes room again; another user has a quota of their own.
    deleted = small.delete(f"/api/alice/tasks/{created[0]['id']}", headers=auth())
    assert deleted.status_code == 204
    assert _create(small, "Room again")["status"] == 201
    assert (
        small.post("/api/bob/tasks", json={"title": "Bob's"}, headers=auth("bob")).status_code
        == 201
    )


def test_distinct_tags_beyond_the_quota_are_refused(small: TestClient, engine: Engine) -> None:
    assert _create(small, "Tagged", tags=["a", "b", "c"])["status"] == 201
    assert _create(small, "Same tags", tags=["A", "b"])["status"] == 201  # no new tag
    refused = small.post(
        "/api/alice/tasks", json={"title": "New tags", "tags": ["d", "e"]}, headers=auth()
    )
    assert refused.status_code == 409
    assert refused.json()["limit"] == 4
    assert count_rows(engine, "tasks") == 2
    assert count_rows(engine, "tags") == 3


def test_a_recurring_task_at_the_quota_cannot_spawn_its_next_occurrence(small: TestClient) -> None:
    for n in range(2):
        _create(small, f"Task {n}")
    daily = _create(small, "Daily", recurrence={"frequency": "daily"})
    refused = small.patch(f"/api/alice/tasks/{daily['id']}/complete", headers=auth())
    assert refused.status_code == 409
    assert refused.json()["type"] == QUOTA
    task = small.get(f"/api/alice/tasks/{daily['id']}", headers=auth()).json()
    assert task["completed"] is False  # nothing changed


def test_stats_report_the_usage(small: TestClient) -> None:
    _create(small, "One", tags=["home", "work"])
    _create(small, "Two", tags=["Home"])
    stats = small.get("/api/alice/tasks/stats", headers=auth()).json()
    assert stats["usage"] == {"tasks": 2, "max_tasks": 3, "tags": 2, "max_tags": 4}
