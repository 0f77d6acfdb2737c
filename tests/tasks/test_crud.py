"""Task operations through HTTP: status codes, bodies, headers and what is stored."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.helpers import TASK_FIELDS, MakeTask, assert_problem, auth, count_rows, replacement
from tests.tasks.helpers import listed_ids, parse_utc


def test_create_returns_201_location_and_the_task(client: TestClient, engine: Engine) -> None:
    response = client.post(
        "/api/alice/tasks",
        json={"title": "  Buy milk  ", "description": "2 litres"},
        headers=auth("alice"),
    )
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    task = response.json()
    assert set(task) == TASK_FIELDS
    assert task["title"] == "Buy milk"  # trimmed
    assert task["description"] == "2 litres"
    assert task["completed"] is False
    assert task["user_id"] == "alice"
    assert task["created_at"] == task["updated_at"]
    assert task["created_at"].endswith("Z")
    parse_utc(task["created_at"])
    assert response.headers["location"] == f"/api/alice/tasks/{task['id']}"
    assert client.get(response.headers["location"], headers=auth("alice")).json() == task
    assert count_rows(engine, "tasks", "user_id = :u AND title = :t", u="alice", t="Buy milk") == 1


def test_create_with_title_only_has_null_description(client: TestClient) -> None:
    response = client.post("/api/alice/tasks", json={"title": "x"}, headers=auth("alice"))
    assert response.status_code == 201
    assert response.json()["description"] is None


def test_create_accepts_explicit_null_description(client: TestClient) -> None:
    body = {"title": "x", "description": None}
    response = client.post("/api/alice/tasks", json=body, headers=auth("alice"))
    assert response.status_code == 201
    assert response.json()["description"] is None


def test_location_escapes_the_user_id(client: TestClient) -> None:
    user = "user with space@example.com"
    response = client.post(f"/api/{user}/tasks", json={"title": "x"}, headers=auth(user))
    assert response.status_code == 201
    location = response.headers["location"]
    assert location == f"/api/user%20with%20space%40example.com/tasks/{response.json()['id']}"
    assert client.get(location, headers=auth(user)).status_code == 200


def test_unicode_titles_round_trip(client: TestClient) -> None:
    title = "Café ☕ — 買い物 🛒"
    response = client.post("/api/alice/tasks", json={"title": title}, headers=auth("alice"))
    assert response.json()["title"] == title
    assert client.get(response.headers["location"], headers=auth("alice")).json()["title"] == title


def test_title_and_description_at_their_limits(client: TestClient) -> None:
    body = {"title": "t" * 200, "description": "d" * 1000}
    response = client.post("/api/alice/tasks", json=body, headers=auth("alice"))
    assert response.status_code == 201
    assert response.json()["title"] == "t" * 200
    assert response.json()["description"] == "d" * 1000


def test_get_returns_the_task(client: TestClient, make_task: MakeTask) -> None:
    task = make_task()
    response = client.get(f"/api/alice/tasks/{task['id']}", headers=auth("alice"))
    assert response.status_code == 200
    assert response.json() == task


@pytest.mark.parametrize("task_id", ["999999", "1"])
def test_get_missing_task_is_404(client: TestClient, task_id: str) -> None:
    body = assert_problem(client.get(f"/api/alice/tasks/{task_id}", headers=auth("alice")), 404)
    assert body["detail"] == f"Task {task_id} does not exist."
    assert body["instance"] == f"/api/alice/tasks/{task_id}"


def test_list_is_newest_first_with_pagination(client: TestClient, make_task: MakeTask) -> None:
    ids = [make_task(title=f"task {i}")["id"] for i in range(5)]
    response = client.get("/api/alice/tasks", headers=auth("alice"))
    assert response.status_code == 200
    page = response.json()
    assert [t["id"] for t in page["items"]] == ids[::-1]
    assert (page["total"], page["limit"], page["offset"]) == (5, 20, 0)

    page = client.get("/api/alice/tasks?limit=2&offset=1", headers=auth("alice")).json()
    assert [t["id"] for t in page["items"]] == [ids[3], ids[2]]
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 1)

    page = client.get("/api/alice/tasks?limit=2&offset=4", headers=auth("alice")).json()
    assert [t["id"] for t in page["items"]] == [ids[0]]

    page = client.get("/api/alice/tasks?offset=50", headers=auth("alice")).json()
    assert page == {"items": [], "total": 5, "limit": 20, "offset": 50, "next_cursor": None}


def test_list_of_a_new_user_is_empty(client: TestClient) -> None:
    page = client.get("/api/nobody-yet/tasks", headers=auth("nobody-yet")).json()
    assert page == {"items": [], "total": 0, "limit": 20, "offset": 0, "next_cursor": None}


def test_list_limit_bounds(client: TestClient, make_task: MakeTask) -> None:
    for i in range(3):
        make_task(title=f"t{i}")
    assert len(client.get("/api/alice/tasks?limit=1", headers=auth("alice")).json()["items"]) == 1
    page = client.get("/api/alice/tasks?limit=100", headers=auth("alice")).json()
    assert page["limit"] == 100
    assert len(page["items"]) == 3


def test_default_limit_is_20(client: TestClient, make_task: MakeTask) -> None:
    for i in range(21):
        make_task(title=f"t{i}")
    page = client.get("/api/alice/tasks", headers=auth("alice")).json()
    assert len(page["items"]) == 20
    assert page["total"] == 21


@pytest.mark.parametrize(
    ("query", "pointer"),
    [
        ("limit=0", "/limit"),
        ("limit=101", "/limit"),
        ("limit=-1", "/limit"),
        ("limit=abc", "/limit"),
        ("limit=1.5", "/limit"),
        ("limit=", "/limit"),
        ("offset=-1", "/offset"),
        ("offset=2147483648", "/offset"),
        ("offset=x", "/offset"),
        ("status=done", "/status"),
        ("status=ALL", "/status"),
    ],
)
def test_list_rejects_bad_query_parameters(client: TestClient, query: str, pointer: str) -> None:
    body = assert_problem(client.get(f"/api/alice/tasks?{query}", headers=auth("alice")), 422)
    assert {"location": "query", "pointer": pointer} == {
        k: body["errors"][0][k] for k in ("location", "pointer")
    }
    assert body["errors"][0]["message"]


def test_list_filters_by_status(client: TestClient, make_task: MakeTask) -> None:
    pending = make_task(title="pending")
    done = make_task(title="done")
    client.patch(f"/api/alice/tasks/{done['id']}/complete", headers=auth("alice"))
    assert listed_ids(client, {"status": "pending"}) == ([pending["id"]], 1)
    assert listed_ids(client, {"status": "completed"}) == ([done["id"]], 1)
    assert listed_ids(client, {"status": "all"}) == ([done["id"], pending["id"]], 2)


def test_put_replaces_every_editable_field(client: TestClient, make_task: MakeTask) -> None:
    task = make_task(description="old")
    body = replacement(" New ", description="new", completed=True)
    response = client.put(f"/api/alice/tasks/{task['id']}", json=body, headers=auth("alice"))
    assert response.status_code == 200
    updated = response.json()
    assert (updated["title"], updated["description"], updated["completed"]) == ("New", "new", True)
    assert updated["created_at"] == task["created_at"]
    assert parse_utc(updated["updated_at"]) > parse_utc(task["updated_at"])
    assert client.get(f"/api/alice/tasks/{task['id']}", headers=auth("alice")).json() == updated


def test_a_partial_put_is_422_and_loses_nothing(client: TestClient, make_task: MakeTask) -> None:
    # Issue 20: a frontend edits a completed task with PUT {title, description}. A PUT that
    # reset what it was not sent would re-open the task and wipe its organising fields
    # with a 200; the whole task must be sent instead, and the answer says so.
    task = make_task(description="old", priority="high", tags=["home"])
    url = f"/api/alice/tasks/{task['id']}"
    done = client.patch(f"{url}/complete", headers=auth("alice")).json()
    assert done["completed"] is True
    response = client.put(url, json={"title": "t", "description": "new"}, headers=auth("alice"))
    problem = assert_problem(response, 422)
    assert problem["detail"] == (
        "PUT replaces the whole task; send every field, or use PATCH to change some. "
        "Missing: completed, priority, tags, due_at, recurrence"
    )
    assert [(e["location"], e["pointer"], e["message"]) for e in problem["errors"]] == [
        ("body", f"/{name}", "is required")
        for name in ("completed", "priority", "tags", "due_at", "recurrence")
    ]
    assert client.get(url, headers=auth("alice")).json() == done


def test_put_without_title_is_422(client: TestClient, make_task: MakeTask) -> None:
    task = make_task()
    body = replacement(completed=True)
    del body["title"]
    response = client.put(f"/api/alice/tasks/{task['id']}", json=body, headers=auth("alice"))
    body = assert_problem(response, 422)
    assert body["errors"][0]["pointer"] == "/title"
    assert body["detail"].endswith("Missing: title")
    stored = client.get(f"/api/alice/tasks/{task['id']}", headers=auth("alice")).json()
    assert stored == task


def test_patch_changes_only_present_fields(client: TestClient, make_task: MakeTask) -> None:
    task = make_task(description="keep me")
    url = f"/api/alice/tasks/{task['id']}"
    response = client.patch(url, json={"title": "Renamed"}, headers=auth("alice"))
    assert response.status_code == 200
    updated = response.json()
    assert updated["title"] == "Renamed"
    assert updated["description"] == "keep me"
    assert updated["completed"] is False
    assert updated["created_at"] == task["created_at"]
    assert parse_utc(updated["updated_at"]) > parse_utc(task["updated_at"])

    response = client.patch(url, json={"completed": True}, headers=auth("alice"))
    assert response.json()["completed"] is True
    assert response.json()["title"] == "Renamed"


def test_patch_null_clears_description(client: TestClient, make_task: MakeTask) -> None:
    task = make_task(description="something")
    url = f"/api/alice/tasks/{task['id']}"
    response = client.patch(url, json={"description": None}, headers=auth("alice"))
    assert response.status_code == 200
    assert response.json()["description"] is None
    assert response.json()["title"] == task["title"]


@pytest.mark.parametrize("field", ["title", "completed"])
def test_patch_null_for_non_nullable_field_is_422(
    client: TestClient, make_task: MakeTask, field: str
) -> None:
    task = make_task()
    url = f"/api/alice/tasks/{task['id']}"
    body = assert_problem(client.patch(url, json={field: None}, headers=auth("alice")), 422)
    assert body["errors"][0] == {
        "location": "body",
        "pointer": f"/{field}",
        "message": body["errors"][0]["message"],
    }
    assert client.get(url, headers=auth("alice")).json() == task


def test_empty_patch_changes_nothing(client: TestClient, make_task: MakeTask) -> None:
    task = make_task()
    response = client.patch(f"/api/alice/tasks/{task['id']}", json={}, headers=auth("alice"))
    assert response.status_code == 200
    assert response.json() == task  # updated_at included: nothing was modified


def test_patch_with_same_values_does_not_touch_updated_at(
    client: TestClient, make_task: MakeTask
) -> None:
    task = make_task()
    response = client.patch(
        f"/api/alice/tasks/{task['id']}", json={"title": task["title"]}, headers=auth("alice")
    )
    assert response.json() == task


def test_updated_at_moves_on_every_modification(client: TestClient, make_task: MakeTask) -> None:
    task = make_task()
    url = f"/api/alice/tasks/{task['id']}"
    stamps = [task["updated_at"]]
    for i in range(5):
        stamps.append(
            client.patch(url, json={"title": f"v{i}"}, headers=auth("alice")).json()["updated_at"]
        )
    parsed = [parse_utc(s) for s in stamps]
    assert parsed == sorted(parsed)
    assert len(set(parsed)) == len(parsed)


def test_delete_removes_the_task(client: TestClient, engine: Engine, make_task: MakeTask) -> None:
    task = make_task()
    keep = make_task(title="keep")
    url = f"/api/alice/tasks/{task['id']}"
    response = client.delete(url, headers=auth("alice"))
    assert response.status_code == 204
    assert response.content == b""
    assert count_rows(engine, "tasks", "id = :i", i=task["id"]) == 0
    assert count_rows(engine, "tasks", "id = :i", i=keep["id"]) == 1
    assert_problem(client.get(url, headers=auth("alice")), 404)
    assert_problem(client.delete(url, headers=auth("alice")), 404)


def test_deleted_ids_are_not_reused(client: TestClient, make_task: MakeTask) -> None:
    first = make_task()
    client.delete(f"/api/alice/tasks/{first['id']}", headers=auth("alice"))
    assert make_task()["id"] > first["id"]


def test_complete_toggles(client: TestClient, make_task: MakeTask) -> None:
    task = make_task()
    url = f"/api/alice/tasks/{task['id']}/complete"
    first = client.patch(url, headers=auth("alice"))
    assert first.status_code == 200
    assert first.json()["completed"] is True
    assert parse_utc(first.json()["updated_at"]) > parse_utc(task["updated_at"])
    second = client.patch(url, headers=auth("alice"))
    assert second.json()["completed"] is False


@pytest.mark.parametrize("value", [True, False])
def test_complete_with_body_sets_the_value_idempotently(
    client: TestClient, make_task: MakeTask, value: bool
) -> None:
    task = make_task()
    url = f"/api/alice/tasks/{task['id']}/complete"
    first = client.patch(url, json={"completed": value}, headers=auth("alice"))
    assert first.status_code == 200
    assert first.json()["completed"] is value
    again = client.patch(url, json={"completed": value}, headers=auth("alice"))
    assert again.json() == first.json()  # nothing changed, updated_at included


def test_complete_missing_task_is_404(client: TestClient) -> None:
    assert_problem(client.patch("/api/alice/tasks/12345/complete", headers=auth("alice")), 404)


@pytest.mark.parametrize("task_id", ["abc", "0", "-1", "1.5", str(2**63), "1e3"])
@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("PUT", ""), ("PATCH", ""), ("DELETE", ""), ("PATCH", "/complete")],
)
def test_invalid_task_ids_are_422(
    client: TestClient, method: str, suffix: str, task_id: str
) -> None:
    body = replacement() if method in ("PUT", "PATCH") and not suffix else None
    response = client.request(
        method, f"/api/alice/tasks/{task_id}{suffix}", json=body, headers=auth("alice")
    )
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["location"] == "path"
    assert problem["errors"][0]["pointer"] == "/task_id"


def test_largest_task_id_is_a_clean_404(client: TestClient) -> None:
    assert_problem(client.get(f"/api/alice/tasks/{2**63 - 1}", headers=auth("alice")), 404)


class TestIsolation:
    """User B can neither see nor change nor delete user A's tasks, with B's own token
    on B's own path: every such request looks exactly like a missing task."""

    @pytest.fixture
    def alices_task(self, make_task: MakeTask) -> dict[str, Any]:
        return make_task("alice", title="Alice's secret", description="private")

    def _unchanged(self, client: TestClient, engine: Engine, task: dict[str, Any]) -> None:
        assert client.get(f"/api/alice/tasks/{task['id']}", headers=auth("alice")).json() == task
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT user_id, title FROM tasks")).all()
        assert [tuple(r) for r in rows] == [("alice", "Alice's secret")]

    def test_list_shows_only_own_tasks(
        self, client: TestClient, alices_task: dict[str, Any], make_task: MakeTask
    ) -> None:
        bobs = make_task("bob", title="Bob's")
        page = client.get("/api/bob/tasks", headers=auth("bob")).json()
        assert [t["id"] for t in page["items"]] == [bobs["id"]]
        assert page["total"] == 1
        page = client.get("/api/alice/tasks", headers=auth("alice")).json()
        assert [t["id"] for t in page["items"]] == [alices_task["id"]]

    @pytest.mark.parametrize(
        ("method", "suffix", "body"),
        [
            ("GET", "", None),
            ("PUT", "", replacement("hacked", completed=True)),
            ("PATCH", "", {"title": "hacked"}),
            ("PATCH", "/complete", None),
            ("PATCH", "/complete", {"completed": True}),
            ("DELETE", "", None),
        ],
    )
    def test_other_users_task_is_404(
        self,
        client: TestClient,
        engine: Engine,
        alices_task: dict[str, Any],
        method: str,
        suffix: str,
        body: Any,
    ) -> None:
        url = f"/api/bob/tasks/{alices_task['id']}{suffix}"
        response = client.request(method, url, json=body, headers=auth("bob"))
        problem = assert_problem(response, 404)
        assert "Alice" not in response.text
        # Indistinguishable from a task that does not exist at all.
        missing = client.request(
            method, f"/api/bob/tasks/999999{suffix}", json=body, headers=auth("bob")
        )
        assert problem["detail"].replace(str(alices_task["id"]), "N") == missing.json()[
            "detail"
        ].replace("999999", "N")
        self._unchanged(client, engine, alices_task)
