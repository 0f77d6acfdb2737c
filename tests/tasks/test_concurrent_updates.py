"""Concurrent writers on one task, over TCP against a real server: If-Match lets exactly
one of them win, and without it no write is lost. On PostgreSQL the writers queue on the
row lock; on SQLite (no row locks) the versioned UPDATE of a writer that read a stale row
matches nothing and its unit of work runs again (backend.database.errors.StaleRow)."""

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.helpers import count_rows
from tests.tasks.helpers import LiveApi, live_api, stored_task

WRITERS = 8


@pytest.fixture(scope="module")
def api(database_url: str) -> Iterator[LiveApi]:
    with live_api("tasks_concurrency") as live:
        yield live


def _create(api: LiveApi, **fields: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{api.url}/api/alice/tasks", json={"title": "start", **fields}, headers=api.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


def _all_at_once(
    api: LiveApi, method: str, path: str, bodies: list[Any], headers: dict[str, str]
) -> list[httpx.Response]:
    """Send one request per body, from as many threads released together."""
    barrier = threading.Barrier(len(bodies))
    responses: list[httpx.Response | None] = [None] * len(bodies)
    errors: list[BaseException] = []

    def send(index: int) -> None:
        try:
            with httpx.Client(base_url=api.url, timeout=30) as http:
                request = http.build_request(
                    method, path, json=bodies[index], headers={**api.headers, **headers}
                )
                barrier.wait(timeout=30)
                responses[index] = http.send(request)
        except BaseException as error:  # re-raised in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert all(r is not None for r in responses)
    return [r for r in responses if r is not None]


def _count_tasks(api: LiveApi) -> int:
    return count_rows(api.engine, "tasks", "user_id = 'alice'")


def test_concurrent_patches_with_one_if_match_let_exactly_one_win(api: LiveApi) -> None:
    task = _create(api)
    path = f"/api/alice/tasks/{task['id']}"
    bodies = [{"title": f"writer {i}"} for i in range(WRITERS)]
    responses = _all_at_once(api, "PATCH", path, bodies, {"If-Match": task["etag"]})

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * (WRITERS - 1), [r.text for r in responses]
    for response in responses:
        if response.status_code == 412:
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["status"] == 412
    winner = next(r for r in responses if r.status_code == 200).json()
    assert winner["title"] in {b["title"] for b in bodies}

    current = httpx.get(f"{api.url}{path}", headers=api.headers)
    assert current.json() == winner  # no lost update: what the 200 said is what is stored
    assert current.headers["etag"] == winner["etag"] != task["etag"]
    assert stored_task(api.engine, task["id"]) == (winner["title"], False)


def test_concurrent_patches_without_if_match_all_apply(api: LiveApi) -> None:
    task = _create(api)
    path = f"/api/alice/tasks/{task['id']}"
    bodies = [{"title": f"writer {i}"} for i in range(WRITERS)]
    responses = _all_at_once(api, "PATCH", path, bodies, {})

    assert [r.status_code for r in responses] == [200] * WRITERS, [r.text for r in responses]
    for body, response in zip(bodies, responses, strict=True):
        assert response.json()["title"] == body["title"]
        assert response.headers["etag"] == response.json()["etag"]
    # Eight modifications, each seen by exactly one writer: nine versions in all.
    etags = {task["etag"]} | {r.json()["etag"] for r in responses}
    assert len(etags) == WRITERS + 1

    final = httpx.get(f"{api.url}{path}", headers=api.headers).json()
    last = max(responses, key=lambda r: r.json()["updated_at"]).json()
    assert final == last  # the last write wins, and it is the one that says so
    assert stored_task(api.engine, task["id"]) == (final["title"], False)
    stale = httpx.patch(
        f"{api.url}{path}",
        json={"title": "late"},
        headers={**api.headers, "If-Match": task["etag"]},
    )
    assert stale.status_code == 412


def test_concurrent_completions_create_one_next_occurrence(api: LiveApi) -> None:
    before = _count_tasks(api)
    task = _create(api, due_at="2027-03-10T09:00:00Z", recurrence={"frequency": "daily"})
    path = f"/api/alice/tasks/{task['id']}/complete"
    responses = _all_at_once(api, "PATCH", path, [{"completed": True}] * WRITERS, {})

    assert {r.status_code for r in responses} == {200}, [r.text for r in responses]
    next_ids = {r.json()["next_occurrence_id"] for r in responses}
    assert len(next_ids) == 1
    assert None not in next_ids
    assert _count_tasks(api) == before + 2
    following = httpx.get(f"{api.url}/api/alice/tasks/{next_ids.pop()}", headers=api.headers)
    assert following.json()["due_at"] == "2027-03-11T09:00:00Z"


def test_concurrent_completions_with_one_if_match(api: LiveApi) -> None:
    before = _count_tasks(api)
    task = _create(api, due_at="2027-03-10T09:00:00Z", recurrence={"frequency": "weekly"})
    path = f"/api/alice/tasks/{task['id']}/complete"
    responses = _all_at_once(api, "PATCH", path, [None] * WRITERS, {"If-Match": task["etag"]})

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * (WRITERS - 1), [r.text for r in responses]
    winner = next(r for r in responses if r.status_code == 200).json()
    assert winner["completed"] is True  # toggled once, not back and forth
    assert winner["next_occurrence_id"] is not None
    assert stored_task(api.engine, task["id"]) == (task["title"], True)
    assert _count_tasks(api) == before + 2


def test_concurrent_tag_changes_of_one_task_never_fail_with_a_500(api: LiveApi) -> None:
    """On SQLite (no row locks) the losers of each round rerun with a growing pause; when a
    task keeps changing beyond that, the answer is a 503 with Retry-After, never a 500."""
    task = _create(api)
    path = f"/api/alice/tasks/{task['id']}"
    bodies = [{"tags": [f"tag {i}", f"shared {i % 3}"]} for i in range(20)]
    responses = _all_at_once(api, "PATCH", path, bodies, {})

    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 503}, [r.text for r in responses]
    assert statuses.count(200) >= 1
    for response in responses:
        if response.status_code == 503:
            assert int(response.headers["retry-after"]) >= 1
    final = httpx.get(f"{api.url}{path}", headers=api.headers).json()
    assert final["tags"] in [r.json()["tags"] for r in responses if r.status_code == 200]
