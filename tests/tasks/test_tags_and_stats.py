"""The tag listing and the task stats through HTTP."""

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from tests.helpers import MakeTask, assert_problem, auth, replacement
from tests.tasks.helpers import (
    Params,
    assert_query_error,
    complete_task,
    get_task,
    patch_task,
    put_task,
    tag_list,
    tags_page,
    task_url,
    twins,
    utc_iso,
)


def _day_bounds(zone: str) -> tuple[datetime, datetime]:
    """Today in `zone`, as a half-open UTC interval."""
    tz = ZoneInfo(zone)
    today = datetime.now(tz).date()
    start = datetime(today.year, today.month, today.day, tzinfo=tz)
    tomorrow = today + timedelta(days=1)
    end = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def _clear_of_midnight(*zones: str) -> None:
    """Wait for the next day when it is less than a minute away in one of `zones`, so the
    test's "today" is the server's "today"."""
    for zone in zones:
        _, end = _day_bounds(zone)
        left = (end - datetime.now(UTC)).total_seconds()
        if left < 60:
            time.sleep(max(left, 0) + 1)


def test_tags_list_is_empty_for_a_new_user(client: TestClient, make_task: MakeTask) -> None:
    make_task(title="untagged")
    assert tags_page(client) == {"items": [], "total": 0, "limit": 100, "offset": 0}


def test_tags_list_counts_tasks_under_the_first_spelling(
    client: TestClient, make_task: MakeTask
) -> None:
    make_task("bob", title="bob's", tags=["WORK", "secret"])
    first = make_task(title="a", tags=["Work", "home"])
    second = make_task(title="b", tags=["work"])
    done = make_task(title="c", tags=[" WORK ", "b"])
    complete_task(client, done)
    assert second["tags"] == ["work"]
    assert get_task(client, second)["tags"] == ["work"]
    assert get_task(client, done)["tags"] == ["b", "WORK"]
    assert first["tags"] == ["home", "Work"]
    page = tags_page(client)
    assert page["items"] == [
        {"name": "b", "task_count": 1},
        {"name": "home", "task_count": 1},
        {"name": "Work", "task_count": 3},
    ]
    assert (page["total"], page["limit"], page["offset"]) == (3, 100, 0)
    assert tag_list(client, user="bob") == [("secret", 1), ("WORK", 1)]


def test_tags_list_is_sorted_without_regard_to_case(
    client: TestClient, make_task: MakeTask
) -> None:
    make_task(tags=["b", "C", "a"])
    make_task(tags=["B", "Z", "d"])
    assert tag_list(client) == [("a", 1), ("b", 2), ("C", 1), ("d", 1), ("Z", 1)]


def test_unused_tags_are_not_listed(client: TestClient, make_task: MakeTask) -> None:
    first = make_task(title="a", tags=["Work", "home"])
    second = make_task(title="b", tags=["work", "garden"])
    client.delete(task_url(second), headers=auth("alice"))
    assert tag_list(client) == [("home", 1), ("Work", 1)]
    patch_task(client, first, {"tags": ["errands"]})
    assert tag_list(client) == [("errands", 1)]
    put_task(client, first, replacement("a"))
    assert tags_page(client)["total"] == 0
    assert tag_list(client) == []


def test_tag_keeps_its_first_spelling_while_in_use(client: TestClient, make_task: MakeTask) -> None:
    first = make_task(title="a", tags=["Work"])
    make_task(title="b", tags=["WORK"])
    patch_task(client, first, {"tags": ["other"]})
    assert tag_list(client) == [("other", 1), ("Work", 1)]


def test_tags_pagination(client: TestClient, make_task: MakeTask) -> None:
    make_task(tags=["e", "d", "c", "b", "a"])
    make_task(tags=["c"])
    page = tags_page(client, {"limit": 2, "offset": 1})
    assert page == {
        "items": [{"name": "b", "task_count": 1}, {"name": "c", "task_count": 2}],
        "total": 5,
        "limit": 2,
        "offset": 1,
    }
    assert tags_page(client, {"offset": 5}) == {"items": [], "total": 5, "limit": 100, "offset": 5}
    assert len(tags_page(client, {"limit": 1000})["items"]) == 5
    assert len(tags_page(client, {"limit": 1})["items"]) == 1


@pytest.mark.parametrize(
    ("query", "parameter"),
    [("limit=0", "limit"), ("limit=1001", "limit"), ("limit=x", "limit"), ("offset=-1", "offset")],
)
def test_tags_rejects_bad_query_parameters(client: TestClient, query: str, parameter: str) -> None:
    assert_query_error(client.get(f"/api/alice/tags?{query}", headers=auth("alice")), parameter)


@pytest.mark.parametrize("path", ["/api/bob/tags", "/api/bob/tasks/stats"])
def test_other_users_tags_and_stats_are_403(
    client: TestClient, make_task: MakeTask, path: str
) -> None:
    make_task("bob", tags=["secret"])
    response = client.get(path, headers=auth("alice"))
    assert_problem(response, 403)
    assert "secret" not in response.text


@pytest.mark.parametrize("path", ["/api/alice/tags", "/api/alice/tasks/stats"])
def test_tags_and_stats_need_a_token(client: TestClient, path: str) -> None:
    assert_problem(client.get(path), 401)


def _stats(client: TestClient, params: Params = (), user: str = "alice") -> dict[str, Any]:
    response = client.get(f"/api/{user}/tasks/stats", params=params, headers=auth(user))
    assert response.status_code == 200, response.text
    return response.json()


def test_stats_of_a_new_user(client: TestClient) -> None:
    zero = {"pending": 0, "completed": 0}
    assert _stats(client) == {
        "total": 0,
        "pending": 0,
        "completed": 0,
        "by_priority": {"low": zero, "medium": zero, "high": zero},
        "overdue": 0,
        "due_today": 0,
        "usage": {"tasks": 0, "max_tasks": 250_000, "tags": 0, "max_tags": 1_000},
    }


def test_stats_count_by_status_priority_and_due_date(
    client: TestClient, make_task: MakeTask
) -> None:
    _clear_of_midnight("UTC")
    start, end = _day_bounds("UTC")
    now = datetime.now(UTC)
    earlier_today = utc_iso(start + (now - start) / 2)
    later_today = utc_iso(now + (end - now) / 2)
    yesterday = utc_iso(start - timedelta(hours=1))
    tomorrow = utc_iso(end + timedelta(hours=1))
    twins(make_task, "overdue today", priority="high", due_at=earlier_today)
    complete_task(client, twins(make_task, "done today", priority="high", due_at=earlier_today))
    twins(make_task, "later today", priority="medium", due_at=later_today)
    twins(make_task, "overdue yesterday", priority="medium", due_at=yesterday)
    twins(make_task, "tomorrow", priority="low", due_at=tomorrow)
    complete_task(client, twins(make_task, "done undated", priority="low"))
    twins(make_task, "undated", priority="medium")
    make_task("bob", title="bob's extra", due_at=earlier_today)
    assert _stats(client) == {
        "total": 7,
        "pending": 5,
        "completed": 2,
        "by_priority": {
            "low": {"pending": 1, "completed": 1},
            "medium": {"pending": 3, "completed": 0},
            "high": {"pending": 1, "completed": 1},
        },
        "overdue": 2,
        "due_today": 2,
        "usage": {"tasks": 7, "max_tasks": 250_000, "tags": 0, "max_tags": 1_000},
    }
    assert _stats(client, {"tz": "UTC"}) == _stats(client)


def _only_today_in(zone: str, other: str) -> datetime:
    """A moment that is today in `zone` but not in `other`."""
    start, end = _day_bounds(zone)
    other_start, other_end = _day_bounds(other)
    for moment in (start + timedelta(minutes=30), end - timedelta(minutes=30)):
        if not other_start <= moment < other_end:
            return moment
    raise AssertionError("no such moment")  # cannot happen: the zones are 25 hours apart


def test_stats_due_today_in_a_time_zone(client: TestClient, make_task: MakeTask) -> None:
    east, west = "Pacific/Kiritimati", "Pacific/Pago_Pago"  # UTC+14 and UTC-11
    _clear_of_midnight(east, west)
    make_task(title="east", due_at=utc_iso(_only_today_in(east, west)))
    for i in range(2):
        make_task(title=f"west {i}", due_at=utc_iso(_only_today_in(west, east)))
    assert _stats(client, {"tz": east})["due_today"] == 1
    assert _stats(client, {"tz": west})["due_today"] == 2
    assert _stats(client, {"tz": east})["total"] == 3


def test_stats_due_today_in_a_zone_with_dst(client: TestClient, make_task: MakeTask) -> None:
    zone = "America/New_York"
    _clear_of_midnight(zone, "UTC")
    start, end = _day_bounds(zone)
    utc_start, utc_end = _day_bounds("UTC")
    inside = [start + timedelta(minutes=1), end - timedelta(minutes=1)]
    outside = [start - timedelta(minutes=1), end + timedelta(minutes=1)]
    for moment in inside + outside:
        make_task(title="t", due_at=utc_iso(moment))
    assert _stats(client, {"tz": zone})["due_today"] == 2
    expected_utc = sum(utc_start <= m < utc_end for m in inside + outside)
    assert _stats(client)["due_today"] == expected_utc


@pytest.mark.parametrize("tz", ["Mars/Base", "../etc/passwd", "", "x" * 65, "UTC+5", "/etc/UTC"])
def test_stats_rejects_unknown_time_zones(client: TestClient, tz: str) -> None:
    response = client.get("/api/alice/tasks/stats", params={"tz": tz}, headers=auth("alice"))
    assert_query_error(response, "tz")


@pytest.mark.parametrize("tz", ["localtime", "posixrules", "Etc", "Abc/Def"])
def test_stats_time_zone_must_be_a_zone_of_the_database(client: TestClient, tz: str) -> None:
    response = client.get("/api/alice/tasks/stats", params={"tz": tz}, headers=auth("alice"))
    assert assert_problem(response, 422)["errors"][0]["pointer"] == "/tz"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_stats_answers_other_methods_with_405(client: TestClient, method: str) -> None:
    response = client.request(method, "/api/alice/tasks/stats", headers=auth("alice"))
    assert_problem(response, 405)
    assert response.headers["allow"] == "GET"
