"""Keyset pages of the listing: next_cursor walks every sort in both orders without repeats
or gaps, also while tasks are created and deleted; include_total=false skips the count."""

import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

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


# --- sealed cursors: tampering is a 422, never a 500 ---


def _unsealed(*payload: Any) -> str:
    """A cursor as version 1 spelled it: base64 JSON with the last row's key in clear."""
    text = json.dumps([1, "0" * 16, *payload]).encode("utf-8", "surrogatepass")
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


@pytest.mark.parametrize(
    "payload",
    [
        ("2027-01-01T00:00:00", 1),  # naive date-time
        ("0001-01-01T00:00:00-23:59", 1),  # out of range in UTC
        ("\ud800", 1),  # a lone surrogate
        ("a\u0000b", 1),  # NUL
        ("2027-01-01T00:00:00Z", 2**63),  # past BIGINT
        (None, -1),
    ],
)
def test_edited_cursors_of_the_old_readable_kind_are_422(
    client: TestClient, make_task: MakeTask, payload: tuple[Any, ...]
) -> None:
    make_task()
    for sort in ("created_at", "title", "due_at"):
        response = client.get(
            "/api/alice/tasks", params={"cursor": _unsealed(*payload), "sort": sort}, headers=auth()
        )
        assert assert_problem(response, 422)["errors"][0]["pointer"] == "/cursor"


def test_a_cursor_shows_nothing_of_the_tasks_and_works_for_its_user_only(
    client: TestClient, make_task: MakeTask
) -> None:
    for title in ("secret plan alpha", "secret plan beta"):
        make_task(title=title)
    cursor = page(client, limit=1, sort="title")["next_cursor"]
    assert b"secret" not in base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    response = client.get(
        "/api/bob/tasks", params={"cursor": cursor, "sort": "title"}, headers=auth("bob")
    )
    assert assert_problem(response, 422)["errors"][0]["pointer"] == "/cursor"


def test_a_cursor_after_the_longest_title_fits_the_contract(
    client: TestClient, make_task: MakeTask
) -> None:
    longest = "\U0001f600" * 200  # 200 characters of 4 bytes each
    make_task(title=longest)
    make_task(title="\U0001f601" * 200)
    first = page(client, limit=1, sort="title")
    assert len(first["next_cursor"]) <= 2048
    assert page(client, limit=1, sort="title", cursor=first["next_cursor"])["items"]


@pytest.fixture(scope="module")
def a_cursor(session_client: TestClient) -> str:
    for title in ("one", "two", "three"):
        created = session_client.post(
            "/api/carol/tasks", json={"title": title}, headers=auth("carol")
        )
        assert created.status_code == 201
    cursor: str = page_of(session_client, "carol", limit=1, sort="title")["next_cursor"]
    return cursor


def page_of(client: TestClient, user: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/{user}/tasks", params=params, headers=auth(user))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_every_mutation_of_a_cursor_is_422(
    session_client: TestClient, a_cursor: str, data: st.DataObject
) -> None:
    """Flipped bits, cut or appended bytes, other characters: never a 500, never a page."""
    raw = bytearray(base64.urlsafe_b64decode(a_cursor + "=" * (-len(a_cursor) % 4)))
    mutation = data.draw(st.sampled_from(["flip", "cut", "append", "text"]))
    if mutation == "flip":
        index = data.draw(st.integers(0, len(raw) - 1))
        raw[index] ^= data.draw(st.integers(1, 255))
        cursor = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    elif mutation == "cut":
        cursor = base64.urlsafe_b64encode(bytes(raw[: data.draw(st.integers(0, len(raw) - 1))]))
        cursor = cursor.decode().rstrip("=") or "A"
    elif mutation == "append":
        extra = data.draw(st.binary(min_size=1, max_size=40))
        cursor = base64.urlsafe_b64encode(bytes(raw) + extra).decode().rstrip("=")
    else:
        cursor = data.draw(st.from_regex(r"[A-Za-z0-9_-]{1,200}", fullmatch=True))
    assume(cursor != a_cursor)
    response = session_client.get(
        "/api/carol/tasks", params={"cursor": cursor, "sort": "title"}, headers=auth("carol")
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["pointer"] == "/cursor"
