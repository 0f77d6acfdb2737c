"""The changes feed (GET /api/{user_id}/tasks/changes): every write moves it, deletions come
as tombstones, cursors are opaque, bound to their user and expire with the retention; and
under concurrent writers a reader following the feed ends with exactly GET /tasks."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from backend.clock import utcnow
from backend.tasks import feed as feed_rules
from tests.databases import fresh_database
from tests.helpers import assert_problem, auth, bearer, replacement
from tests.live_server import live_server
from tests.tasks.sync_helpers import follow_under_writers

FEED = "/api/alice/tasks/changes"


def feed(client: Any, since: str | None = None, limit: int | None = None, **kw: Any) -> Any:
    params: dict[str, Any] = {}
    if since is not None:
        params["since"] = since
    if limit is not None:
        params["limit"] = limit
    response = client.get(FEED, params=params, headers=kw.get("headers", auth()))
    assert response.status_code == 200, response.text
    return response.json()


def create(client: Any, title: str, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/alice/tasks", json={"title": title, **fields}, headers=auth())
    assert response.status_code == 201, response.text
    return response.json()


def test_the_first_sync_has_every_task_and_a_cursor(client: TestClient) -> None:
    empty = feed(client)
    assert empty["changes"] == []
    assert empty["deleted"] == []
    assert empty["has_more"] is False
    one, two = create(client, "one"), create(client, "two")
    first = feed(client)
    assert [task["id"] for task in first["changes"]] == [one["id"], two["id"]]
    assert first["changes"][0] == one  # the full, current shape
    assert feed(client, first["cursor"]) == {**first, "changes": [], "deleted": []}


def test_every_write_moves_the_feed(client: TestClient) -> None:
    task = create(
        client, "water plants", due_at="2027-01-01T09:00:00Z", recurrence={"frequency": "daily"}
    )
    cursor = feed(client)["cursor"]
    path = f"/api/alice/tasks/{task['id']}"
    steps = [
        ("PATCH", path, {"title": "water the plants"}),
        ("PUT", path, replacement("water", tags=["home"], recurrence={"frequency": "daily"})),
        ("PATCH", f"{path}/complete", None),  # completes, and creates the next occurrence
    ]
    for method, url, body in steps:
        response = client.request(method, url, json=body, headers=auth())
        assert response.status_code == 200, response.text
        page = feed(client, cursor)
        changed = {t["id"]: t for t in page["changes"]}
        assert changed[task["id"]] == response.json()  # what the write answered
        cursor = page["cursor"]
    occurrence = response.json()["next_occurrence_id"]
    assert occurrence in changed  # the spawned occurrence is a change too
    assert client.delete(f"/api/alice/tasks/{occurrence}", headers=auth()).status_code == 204
    gone = feed(client, cursor)
    assert gone["changes"] == []
    assert [d["id"] for d in gone["deleted"]] == [occurrence]
    assert gone["deleted"][0]["deleted_at"].endswith("Z")


def test_a_task_changed_twice_comes_once_in_its_latest_shape(client: TestClient) -> None:
    task = create(client, "draft")
    cursor = feed(client)["cursor"]
    client.patch(f"/api/alice/tasks/{task['id']}", json={"title": "second"}, headers=auth())
    latest = client.patch(f"/api/alice/tasks/{task['id']}", json={"title": "third"}, headers=auth())
    page = feed(client, cursor)
    assert page["changes"] == [latest.json()]


def test_pages_follow_each_other_without_gaps(client: TestClient) -> None:
    ids = [create(client, f"task {n}")["id"] for n in range(7)]
    client.delete(f"/api/alice/tasks/{ids[2]}", headers=auth())
    seen: list[int] = []
    deleted: list[int] = []
    cursor = None
    while True:
        page = feed(client, cursor, limit=3)
        assert len(page["changes"]) + len(page["deleted"]) <= 3
        seen += [t["id"] for t in page["changes"]]
        deleted += [d["id"] for d in page["deleted"]]
        cursor = page["cursor"]
        if not page["has_more"]:
            break
    assert sorted(seen) == sorted(i for i in ids if i != ids[2])
    assert deleted == [ids[2]]


def test_another_users_changes_and_cursors_are_not_visible(client: TestClient) -> None:
    create(client, "alice's")
    bob = client.post("/api/bob/tasks", json={"title": "bob's"}, headers=auth("bob"))
    assert bob.status_code == 201
    assert [t["title"] for t in feed(client)["changes"]] == ["alice's"]
    bobs_cursor = client.get("/api/bob/tasks/changes", headers=auth("bob")).json()["cursor"]
    response = client.get(FEED, params={"since": bobs_cursor}, headers=auth())
    assert assert_problem(response, 422)["errors"][0]["pointer"] == "/since"
    assert_problem(client.get(FEED, headers=auth("bob")), 403)


@pytest.mark.parametrize("since", ["garbage", "YzE6MTpkZWFkYmVlZg", "-", "YzE6LTE6YWJj"])
def test_malformed_cursors_are_422(client: TestClient, since: str) -> None:
    response = client.get(FEED, params={"since": since}, headers=auth())
    assert assert_problem(response, 422)["errors"][0]["pointer"] == "/since"


def test_a_cursor_older_than_the_retention_is_410(client: TestClient, engine: Engine) -> None:
    task = create(client, "soon gone")
    old_cursor = feed(client)["cursor"]
    client.delete(f"/api/alice/tasks/{task['id']}", headers=auth())
    recent_cursor = feed(client, old_cursor)["cursor"]
    with engine.begin() as connection:  # the deletion is 31 days old
        connection.execute(
            text("UPDATE task_tombstones SET deleted_at = :at"),
            {"at": utcnow() - timedelta(days=31)},
        )
    with engine.begin() as connection:  # what the purge every 5 minutes does
        assert feed_rules.purge(connection, utcnow(), 30) == 1
    response = client.get(FEED, params={"since": old_cursor}, headers=auth())
    body = assert_problem_typed(response, 410)
    assert body["type"] == "urn:task-api:problem:cursor-expired"
    assert "sync again" in body["detail"]
    assert feed(client, recent_cursor)["changes"] == []  # a cursor after the purge still works
    assert feed(client)["deleted"] == []  # and a fresh sync starts over


def assert_problem_typed(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


# --- concurrent writers, one reader ---


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[Any]:
    with fresh_database("tasks_feed") as url, live_server(url, USER_MAX_IN_FLIGHT="50") as live:
        yield live


def test_a_reader_following_the_feed_ends_with_exactly_the_task_list(server: Any) -> None:
    base = f"{server.url}/api/carol/tasks"
    state, listed, errors = follow_under_writers(base, base, bearer(server.token("carol")))
    assert not errors, errors[:3]
    assert len(listed) > 5
    assert state == listed  # nothing missed, nothing resurrected, every task as it is now
