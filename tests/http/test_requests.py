"""Malformed requests: strict JSON, media types, body size, methods, unknown paths."""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from backend.http.problems import PATTERN_MESSAGES
from backend.spec import Spec
from tests.helpers import MakeTask, assert_problem, auth, count_rows

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({}, "/title"),
        ({"title": ""}, "/title"),
        ({"title": "   "}, "/title"),
        ({"title": "\t\n "}, "/title"),
        ({"title": "\u3000"}, "/title"),  # ideographic space is whitespace too
        ({"title": "\u00a0\u2007\ufeff"}, "/title"),
        ({"title": "line\nbreak"}, "/title"),
        ({"title": "\u001e"}, "/title"),
        ({"title": "a\u007f"}, "/title"),
        ({"title": "t" * 201}, "/title"),
        ({"title": " " + "t" * 200}, "/title"),
        ({"title": "a\u0000b"}, "/title"),
        ({"title": 5}, "/title"),
        ({"title": True}, "/title"),
        ({"title": None}, "/title"),
        ({"title": ["x"]}, "/title"),
        ({"title": "x", "description": "d" * 1001}, "/description"),
        ({"title": "x", "description": 7}, "/description"),
        ({"title": "x", "description": "nul\u0000"}, "/description"),
        ({"title": "x", "completed": True}, "/completed"),  # not a create field
        ({"title": "x", "id": 5}, "/id"),
        ({"title": "x", "user_id": "bob"}, "/user_id"),
    ],
)
def test_create_rejects_invalid_bodies(
    client: TestClient, engine: Engine, body: Any, pointer: str
) -> None:
    response = client.post("/api/alice/tasks", json=body, headers=auth("alice"))
    problem = assert_problem(response, 422)
    assert [e["pointer"] for e in problem["errors"]] == [pointer]
    assert all(e["location"] == "body" and e["message"] for e in problem["errors"])
    assert count_rows(engine, "tasks") == 0


@pytest.mark.parametrize("body", ["[]", '"title"', "null", "42", "true"])
def test_body_must_be_an_object(client: TestClient, body: str) -> None:
    response = client.post("/api/alice/tasks", content=body, headers={**auth("alice"), **JSON})
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["pointer"] == ""


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"completed": "true"}, "/completed"),
        ({"completed": 1}, "/completed"),
        ({"completed": 0}, "/completed"),
        ({"completed": "yes"}, "/completed"),
        ({"title": 0}, "/title"),
        ({"title": "x", "unknown": 1}, "/unknown"),
    ],
)
def test_patch_is_strict(
    client: TestClient, make_task: MakeTask, body: dict[str, Any], pointer: str
) -> None:
    task = make_task()
    url = f"/api/alice/tasks/{task['id']}"
    problem = assert_problem(client.patch(url, json=body, headers=auth("alice")), 422)
    assert [e["pointer"] for e in problem["errors"]] == [pointer]
    assert client.get(url, headers=auth("alice")).json() == task


@pytest.mark.parametrize(
    "body", [{"completed": "true"}, {"completed": None}, {}, {"completed": True, "x": 1}]
)
def test_complete_body_is_strict(
    client: TestClient, make_task: MakeTask, body: dict[str, Any]
) -> None:
    task = make_task()
    url = f"/api/alice/tasks/{task['id']}/complete"
    assert_problem(client.patch(url, json=body, headers=auth("alice")), 422)
    assert client.get(f"/api/alice/tasks/{task['id']}", headers=auth("alice")).json() == task


def test_several_errors_are_all_reported(client: TestClient) -> None:
    body = {"title": "", "description": 5, "extra": True}
    problem = assert_problem(client.post("/api/alice/tasks", json=body, headers=auth("alice")), 422)
    assert sorted(e["pointer"] for e in problem["errors"]) == ["/description", "/extra", "/title"]
    # The detail names them, for a client that shows only `detail`.
    assert problem["detail"] == "3 invalid inputs: title, description, extra"


@pytest.mark.parametrize(
    "content", [b"{", b'{"title": "x",}', b"{'title': 'x'}", b"\xff\xfe{}", b'{"title": "\xe9"}']
)
def test_malformed_json_is_400(client: TestClient, engine: Engine, content: bytes) -> None:
    response = client.post("/api/alice/tasks", content=content, headers={**auth("alice"), **JSON})
    assert_problem(response, 400)
    assert count_rows(engine, "tasks") == 0


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_non_json_media_type_is_415(
    client: TestClient, engine: Engine, content_type: str | None
) -> None:
    headers = auth("alice")
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post("/api/alice/tasks", content=b'{"title": "x"}', headers=headers)
    assert_problem(response, 415)
    assert count_rows(engine, "tasks") == 0


def test_json_with_charset_is_accepted(client: TestClient) -> None:
    headers = {**auth("alice"), "Content-Type": "application/json; charset=utf-8"}
    response = client.post("/api/alice/tasks", content=b'{"title": "x"}', headers=headers)
    assert response.status_code == 201


def test_missing_body_is_422(client: TestClient) -> None:
    problem = assert_problem(client.post("/api/alice/tasks", headers=auth("alice")), 422)
    assert problem["errors"] == [
        {"location": "body", "pointer": "", "message": "A JSON body is required"}
    ]


def test_body_over_64_kib_is_413(client: TestClient, engine: Engine) -> None:
    content = b'{"title": "x", "description": "' + b"d" * (64 * 1024) + b'"}'
    response = client.post("/api/alice/tasks", content=content, headers={**auth("alice"), **JSON})
    assert_problem(response, 413)
    assert count_rows(engine, "tasks") == 0


def test_streamed_body_over_64_kib_is_413(client: TestClient, engine: Engine) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        yield b'{"title": "x", "description": "'
        for _ in range(100):
            yield b"d" * 1024
        yield b'"}'

    response = client.post("/api/alice/tasks", content=chunks(), headers={**auth("alice"), **JSON})
    assert_problem(response, 413)
    assert count_rows(engine, "tasks") == 0


def test_body_just_under_the_limit_is_parsed(client: TestClient) -> None:
    # 64 KiB of JSON whitespace around a valid body: not too large, so it is parsed.
    content = b'{"title": "x"}'
    content += b" " * (64 * 1024 - len(content))
    response = client.post("/api/alice/tasks", content=content, headers={**auth("alice"), **JSON})
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/api/alice/tasks", "GET, POST"),
        ("DELETE", "/api/alice/tasks", "GET, POST"),
        ("POST", "/api/alice/tasks/1", "GET, PUT, DELETE, PATCH"),
        ("GET", "/api/alice/tasks/1/complete", "PATCH"),
        ("POST", "/api/alice/tasks/1/complete", "PATCH"),
        ("POST", "/api/health", "GET"),
        ("DELETE", "/api/health/ready", "GET"),
        ("OPTIONS", "/api/alice/tasks", "GET, POST"),
        ("TRACE", "/api/alice/tasks/1", "GET, PUT, DELETE, PATCH"),
    ],
)
def test_unsupported_methods_are_405_with_allow_from_the_spec(
    client: TestClient, method: str, path: str, allow: str
) -> None:
    response = client.request(method, path, headers=auth("alice"))
    assert_problem(response, 405)
    assert response.headers["allow"] == allow


@pytest.mark.parametrize("path", ["/api/alice", "/api/alice/tasks/1/other", "/nothing", "/api"])
def test_unknown_paths_are_404_problems(client: TestClient, path: str) -> None:
    assert_problem(client.get(path, headers=auth("alice")), 404)


def test_health_needs_no_token(client: TestClient) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    response = client.get("/api/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"title": "   "}, "must not be blank"),
        ({"title": "a\tb"}, "must not contain control characters such as tabs or newlines"),
        ({"title": "a\nb"}, "must not contain control characters such as tabs or newlines"),
        ({"title": " \r\n "}, "must not contain control characters such as tabs or newlines"),
        ({"title": "x", "description": "\u0000"}, "must not contain a NUL (U+0000) character"),
        ({"title": "t" * 201}, "String should have at most 200 characters"),
    ],
)
def test_validation_messages_say_what_is_wrong(
    client: TestClient, body: dict[str, Any], message: str
) -> None:
    problem = assert_problem(client.post("/api/alice/tasks", json=body, headers=auth("alice")), 422)
    assert problem["title"] == "Unprocessable Content"
    assert [e["message"] for e in problem["errors"]] == [message]
    pointer = problem["errors"][0]["pointer"]
    assert problem["detail"] == f"{pointer[1:]}: {message}"


# One invalid input: its name and what is wrong with it, in `detail` too (issue 20: most
# hand-written frontends show `detail` and never look at `errors`).
@pytest.mark.parametrize(
    ("method", "url", "body", "headers", "detail"),
    [
        (
            "POST",
            "/api/alice/tasks",
            {"title": "Pasted\ttitle"},
            {},
            "title: must not contain control characters such as tabs or newlines",
        ),
        (
            "POST",
            "/api/alice/tasks",
            {"title": "x", "recurrence": {"frequency": "daily", "interval": 0}},
            {},
            "recurrence.interval: Input should be greater than or equal to 1",
        ),
        (
            "POST",
            "/api/alice/tasks",
            {"title": "x", "tags": ["ok", "  "]},
            {},
            "tags[1]: must not be blank",
        ),
        (
            "POST",
            "/api/alice/tasks",
            {"title": "x", "completed": True},
            {},
            "completed: is not a field of this request",
        ),
        ("POST", "/api/alice/tasks", {}, {}, "Missing: title"),
        (
            "GET",
            "/api/alice/tasks?limit=0",
            None,
            {},
            "limit: Input should be greater than or equal to 1",
        ),
        ("GET", "/api/alice/tasks?overdue=yes", None, {}, "overdue: must be true or false"),
        (
            "GET",
            "/api/alice/tasks/007",
            None,
            {},
            "task_id: must be a task id: decimal digits, no sign, spaces or leading zeros",
        ),
        (
            "POST",
            "/api/alice/tasks",
            {"title": "x"},
            {"Idempotency-Key": " padded"},
            "Idempotency-Key: must be visible ASCII characters (! to ~) or spaces, not "
            "starting or ending with a space",
        ),
    ],
)
def test_one_invalid_input_is_named_in_the_detail(
    client: TestClient,
    method: str,
    url: str,
    body: Any,
    headers: dict[str, str],
    detail: str,
) -> None:
    response = client.request(method, url, json=body, headers={**auth("alice"), **headers})
    problem = assert_problem(response, 422)
    assert problem["detail"] == detail
    assert len(problem["errors"]) == 1


def test_many_invalid_inputs_are_counted_and_the_first_ten_named(client: TestClient) -> None:
    body = {"title": "x", **{f"k{i}": i for i in range(15)}}
    problem = assert_problem(client.post("/api/alice/tasks", json=body, headers=auth("alice")), 422)
    names = ", ".join(f"k{i}" for i in range(10))
    assert problem["detail"] == f"15 invalid inputs: {names} and 5 more"
    assert len(problem["errors"]) == 15


def test_a_name_in_the_detail_is_bounded_and_printable(client: TestClient) -> None:
    # An unknown key is named as sent, but never at length, nor with characters that could
    # garble a log line or a UI (controls, bidi overrides).
    key = "evil\u202e\n" + "k" * 5000
    body = {"title": "x", key: 1}
    problem = assert_problem(client.post("/api/alice/tasks", json=body, headers=auth("alice")), 422)
    name, message = problem["detail"].split(": ")
    assert message == "is not a field of this request"
    assert name.startswith("evil\ufffd\ufffdkkk")
    assert name.endswith("\u2026")
    assert len(name) == 60
    assert problem["errors"][0]["pointer"] == "/" + key  # errors[] keeps the key as sent


def test_problem_instance_is_a_valid_uri_reference(client: TestClient) -> None:
    response = client.get("/api/alice/tasks/caf%C3%A9%20%25", headers=auth("alice"))
    assert assert_problem(response, 422)["instance"] == "/api/alice/tasks/caf%C3%A9%20%25"


def test_title_trims_exactly_the_spaces_the_contract_names(client: TestClient) -> None:
    body = {"title": "\u00a0\u3000 Buy milk \u2009\ufeff"}
    response = client.post("/api/alice/tasks", json=body, headers=auth("alice"))
    assert response.status_code == 201
    assert response.json()["title"] == "Buy milk"


def test_pattern_messages_cover_the_spec_patterns() -> None:
    components = Spec().document["components"]
    schemas, parameters = components["schemas"], components["parameters"]
    expected = {schemas[n]["pattern"] for n in ("Title", "Description", "IdempotencyKey")}
    assert set(PATTERN_MESSAGES) == expected | {parameters["Search"]["schema"]["pattern"]}
