"""HTTP helpers for the task tests: one task's URL and operations, listings, the tag
listing, 422 assertions, timestamps, and what is stored (openapi.yaml is the contract)."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text

from backend.database.engine import normalise_url
from tests.databases import fresh_database
from tests.helpers import MakeTask, assert_problem, auth, bearer
from tests.live_server import live_server

# --- a real server over TCP, for concurrent clients ----------------------------------------


@dataclass(frozen=True)
class LiveApi:
    url: str
    engine: Engine  # on the server's database, for asserting what is stored
    headers: dict[str, str]  # alice's


@contextmanager
def live_api(database_prefix: str) -> Iterator[LiveApi]:
    """A server on a fresh database of its own, with alice's token."""
    # Every request at once: the per-user share (USER_MAX_IN_FLIGHT) is not what is tested.
    with (
        fresh_database(database_prefix) as url,
        live_server(url, USER_MAX_IN_FLIGHT="50") as server,
    ):
        engine = create_engine(normalise_url(url))
        try:
            yield LiveApi(server.url, engine, bearer(server.token("alice")))
        finally:
            engine.dispose()


# Query parameters: a dict, or (name, value) pairs for repeated ones (?tag=a&tag=b).
Params = dict[str, Any] | list[tuple[str, Any]]


# --- timestamps --------------------------------------------------------------------------


def parse_utc(value: str) -> datetime:
    """A timestamp of a response: RFC 3339 in UTC, written with Z."""
    assert value.endswith("Z"), value
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0)
    return parsed


def utc_iso(moment: datetime) -> str:
    """`moment` as the API writes it: UTC with Z."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# --- one task ----------------------------------------------------------------------------


def task_url(task: dict[str, Any] | int, suffix: str = "", user: str = "alice") -> str:
    task_id = task if isinstance(task, int) else task["id"]
    return f"/api/{user}/tasks/{task_id}{suffix}"


def get_task(client: TestClient, task: dict[str, Any] | int, user: str = "alice") -> dict[str, Any]:
    response = client.get(task_url(task, user=user), headers=auth(user))
    assert response.status_code == 200, response.text
    return response.json()


def patch_task(client: TestClient, task: dict[str, Any], body: Any, **headers: str) -> Any:
    return client.patch(task_url(task), json=body, headers={**auth("alice"), **headers})


def put_task(client: TestClient, task: dict[str, Any], body: Any, **headers: str) -> Any:
    return client.put(task_url(task), json=body, headers={**auth("alice"), **headers})


def complete_task(
    client: TestClient, task: dict[str, Any], body: Any = None, **headers: str
) -> Any:
    return client.patch(
        task_url(task, "/complete"), json=body, headers={**auth("alice"), **headers}
    )


def stored_task(engine: Engine, task_id: int) -> tuple[str, bool]:
    """(title, completed) of the task as the database has it."""
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT title, completed FROM tasks WHERE id = :i"), {"i": task_id}
        ).one()
    return row.title, row.completed


# --- listings ----------------------------------------------------------------------------


def list_page(client: TestClient, params: Params = (), user: str = "alice") -> dict[str, Any]:
    response = client.get(f"/api/{user}/tasks", params=params, headers=auth(user))
    assert response.status_code == 200, response.text
    return response.json()


def listed_ids(
    client: TestClient, params: Params = (), user: str = "alice"
) -> tuple[list[int], int]:
    """The ids on the page the listing answers `params` with, and its total."""
    page = list_page(client, params, user)
    return [t["id"] for t in page["items"]], page["total"]


def twins(make_task: MakeTask, title: str = "Buy milk", **fields: Any) -> dict[str, Any]:
    """The same task for bob (first) and alice; alice's is returned. Bob's must never show
    up in alice's listings, tags or counts."""
    make_task("bob", title=title, **fields)
    return make_task("alice", title=title, **fields)


def tags_page(client: TestClient, params: Params = (), user: str = "alice") -> dict[str, Any]:
    response = client.get(f"/api/{user}/tags", params=params, headers=auth(user))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def tag_list(client: TestClient, params: Params = (), user: str = "alice") -> list[Any]:
    """(name, task_count) of each tag on the page."""
    return [(t["name"], t["task_count"]) for t in tags_page(client, params, user)["items"]]


# --- 422 ---------------------------------------------------------------------------------


def assert_query_error(response: Any, parameter: str) -> None:
    body = assert_problem(response, 422)
    error = body["errors"][0]
    assert error["location"] == "query"
    assert error["pointer"] == f"/{parameter}" or error["pointer"].startswith(f"/{parameter}/")
    assert error["message"]


def assert_body_error(response: Any, pointer: str) -> None:
    body = assert_problem(response, 422)
    error = body["errors"][0]
    assert error["location"] == "body"
    assert error["pointer"] == pointer or error["pointer"].startswith(f"{pointer}/"), error
    assert error["message"]
