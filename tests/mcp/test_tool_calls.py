"""The official MCP SDK's client against a live server: tools/list, then every tool,
each effect checked through the REST API; isolation between users; errors of every kind
as tool errors carrying the API's problem details, never protocol errors."""

import asyncio
import secrets
from typing import Any

from mcp_types import CallToolResult

from backend.mcp.tools import tools_from_spec
from backend.spec import Spec
from tests.helpers import ROOT, count_rows
from tests.mcp.helpers import LiveMcp, body_of, mcp_client, problem_of, run

NAMES = {
    "add_task",
    "list_tasks",
    "complete_task",
    "update_task",
    "delete_task",
    "get_task",
    "list_tags",
    "get_task_stats",
}


def _user() -> str:
    return f"mcp-{secrets.token_hex(4)}"


def test_each_tool_does_what_its_operation_does(live_mcp: LiveMcp) -> None:
    user = _user()
    tasks = f"/api/{user}/tasks"

    async def scenario() -> None:
        async with live_mcp.client(user) as mcp:
            assert {tool.name for tool in (await mcp.list_tools()).tools} == NAMES
            with live_mcp.rest(user) as rest:
                milk = body_of(
                    await mcp.call_tool(
                        "add_task",
                        {"title": "Buy milk", "priority": "high", "tags": ["home"]},
                    )
                )
                assert rest.get(f"{tasks}/{milk['id']}").json() == milk  # the API's body
                plants = body_of(
                    await mcp.call_tool(
                        "add_task", {"title": "Water the plants", "due_at": "2030-01-01T09:00:00Z"}
                    )
                )

                pending = body_of(await mcp.call_tool("list_tasks", {"status": "pending"}))
                assert pending == rest.get(tasks, params={"status": "pending"}).json()
                assert {t["id"] for t in pending["items"]} == {milk["id"], plants["id"]}

                done = body_of(await mcp.call_tool("complete_task", {"task_id": milk["id"]}))
                assert done["completed"] is True
                again = body_of(await mcp.call_tool("complete_task", {"task_id": milk["id"]}))
                assert again["completed"] is True  # completing twice never toggles
                assert again["completed_at"] == done["completed_at"]
                assert rest.get(f"{tasks}/{milk['id']}").json()["completed"] is True
                completed = body_of(await mcp.call_tool("list_tasks", {"status": "completed"}))
                assert [t["id"] for t in completed["items"]] == [milk["id"]]

                before = rest.get(f"{tasks}/{plants['id']}").json()
                updated = body_of(
                    await mcp.call_tool(
                        "update_task", {"task_id": plants["id"], "description": "the ficus too"}
                    )
                )
                after = rest.get(f"{tasks}/{plants['id']}").json()
                assert after == updated
                assert after["description"] == "the ficus too"
                unchanged = set(before) - {"description", "etag", "updated_at"}
                assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}

                fetched = body_of(await mcp.call_tool("get_task", {"task_id": plants["id"]}))
                assert fetched == after
                tags = body_of(await mcp.call_tool("list_tags", {}))
                assert tags == rest.get(f"/api/{user}/tags").json()
                assert [tag["name"] for tag in tags["items"]] == ["home"]
                stats = body_of(await mcp.call_tool("get_task_stats", {"tz": "Europe/Berlin"}))
                assert stats == rest.get(f"{tasks}/stats", params={"tz": "Europe/Berlin"}).json()
                assert (stats["pending"], stats["completed"]) == (1, 1)

                deleted = body_of(await mcp.call_tool("delete_task", {"task_id": plants["id"]}))
                assert deleted == {"status": 204, "user_id": user, "task_id": plants["id"]}
                assert rest.get(f"{tasks}/{plants['id']}").status_code == 404

    run(scenario())


def test_another_users_tasks_are_out_of_reach(live_mcp: LiveMcp) -> None:
    owner, intruder = _user(), _user()
    with live_mcp.rest(owner) as rest:
        task = rest.post(f"/api/{owner}/tasks", json={"title": "Private"}).json()

    async def scenario() -> list[dict[str, Any]]:
        async with live_mcp.client(intruder) as mcp:
            calls = [
                ("get_task", {"task_id": task["id"]}),
                ("update_task", {"task_id": task["id"], "title": "Mine now"}),
                ("complete_task", {"task_id": task["id"]}),
                ("delete_task", {"task_id": task["id"]}),
                ("get_task", {"task_id": task["id"], "user_id": owner}),
                ("list_tasks", {"user_id": owner}),
                ("add_task", {"title": "Planted", "user_id": owner}),
            ]
            return [problem_of(await mcp.call_tool(name, args)) for name, args in calls]

    problems = run(scenario())
    # Their task is unknown under the intruder's own name (as over HTTP: 404, not 403);
    # the owner's name is refused (403).
    assert [p["status"] for p in problems] == [404, 404, 404, 404, 403, 403, 403]
    with live_mcp.rest(owner) as rest:
        assert rest.get(f"/api/{owner}/tasks/{task['id']}").json() == task
        assert rest.get(f"/api/{owner}/tasks").json()["total"] == 1


def test_an_empty_title_is_a_tool_error_naming_title(live_mcp: LiveMcp) -> None:
    user = _user()

    async def scenario() -> CallToolResult:
        async with live_mcp.client(user) as mcp:
            return await mcp.call_tool("add_task", {"title": ""})

    result = run(scenario())
    problem = problem_of(result)
    assert problem["status"] == 422
    assert [(e["location"], e["pointer"]) for e in problem["errors"]] == [("body", "/title")]
    assert "`title`" in result.content[0].text  # type: ignore[union-attr]
    assert count_rows(live_mcp.engine, "tasks", "user_id = :user", user=user) == 0


def test_bad_arguments_are_tool_errors_never_protocol_errors(live_mcp: LiveMcp) -> None:
    user = _user()
    calls: list[tuple[str, dict[str, Any], int]] = [
        ("get_task", {"task_id": "abc"}, 422),
        ("get_task", {"task_id": -1}, 422),
        ("get_task", {}, 422),
        ("get_task", {"task_id": 999_999_999}, 404),
        ("get_task", {"task_id": "1/complete"}, 422),
        ("list_tasks", {"limit": 1000}, 422),
        ("list_tasks", {"status": "done"}, 422),
        ("list_tasks", {"overdue": "maybe"}, 422),
        ("list_tasks", {"q": "zq"}, 422),
        ("list_tasks", {"bogus": 1}, 422),
        ("add_task", {"title": "x", "priority": "urgent"}, 422),
        ("add_task", {"title": "x", "colour": "red"}, 422),
        ("add_task", {"title": ["not", "a", "string"]}, 422),
        ("add_task", {"title": "x", "idempotency_key": "line\nbreak"}, 422),
        ("add_task", {"title": "x" * 70_000}, 413),
        ("update_task", {"task_id": 1, "title": None}, 422),
        ("complete_task", {"task_id": 1, "completed": False}, 422),
        ("get_task_stats", {"tz": "Mars/Olympus_Mons"}, 422),
    ]

    async def scenario() -> list[int]:
        async with live_mcp.client(user) as mcp:
            return [problem_of(await mcp.call_tool(n, a))["status"] for n, a, _ in calls]

    assert run(scenario()) == [status for _, _, status in calls]
    assert count_rows(live_mcp.engine, "tasks", "user_id = :user", user=user) == 0


def test_conflicts_are_tool_errors_and_change_nothing(live_mcp: LiveMcp) -> None:
    user = _user()

    async def scenario() -> None:
        async with live_mcp.client(user) as mcp:
            task = body_of(await mcp.call_tool("add_task", {"title": "Original"}))
            stale = await mcp.call_tool(
                "update_task", {"task_id": task["id"], "title": "Lost", "if_match": '"0.0"'}
            )
            assert problem_of(stale)["status"] == 412
            current = await mcp.call_tool(
                "update_task", {"task_id": task["id"], "title": "Kept", "if_match": task["etag"]}
            )
            assert body_of(current)["title"] == "Kept"
            for number in range(4):  # the quota of this server is 5 tasks
                body_of(await mcp.call_tool("add_task", {"title": f"Task {number}"}))
            over = problem_of(await mcp.call_tool("add_task", {"title": "One too many"}))
            assert (over["status"], over["type"]) == (409, "urn:task-api:problem:quota-exceeded")

    run(scenario())
    with live_mcp.rest(user) as rest:
        assert rest.get(f"/api/{user}/tasks").json()["total"] == 5


def test_more_calls_at_once_than_the_share_are_tool_errors(live_mcp: LiveMcp) -> None:
    """This server gives each user one unit of work at a time, without waiting: calls at
    once beyond it are 429 tool errors (retry later), not failures of the protocol."""
    user = _user()

    async def scenario() -> list[int]:
        async with live_mcp.client(user) as mcp:
            statuses: list[int] = []
            for _ in range(5):  # concurrency is up to the scheduler: a few rounds at most
                results = await asyncio.gather(
                    *(mcp.call_tool("get_task_stats", {}) for _ in range(12))
                )
                statuses += [problem_of(r)["status"] if r.is_error else 200 for r in results]
                if 429 in statuses:
                    break
            return statuses

    statuses = run(scenario())
    assert 429 in statuses
    assert set(statuses) <= {200, 429}


def test_an_idempotency_key_makes_a_retry_safe(live_mcp: LiveMcp) -> None:
    user, key = _user(), secrets.token_hex(8)

    async def scenario() -> tuple[CallToolResult, CallToolResult, CallToolResult]:
        async with live_mcp.client(user) as mcp:
            arguments = {"title": "Once", "tags": ["a"], "idempotency_key": key}
            first = await mcp.call_tool("add_task", arguments)
            # The same arguments in another order are the same request.
            retry = await mcp.call_tool("add_task", dict(reversed(arguments.items())))
            other = await mcp.call_tool("add_task", {"title": "Other", "idempotency_key": key})
            return first, retry, other

    first, retry, other = run(scenario())
    assert body_of(retry) == body_of(first)
    assert "nothing was changed again" in retry.content[0].text  # type: ignore[union-attr]
    reused = problem_of(other)
    assert (reused["status"], reused["type"]) == (
        422,
        "urn:task-api:problem:idempotency-key-reused",
    )
    assert count_rows(live_mcp.engine, "tasks", "user_id = :user", user=user) == 1


def test_a_token_of_a_deleted_account_is_refused(live_mcp: LiveMcp) -> None:
    with live_mcp.rest("nobody") as rest:
        email = f"{secrets.token_hex(4)}@example.com"
        signed_up = rest.post(
            "/api/auth/sign-up",
            json={"email": email, "password": "correct horse battery staple", "name": "Ada"},
            headers={"Authorization": ""},
        )
        assert signed_up.status_code == 201, signed_up.text
        token, user = signed_up.json()["access_token"], signed_up.json()["user"]["id"]
        assert (
            rest.delete("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 204
        )

    async def scenario() -> CallToolResult:
        async with mcp_client(live_mcp.url, token) as mcp:
            return await mcp.call_tool("add_task", {"title": "After deletion"})

    problem = problem_of(run(scenario()))
    assert problem["status"] == 401
    assert count_rows(live_mcp.engine, "tasks", "user_id = :user", user=user) == 0


def test_tools_list_is_what_the_contract_generates(live_mcp: LiveMcp) -> None:
    """The drift check: what /mcp serves equals the tools generated from openapi.yaml as
    it is in the repository (names, descriptions, input and output schemas, hints)."""
    expected = [t.as_mcp() for t in tools_from_spec(Spec((ROOT / "openapi.yaml").read_bytes()))]

    async def scenario() -> list[Any]:
        async with live_mcp.client(_user()) as mcp:
            return (await mcp.list_tools()).tools

    served = run(scenario())
    assert [t.name for t in served] == [t.name for t in expected]
    for tool, wanted in zip(served, expected, strict=True):
        assert tool.input_schema == wanted.input_schema, tool.name
        assert tool.output_schema == wanted.output_schema, tool.name
        assert tool.description == wanted.description, tool.name
        assert tool.annotations == wanted.annotations, tool.name
