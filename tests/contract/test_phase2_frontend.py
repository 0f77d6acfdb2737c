"""docs/frontends.md "Coming from a Phase II frontend", driven against a running server: the client
changes it documents (the list unwrapped and paged, newest first, edits with PATCH, null to
clear a description, `detail` and `errors[]`, the HS256 token of the frontend's own route)
made as its `lib/api.ts` makes them, over HTTP. Each function below mirrors the
guide's TypeScript of the same name."""

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from jose import jwt

from tests.databases import fresh_database
from tests.helpers import assert_problem
from tests.live_server import LiveServer, live_server

BASE_URL = "http://localhost:3000"  # the Better Auth server's base URL (the jwt() defaults)


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with fresh_database("tasks_phase2") as url, live_server(url) as running:
        yield running


@pytest.fixture
def frontend(server: LiveServer) -> Iterator[Callable[[], "Frontend"]]:
    """frontend(): the guide's lib/api.ts for a new user (its HTTP client closed after)."""
    made: list[Frontend] = []

    def make() -> Frontend:
        made.append(Frontend(server))
        return made[-1]

    yield make
    for app in made:
        app.http.close()


class ApiError(Exception):
    """apiError(): the message a frontend shows is `detail`; `fields` marks the form."""

    def __init__(self, response: httpx.Response) -> None:
        problem = assert_problem(response, response.status_code)
        super().__init__(problem["detail"])
        self.status = response.status_code
        self.fields: list[dict[str, str]] = problem.get("errors", [])


def route_token(server: LiveServer, user_id: str, **claims: Any) -> str:
    """What the guide's Next.js token route signs: sub, email, iat, exp (15 min), HS256 with
    the shared BETTER_AUTH_SECRET; `claims` adds iss/aud (setIssuer/setAudience)."""
    now = int(time.time())
    payload = {"sub": user_id, "email": f"{user_id}@example.com", "iat": now, "exp": now + 900}
    return jwt.encode({**payload, **claims}, server.env["BETTER_AUTH_SECRET"], algorithm="HS256")


class Frontend:
    """The README's lib/api.ts for one signed-in user."""

    def __init__(self, server: LiveServer) -> None:
        self.user_id = f"user-{uuid.uuid4().hex[:8]}"
        token = route_token(server, self.user_id)
        self.http = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )

    def url(self, suffix: str = "") -> str:
        return f"/api/{self.user_id}/tasks{suffix}"

    def create_task(self, title: str, **fields: Any) -> dict[str, Any]:
        response = self.http.post(self.url(), json={"title": title, **fields})
        if response.is_error:
            raise ApiError(response)
        task: dict[str, Any] = response.json()
        return task

    def get_tasks(self, limit: str = "100") -> list[dict[str, Any]]:
        """getTasks(): every task, a page of `limit` at a time, following next_cursor."""
        tasks: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            query = {"limit": limit, **({"cursor": cursor} if cursor else {})}
            response = self.http.get(self.url(), params=query)
            if response.is_error:
                raise ApiError(response)
            page = response.json()
            tasks += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return tasks

    def update_task(self, task_id: int, title: str, description: str | None) -> dict[str, Any]:
        """updateTask(): what the edit form changed, with PATCH."""
        response = self.http.patch(
            self.url(f"/{task_id}"), json={"title": title, "description": description}
        )
        if response.is_error:
            raise ApiError(response)
        task: dict[str, Any] = response.json()
        return task

    def update_from_form(self, task_id: int, title: str, description: str) -> dict[str, Any]:
        """The form's empty description box becomes null (the guide, point 4)."""
        return self.update_task(task_id, title, None if description.strip() == "" else description)

    def toggle(self, task_id: int) -> dict[str, Any]:
        response = self.http.patch(self.url(f"/{task_id}/complete"))
        if response.is_error:
            raise ApiError(response)
        task: dict[str, Any] = response.json()
        return task


def test_the_list_is_a_page_to_unwrap_and_follow(frontend: Callable[[], Frontend]) -> None:
    app = frontend()
    created = [app.create_task(f"task {n}") for n in range(1, 26)]
    # Unchanged, a frontend reads one default page: a page object, and only 20 of 25.
    first = app.http.get(app.url()).json()
    assert isinstance(first, dict)
    assert (len(first["items"]), first["total"], first["limit"]) == (20, 25, 20)
    assert first["next_cursor"]
    # The guide's getTasks: every task, whether one page of 100 or pages of 10.
    everything = {task["id"] for task in created}
    assert {task["id"] for task in app.get_tasks()} == everything
    paged = app.get_tasks(limit="10")
    assert [task["id"] for task in paged] == sorted(everything, reverse=True)


def test_newest_first_so_a_created_task_goes_first(frontend: Callable[[], Frontend]) -> None:
    app = frontend()
    tasks: list[dict[str, Any]] = []
    for title in ("first", "second", "third"):
        created = app.create_task(title)
        tasks = [created, *tasks]  # setTasks([created, ...tasks])
    assert [t["title"] for t in tasks] == ["third", "second", "first"]
    assert app.get_tasks() == tasks  # what a reload shows
    # Or ask for the order the list shows, and append.
    oldest_first = app.http.get(app.url(), params={"sort": "created_at", "order": "asc"}).json()
    assert [t["title"] for t in oldest_first["items"]] == ["first", "second", "third"]


def test_edits_go_with_patch_and_a_partial_put_changes_nothing(
    frontend: Callable[[], Frontend],
) -> None:
    app = frontend()
    task = app.create_task("Buy milk", description="2 litres", priority="high", tags=["home"])
    done = app.toggle(task["id"])
    assert done["completed"] is True
    # The Phase II edit form: PUT {title, description}. Refused, and the task is intact.
    partial = app.http.put(app.url(f"/{task['id']}"), json={"title": "x", "description": "y"})
    error = ApiError(partial)
    assert (error.status, str(error)) == (
        422,
        "PUT replaces the whole task; send every field, or use PATCH to change some. "
        "Missing: completed, priority, tags, due_at, recurrence",
    )
    assert app.get_tasks() == [done]
    # The guide's updateTask: PATCH changes the title and description, nothing else.
    edited = app.update_task(task["id"], "Buy oat milk", "1 litre")
    assert (edited["title"], edited["description"]) == ("Buy oat milk", "1 litre")
    assert (edited["completed"], edited["priority"], edited["tags"]) == (True, "high", ["home"])


def test_null_clears_the_description(frontend: Callable[[], Frontend]) -> None:
    app = frontend()
    task = app.create_task("Buy milk", description="2 litres")
    cleared = app.update_from_form(task["id"], "Buy milk", "   ")
    assert cleared["description"] is None
    kept = app.http.patch(app.url(f"/{task['id']}"), json={"title": "Buy oat milk"}).json()
    assert (kept["title"], kept["description"]) == ("Buy oat milk", None)
    described = app.update_from_form(task["id"], "Buy oat milk", "1 litre")
    assert described["description"] == "1 litre"
    # Left out of a PATCH, a description stays.
    renamed = app.http.patch(app.url(f"/{task['id']}"), json={"title": "Oat milk"}).json()
    assert renamed["description"] == "1 litre"


def test_errors_say_what_to_fix_in_detail(frontend: Callable[[], Frontend]) -> None:
    app = frontend()
    with pytest.raises(ApiError) as pasted:
        app.create_task("Pasted\ttitle")
    assert (
        str(pasted.value) == "title: must not contain control characters such as tabs or newlines"
    )
    assert pasted.value.fields == [
        {
            "location": "body",
            "pointer": "/title",
            "message": "must not contain control characters such as tabs or newlines",
        }
    ]
    with pytest.raises(ApiError) as several:
        app.create_task(" ", priority="urgent")
    assert str(several.value) == "2 invalid inputs: title, priority"
    assert [field["pointer"] for field in several.value.fields] == ["/title", "/priority"]


def test_the_hs256_route_token_and_the_issuer_and_audience_settings(
    frontend: Callable[[], Frontend],
) -> None:
    # Without JWT_ISSUER/JWT_AUDIENCE: the route's {sub, exp} token is enough.
    app = frontend()
    assert app.get_tasks() == []
    # With them set (as for Better Auth's own tokens), the route must set iss and aud too.
    settings = {"JWT_ISSUER": BASE_URL, "JWT_AUDIENCE": BASE_URL}
    with fresh_database("tasks_phase2_iss") as url, live_server(url, **settings) as strict:
        user = "phase2-user"
        plain = route_token(strict, user)
        response = httpx.get(
            f"{strict.url}/api/{user}/tasks", headers={"Authorization": f"Bearer {plain}"}
        )
        error = ApiError(response)
        assert error.status == 401
        assert str(error) == (
            f"The token has no iss claim, and JWT_ISSUER requires '{BASE_URL}'; the auth "
            "server must put that issuer in every token."
        )
        with_claims = route_token(strict, user, iss=BASE_URL, aud=BASE_URL)
        response = httpx.get(
            f"{strict.url}/api/{user}/tasks", headers={"Authorization": f"Bearer {with_claims}"}
        )
        assert response.status_code == 200
        assert response.json()["items"] == []
