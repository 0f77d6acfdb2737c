"""ETags and conditional requests through HTTP: If-Match (412 on a stale tag) and
If-None-Match (304) (the header rules themselves: test_etags_unit.py)."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import MakeTask, assert_problem, auth, count_rows, replacement
from tests.tasks.helpers import (
    complete_task,
    get_task,
    list_page,
    patch_task,
    put_task,
    stored_task,
    task_url,
)


def _etag(response: Any) -> str:
    etag = response.headers["etag"]
    assert etag == response.json()["etag"]
    assert etag.startswith('"')
    assert etag.endswith('"')  # strong
    return etag


def test_every_task_response_carries_its_etag(client: TestClient, make_task: MakeTask) -> None:
    created = client.post("/api/alice/tasks", json={"title": "x"}, headers=auth("alice"))
    assert created.status_code == 201
    task = created.json()
    tags = {_etag(created)}
    got = client.get(task_url(task), headers=auth("alice"))
    assert _etag(got) == _etag(created)
    responses = [
        put_task(client, task, replacement("y")),
        patch_task(client, task, {"title": "z"}),
        complete_task(client, task),
        complete_task(client, task, {"completed": False}),
        patch_task(client, task, {"priority": "high"}),
        patch_task(client, task, {"tags": ["a"]}),
        patch_task(client, task, {"due_at": "2027-01-01T00:00:00Z"}),
        patch_task(client, task, {"recurrence": {"frequency": "daily"}}),
        patch_task(client, task, {"description": "d"}),
    ]
    for response in responses:
        assert response.status_code == 200
        tags.add(_etag(response))
    assert len(tags) == len(responses) + 1  # a new one on every modification
    listed = list_page(client)["items"][0]
    assert listed["etag"] == _etag(client.get(task_url(task), headers=auth("alice")))


def test_etags_differ_between_tasks(make_task: MakeTask) -> None:
    assert make_task()["etag"] != make_task()["etag"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"title": "Buy milk"},
        {"priority": "high"},
        {"tags": ["b", "a"]},
        {"due_at": "2027-01-01T02:00:00+02:00"},
        {"recurrence": {"frequency": "daily"}},
        {"completed": False},
    ],
)
def test_patch_changing_nothing_keeps_the_etag(
    client: TestClient, make_task: MakeTask, body: dict[str, Any]
) -> None:
    task = make_task(
        priority="high",
        tags=["a", "b"],
        due_at="2027-01-01T00:00:00Z",
        recurrence={"frequency": "daily", "interval": 1},
    )
    response = patch_task(client, task, body)
    assert response.status_code == 200
    assert _etag(response) == task["etag"]
    assert response.json() == task


def test_complete_changing_nothing_keeps_the_etag(client: TestClient, make_task: MakeTask) -> None:
    task = make_task()
    response = complete_task(client, task, {"completed": False})
    assert _etag(response) == task["etag"]


@pytest.mark.parametrize(
    ("method", "suffix", "body", "status"),
    [
        ("PUT", "", replacement("new"), 200),
        ("PATCH", "", {"title": "new"}, 200),
        ("PATCH", "/complete", None, 200),
        ("DELETE", "", None, 204),
    ],
)
def test_if_match_with_the_current_etag_succeeds(
    client: TestClient, make_task: MakeTask, method: str, suffix: str, body: Any, status: int
) -> None:
    task = make_task()
    headers = {**auth("alice"), "If-Match": task["etag"]}
    response = client.request(method, task_url(task, suffix), json=body, headers=headers)
    assert response.status_code == status, response.text
    if status == 200:
        assert _etag(response) != task["etag"]


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("PUT", "", replacement("new", completed=True)),
        ("PATCH", "", {"title": "new"}),
        ("PATCH", "", {"completed": True}),
        ("PATCH", "/complete", None),
        ("PATCH", "/complete", {"completed": True}),
        ("DELETE", "", None),
    ],
)
def test_if_match_with_a_stale_etag_is_412_and_changes_nothing(
    client: TestClient, engine: Engine, make_task: MakeTask, method: str, suffix: str, body: Any
) -> None:
    task = make_task(title="old", due_at="2027-01-01T00:00:00Z", recurrence={"frequency": "daily"})
    stale = task["etag"]
    current = patch_task(client, task, {"priority": "high"}).json()
    assert current["etag"] != stale
    headers = {**auth("alice"), "If-Match": stale}
    response = client.request(method, task_url(task, suffix), json=body, headers=headers)
    problem = assert_problem(response, 412)
    assert problem["instance"] == task_url(task, suffix)
    assert get_task(client, task) == current
    assert stored_task(engine, task["id"]) == ("old", False)
    assert count_rows(engine, "tasks") == 1  # no next occurrence either


@pytest.mark.parametrize(
    "if_match",
    ["*", '"stale", {current}', '{current}, "stale"', '"1.999",{current}', " {current} "],
)
def test_if_match_accepts_a_star_or_a_list(
    client: TestClient, make_task: MakeTask, if_match: str
) -> None:
    task = make_task()
    value = if_match.replace("{current}", task["etag"])
    response = patch_task(client, task, {"title": "new"}, **{"If-Match": value})
    assert response.status_code == 200, response.text
    assert response.json()["title"] == "new"


@pytest.mark.parametrize(
    "if_match", ["W/{current}", '"stale"', '"stale", W/{current}', "{bare}", '""']
)
def test_if_match_compares_strongly(client: TestClient, make_task: MakeTask, if_match: str) -> None:
    task = make_task(title="old")
    value = if_match.replace("{current}", task["etag"]).replace("{bare}", task["etag"][1:-1])
    assert_problem(patch_task(client, task, {"title": "new"}, **{"If-Match": value}), 412)
    assert get_task(client, task)["title"] == "old"


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("PUT", "", replacement()),
        ("PATCH", "", {"title": "x"}),
        ("PATCH", "/complete", None),
        ("DELETE", "", None),
    ],
)
@pytest.mark.parametrize("if_match", ["*", '"1.1"'])
def test_if_match_on_a_missing_task_is_404(
    client: TestClient, method: str, suffix: str, body: Any, if_match: str
) -> None:
    headers = {**auth("alice"), "If-Match": if_match}
    response = client.request(method, task_url(999999, suffix), json=body, headers=headers)
    assert_problem(response, 404)


def test_if_match_on_another_users_task_is_404(client: TestClient, make_task: MakeTask) -> None:
    task = make_task("bob")
    headers = {**auth("alice"), "If-Match": task["etag"]}
    response = client.patch(task_url(task), json={"title": "x"}, headers=headers)
    assert_problem(response, 404)
    assert get_task(client, task, user="bob") == task


@pytest.mark.parametrize(
    "if_none_match", ["{current}", "W/{current}", "*", '"stale", {current}', '"a",W/{current}']
)
def test_get_with_a_matching_if_none_match_is_304(
    client: TestClient, make_task: MakeTask, if_none_match: str
) -> None:
    task = make_task()
    value = if_none_match.replace("{current}", task["etag"])
    response = client.get(task_url(task), headers={**auth("alice"), "If-None-Match": value})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == task["etag"]


@pytest.mark.parametrize("if_none_match", ['"stale"', 'W/"stale"', "{old}"])
def test_get_with_another_if_none_match_is_200(
    client: TestClient, make_task: MakeTask, if_none_match: str
) -> None:
    task = make_task()
    current = patch_task(client, task, {"title": "new"}).json()
    value = if_none_match.replace("{old}", task["etag"])
    response = client.get(task_url(task), headers={**auth("alice"), "If-None-Match": value})
    assert response.status_code == 200
    assert response.json() == current
    assert _etag(response) == current["etag"]


def test_if_none_match_on_a_missing_task_is_404(client: TestClient) -> None:
    headers = {**auth("alice"), "If-None-Match": "*"}
    assert_problem(client.get(task_url(999999), headers=headers), 404)


def test_without_if_match_the_last_write_wins(client: TestClient, make_task: MakeTask) -> None:
    task = make_task()
    first = patch_task(client, task, {"title": "first"})
    second = patch_task(client, task, {"title": "second"})
    assert (first.status_code, second.status_code) == (200, 200)
    assert get_task(client, task)["title"] == "second"
    assert _etag(second) not in (task["etag"], _etag(first))


def test_after_a_412_a_retry_with_the_fresh_etag_succeeds(
    client: TestClient, make_task: MakeTask
) -> None:
    task = make_task()
    current = patch_task(client, task, {"title": "theirs"}).json()
    stale = patch_task(client, task, {"title": "mine"}, **{"If-Match": task["etag"]})
    assert_problem(stale, 412)
    fresh = client.get(task_url(task), headers=auth("alice"))
    assert _etag(fresh) == current["etag"]
    retry = patch_task(client, task, {"title": "mine"}, **{"If-Match": current["etag"]})
    assert retry.status_code == 200
    assert retry.json()["title"] == "mine"
