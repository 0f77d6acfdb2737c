"""Keyset pages of the listing: next_cursor walks every sort in both orders without repeats
or gaps, also while tasks are created and deleted; include_total=false skips the count."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import assert_problem, auth
from tests.tasks.helpers import MakeTask

SORTS = ["created_at", "updated_at", "due_at", "priority", "title"]


def page(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/api/alice/tasks", params=params, headers=auth())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def walk(client: TestClient, limit: int, **params: Any) -> list[int]:
    ids: list[int] = []
    cursor = None
    while True:
        current = page(client, limit=limit, **params, **({"cursor": cursor} if cursor else {}))
        ids += [task["id"] for task in current["items"]]
        cursor = current["next_cursor"]
        if cursor is None:
            return ids


@pytest.fixture
def varied(make_task: MakeTask) -> list[int]:
    """Tasks with ties in every sort key, some undated."""
    specs = [
        ("banana", "high", "2027-01-02T00:00:00Z"),
        ("Apple", "low", None),
        ("cherry", "medium", "2027-01-01T00:00:00Z"),
        ("apple", "high", "2027-01-02T00:00:00Z"),
        ("date", "medium", None),
        ("Elder", "low", "2026-12-31T00:00:00Z"),
        ("fig", "high", None),
    ]
    return [
        make_task(title=title, priority=priority, due_at=due)["id"]
        for title, priority, due in specs
    ]


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("limit", [1, 2, 3])
def test_cursor_pages_equal_one_big_page(
    client: TestClient, varied: list[int], sort: str, order: str, limit: int
) -> None:
    everything = [t["id"] for t in page(client, sort=sort, order=order, limit=100)["items"]]
    assert sorted(everything) == sorted(varied)
    assert walk(client, limit, sort=sort, order=order) == everything


def test_filters_apply_to_cursor_pages(client: TestClient, varied: list[int]) -> None:
    high = [t["id"] for t in page(client, priority="high", sort="title", limit=100)["items"]]
    assert len(high) == 3
    assert walk(client, 1, priority="high", sort="title") == high


def test_creates_and_deletes_while_paging_never_repeat_or_skip(
    client: TestClient, make_task: MakeTask
) -> None:
    ids = [make_task(title=f"task {n}")["id"] for n in range(10)]  # newest first: 9 … 0
    first = page(client, limit=4)
    seen = [task["id"] for task in first["items"]]
    # Meanwhile: newer tasks (before the cursor) and a deletion of one already seen.
    for n in range(3):
        make_task(title=f"newer {n}")
    client.delete(f"/api/alice/tasks/{seen[0]}", headers=auth())
    cursor = first["next_cursor"]
    while cursor:
        current = page(client, limit=4, cursor=cursor)
        seen += [task["id"] for task in current["items"]]
        cursor = current["next_cursor"]
    assert len(seen) == len(set(seen))  # no repeats
    assert seen == list(reversed(ids))  # every task that existed throughout, in order


def test_include_total_false_skips_the_count(client: TestClient, make_task: MakeTask) -> None:
    for n in range(5):
        make_task(title=f"task {n}")
    uncounted = page(client, limit=2, include_total="false")
    assert uncounted["total"] is None
    assert uncounted["next_cursor"] is not None
    counted = page(client, limit=2, cursor=uncounted["next_cursor"])
    assert counted["total"] == 5
    assert counted["offset"] == 0
    last = page(client, limit=10)
    assert last["total"] == 5
    assert last["next_cursor"] is None


def test_a_cursor_with_an_offset_or_other_filters_is_422(
    client: TestClient, make_task: MakeTask
) -> None:
    for n in range(3):
        make_task(title=f"task {n}", priority="high")
    cursor = page(client, limit=1, priority="high")["next_cursor"]
    for params in (
        {"cursor": cursor, "offset": 1},
        {"cursor": cursor},  # without the filter it was made for
        {"cursor": cursor, "priority": "high", "sort": "title"},
        {"cursor": "bm90IGEgY3Vyc29y"},
        {"cursor": "!!!"},
    ):
        response = client.get("/api/alice/tasks", params=params, headers=auth())
        problem = assert_problem(response, 422)
        assert problem["errors"][0]["pointer"] == "/cursor"
    same = page(client, limit=1, priority="high", cursor=cursor)
    assert len(same["items"]) == 1
