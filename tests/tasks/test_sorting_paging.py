"""Listing tasks through HTTP: every sort key in both orders, and paging through them."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import MakeTask, auth
from tests.tasks.helpers import (
    assert_query_error,
    list_page,
    listed_ids,
    parse_utc,
    patch_task,
    twins,
)

RANK = {"low": 1, "medium": 2, "high": 3}


def _expected_order(
    tasks: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any], order: str
) -> list[int]:
    """Sorted by `key`, ties by id, both in `order`."""
    ordered = sorted(tasks, key=lambda t: (key(t), t["id"]))
    return [t["id"] for t in (ordered if order == "asc" else ordered[::-1])]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sort_by_created_at(client: TestClient, make_task: MakeTask, order: str) -> None:
    ids = [twins(make_task, f"t{i}")["id"] for i in range(4)]
    expected = ids if order == "asc" else ids[::-1]
    assert listed_ids(client, {"sort": "created_at", "order": order}) == (expected, 4)


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sort_by_updated_at(client: TestClient, make_task: MakeTask, order: str) -> None:
    first, second, third = (twins(make_task, f"t{i}") for i in range(3))
    patch_task(client, first, {"title": "changed"})
    patch_task(client, third, {"title": "changed too"})
    expected = [second["id"], first["id"], third["id"]]
    assert listed_ids(client, {"sort": "updated_at", "order": order}) == (
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
    tasks = [twins(make_task, f"t{i}", due_at=due) for i, due in enumerate(dues)]
    dated = [t for t in tasks if t["due_at"]]
    undated = [t for t in tasks if not t["due_at"]]
    expected = _expected_order(dated, lambda t: parse_utc(t["due_at"]), order) + _expected_order(
        undated, lambda t: 0, order
    )
    assert listed_ids(client, {"sort": "due_at", "order": order}) == (expected, 6)


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sort_by_priority_rank(client: TestClient, make_task: MakeTask, order: str) -> None:
    priorities = ["medium", "low", "high", "low", "high", "medium"]
    tasks = [twins(make_task, f"t{i}", priority=p) for i, p in enumerate(priorities)]
    expected = _expected_order(tasks, lambda t: RANK[t["priority"]], order)
    assert listed_ids(client, {"sort": "priority", "order": order}) == (expected, 6)
    if order == "desc":
        page = list_page(client, {"sort": "priority", "order": "desc"})
        assert [t["priority"] for t in page["items"]][:3] == ["high", "high", "medium"]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sort_by_title_ignores_case(client: TestClient, make_task: MakeTask, order: str) -> None:
    titles = ["cherry", "Banana", "apple", "banana", "Apple pie", "BANANA"]
    tasks = [twins(make_task, title) for title in titles]
    expected = _expected_order(tasks, lambda t: t["title"].lower(), order)
    assert listed_ids(client, {"sort": "title", "order": order}) == (expected, 6)
    if order == "asc":
        page = list_page(client, {"sort": "title", "order": "asc"})
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
    assert listed_ids(client, {"sort": "title", "order": order}) == (
        expected if order == "asc" else expected[::-1],
        5,
    )


def test_default_order_is_newest_first(client: TestClient, make_task: MakeTask) -> None:
    ids = [twins(make_task, f"t{i}", priority=p)["id"] for i, p in enumerate(["low", "high"])]
    assert listed_ids(client) == (ids[::-1], 2)
    assert listed_ids(client, {"sort": "created_at"}) == (ids[::-1], 2)
    assert listed_ids(client, {"order": "desc"}) == (ids[::-1], 2)
    assert listed_ids(client, {"order": "asc"}) == (ids, 2)
    assert listed_ids(client, {"sort": "priority"}) == (ids[::-1], 2)  # desc by default


def test_pagination_limits(client: TestClient, make_task: MakeTask) -> None:
    for i in range(3):
        make_task(title=f"t{i}", priority="high")
    assert len(list_page(client, {"sort": "title", "limit": 1})["items"]) == 1
    page = list_page(client, {"sort": "title", "limit": 100})
    assert (len(page["items"]), page["limit"]) == (3, 100)
    for query in ("limit=101", "limit=0", "offset=0&limit=0"):
        assert_query_error(
            client.get(f"/api/alice/tasks?sort=title&{query}", headers=auth("alice")), "limit"
        )
    page = list_page(client, {"sort": "due_at", "priority": "high", "offset": 3})
    assert page == {"items": [], "total": 3, "limit": 20, "offset": 3, "next_cursor": None}


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
    whole = listed_ids(client, {"sort": sort, "order": order, "limit": 100})[0]
    paged: list[int] = []
    for offset in range(0, 12, 3):
        ids, total = listed_ids(
            client, {"sort": sort, "order": order, "limit": 3, "offset": offset}
        )
        assert total == 11
        paged += ids
    assert paged == whole
    assert sorted(paged) == sorted(set(paged))
    assert len(paged) == 11


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
