"""Listing tasks through HTTP: filters by priority, tags, due window and overdue, search,
and the listing's query parameter validation."""

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from tests.helpers import MakeTask, assert_problem, auth
from tests.tasks.helpers import (
    assert_query_error,
    complete_task,
    list_page,
    listed_ids,
    twins,
    utc_iso,
    utc_now,
)


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
        name: twins(make_task, title=name, priority=name.removesuffix("2"))["id"]
        for name in ("low", "medium", "high", "low2")
    }
    params = [("priority", p) for p in priorities]
    assert listed_ids(client, params) == (
        sorted((ids[n] for n in expected), reverse=True),
        len(expected),
    )


def test_filter_by_tags_needs_all_of_them(client: TestClient, make_task: MakeTask) -> None:
    both = twins(make_task, "both", tags=["Work", "urgent"])["id"]
    work = twins(make_task, "work", tags=["work"])["id"]
    twins(make_task, "home", tags=["home"])
    twins(make_task, "none")
    assert listed_ids(client, {"tag": "work"}) == ([work, both], 2)
    assert listed_ids(client, {"tag": "WORK"}) == ([work, both], 2)
    assert listed_ids(client, {"tag": "  wOrK "}) == ([work, both], 2)
    assert listed_ids(client, [("tag", "work"), ("tag", "URGENT")]) == ([both], 1)
    assert listed_ids(client, [("tag", "work"), ("tag", "home")]) == ([], 0)
    assert listed_ids(client, {"tag": "wor"}) == ([], 0)
    assert listed_ids(client, {"tag": "nowhere"}) == ([], 0)


def test_filter_by_non_ascii_tag(client: TestClient, make_task: MakeTask) -> None:
    task = twins(make_task, tags=["Äpfel"])["id"]
    assert listed_ids(client, {"tag": "äpfel"}) == ([task], 1)
    assert listed_ids(client, {"tag": "ÄPFEL"}) == ([task], 1)


def test_search_in_title_and_description(client: TestClient, make_task: MakeTask) -> None:
    title = twins(make_task, "Buy MILK")["id"]
    description = twins(make_task, "Groceries", description="oat milk, 2 litres")["id"]
    twins(make_task, "Bread", description="wholemeal")
    twins(make_task, "mil k")
    assert listed_ids(client, {"q": "milk"}) == ([description, title], 2)
    assert listed_ids(client, {"q": "MiLk"}) == ([description, title], 2)
    assert listed_ids(client, {"q": "Buy M"}) == ([title], 1)
    assert listed_ids(client, {"q": "2 litres"}) == ([description], 1)
    assert listed_ids(client, {"q": "cheese"}) == ([], 0)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("100%", ["100% juice"]),
        ("100% ", ["100% juice"]),
        ("ake_", ["snake_case"]),
        ("snake_c", ["snake_case"]),
        ("back\\", ["back\\slash"]),
        ("don'", ["don't"]),
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
        "don't",
        "Äpfel kaufen",
        "äpfel schälen",
    ]
    ids = {title: twins(make_task, title)["id"] for title in titles}
    expected_ids = sorted((ids[t] for t in expected), reverse=True)
    assert listed_ids(client, {"q": query}) == (expected_ids, len(expected))


@pytest.mark.parametrize("query", ["zq", "%_%_%_%_", "a-b-c", "%", "_", "  x  "])
def test_searches_without_3_letters_or_digits_in_a_row_are_422(
    client: TestClient, make_task: MakeTask, query: str
) -> None:
    # Such a search cannot use the trigram index (PostgreSQL would read all the user's tasks).
    twins(make_task, "zq a-b-c")
    response = client.get("/api/alice/tasks", params={"q": query}, headers=auth("alice"))
    problem = assert_problem(response, 422)
    assert problem["errors"] == [
        {
            "location": "query",
            "pointer": "/q",
            "message": "must contain at least 3 letters or digits in a row and no NUL character",
        }
    ]


@pytest.mark.parametrize("query", ["\x00", "milk\x00", "\x00milk"])
def test_search_text_with_a_nul_character_is_422(
    client: TestClient, make_task: MakeTask, query: str
) -> None:
    # The Search pattern excludes NUL (PostgreSQL cannot take it in a string).
    twins(make_task, "milk", description="milk")
    response = client.get("/api/alice/tasks", params={"q": query}, headers=auth("alice"))
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["location"] == "query"
    assert problem["errors"][0]["pointer"] == "/q"


def test_filter_by_due_window(client: TestClient, make_task: MakeTask) -> None:
    early = twins(make_task, "early", due_at="2027-01-10T12:00:00Z")["id"]
    middle = twins(make_task, "middle", due_at="2027-01-20T12:00:00Z")["id"]
    late = twins(make_task, "late", due_at="2027-01-30T12:00:00Z")["id"]
    twins(make_task, "undated")
    assert listed_ids(client, {"due_before": "2027-01-20T12:00:00Z"}) == ([early], 1)  # exclusive
    assert listed_ids(client, {"due_after": "2027-01-20T12:00:00Z"}) == (
        [late, middle],
        2,
    )  # inclusive
    assert listed_ids(client, {"due_after": "2027-01-20T14:00:00+02:00"}) == ([late, middle], 2)
    assert listed_ids(client, {"due_before": "2027-01-20T14:00:01+02:00"}) == ([middle, early], 2)
    window = {"due_after": "2027-01-10T12:00:00Z", "due_before": "2027-01-30T12:00:00Z"}
    assert listed_ids(client, window) == ([middle, early], 2)
    assert listed_ids(client, {"due_before": "9999-01-01T00:00:00Z"}) == ([late, middle, early], 3)
    assert listed_ids(client, {"due_after": "1970-01-01T00:00:00Z"}) == ([late, middle, early], 3)
    inverted = {"due_after": "2027-01-30T12:00:00Z", "due_before": "2027-01-10T12:00:00Z"}
    assert listed_ids(client, inverted) == ([], 0)


def test_filter_overdue(client: TestClient, make_task: MakeTask) -> None:
    now = utc_now()
    past = utc_iso(now - timedelta(hours=2))
    future = utc_iso(now + timedelta(hours=2))
    overdue = twins(make_task, "overdue", due_at=past)["id"]
    done_late = twins(make_task, "done late", due_at=past)
    complete_task(client, done_late)
    future_id = twins(make_task, "future", due_at=future)["id"]
    undated = twins(make_task, "undated")["id"]
    assert listed_ids(client, {"overdue": "true"}) == ([overdue], 1)
    assert listed_ids(client, {"overdue": "false"}) == ([undated, future_id, done_late["id"]], 3)
    assert listed_ids(client, {"overdue": "true", "status": "completed"}) == ([], 0)
    assert listed_ids(client, {"overdue": "false", "status": "completed"}) == ([done_late["id"]], 1)


def test_filters_combine(client: TestClient, make_task: MakeTask) -> None:
    base = {
        "title": "Quarterly report",
        "priority": "high",
        "tags": ["work", "Q1"],
        "due_at": "2099-02-10T09:00:00Z",
    }
    match = twins(make_task, **base)["id"]
    twins(make_task, **{**base, "title": "Quarterly review"})  # q
    twins(make_task, **{**base, "priority": "medium"})  # priority
    twins(make_task, **{**base, "tags": ["work"]})  # tag
    twins(make_task, **{**base, "due_at": "2099-03-10T09:00:00Z"})  # due_before
    twins(make_task, **{**base, "due_at": "2099-01-10T09:00:00Z"})  # due_after
    twins(make_task, **{**base, "due_at": None})  # due_after and due_before
    complete_task(client, twins(make_task, **base))  # status
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
    assert listed_ids(client, params) == ([match], 1)
    assert listed_ids(client, [p for p in params if p[0] != "status"])[1] == 2


def test_total_counts_matches_over_all_pages(client: TestClient, make_task: MakeTask) -> None:
    high = [twins(make_task, f"high {i}", priority="high")["id"] for i in range(5)]
    for i in range(3):
        twins(make_task, f"low {i}", priority="low")
    assert listed_ids(client, {"priority": "high", "limit": 2}) == ([high[4], high[3]], 5)
    assert listed_ids(client, {"priority": "high", "limit": 2, "offset": 4}) == ([high[0]], 5)
    page = list_page(client, {"priority": "high", "offset": 10})
    assert page == {"items": [], "total": 5, "limit": 20, "offset": 10, "next_cursor": None}


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
        assert listed_ids(client, params) == ([], 0)


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
    assert_query_error(client.get(f"/api/alice/tasks?{query}", headers=auth("alice")), parameter)


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


def test_filter_by_a_tag_nobody_uses_is_empty(client: TestClient, make_task: MakeTask) -> None:
    make_task(tags=["work"])
    make_task("bob", tags=["home"])
    assert listed_ids(client, {"tag": "home"}) == ([], 0)
    assert listed_ids(client, {"tag": ["work", "home"]}) == ([], 0)
