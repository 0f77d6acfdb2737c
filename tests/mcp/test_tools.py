"""The tools generated from openapi.yaml (no server): which operations, which arguments,
schemas a client can use, the table in docs/agents.md, and the translation of a call into a request
and of an answer into a result."""

import copy
import json
import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from backend.errors import InvalidInput
from backend.mcp.calls import ApiAnswer, request_for, result_for
from backend.mcp.tools import build_tool, markdown_table, tools_from_spec
from backend.spec import Spec
from tests.helpers import ROOT

SPEC = Spec((ROOT / "openapi.yaml").read_bytes())
TOOLS = {tool.name: tool for tool in tools_from_spec(SPEC)}
EXPECTED = {
    "add_task": ("POST", "/api/{user_id}/tasks"),
    "list_tasks": ("GET", "/api/{user_id}/tasks"),
    "complete_task": ("PATCH", "/api/{user_id}/tasks/{task_id}/complete"),
    "update_task": ("PATCH", "/api/{user_id}/tasks/{task_id}"),
    "delete_task": ("DELETE", "/api/{user_id}/tasks/{task_id}"),
    "get_task": ("GET", "/api/{user_id}/tasks/{task_id}"),
    "list_tags": ("GET", "/api/{user_id}/tags"),
    "get_task_stats": ("GET", "/api/{user_id}/tasks/stats"),
}


def _walk(node: Any) -> list[Any]:
    found = [node]
    if isinstance(node, dict):
        for value in node.values():
            found += _walk(value)
    elif isinstance(node, list):
        for value in node:
            found += _walk(value)
    return found


def test_the_tools_are_the_task_operations_that_say_so() -> None:
    assert {name: (t.method, t.path) for name, t in TOOLS.items()} == EXPECTED
    for (method, path), operation in SPEC.operations().items():
        if path.startswith(("/api/auth", "/api/me", "/api/health")):
            assert "x-mcp-tool" not in operation, (method, path)  # accounts are not tools


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_schemas_are_self_contained_json_schemas(name: str) -> None:
    tool = TOOLS[name]
    for schema in (tool.input_schema, tool.output_schema):
        Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object"
        assert not [n for n in _walk(schema) if isinstance(n, dict) and "$ref" in n]
    assert tool.input_schema["additionalProperties"] is False
    assert tool.description
    assert tool.title


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_parameter_and_body_field_is_an_argument(name: str) -> None:
    """Written from the contract independently of the generator: an operation that gains a
    parameter or a body field without its tool following fails here."""
    tool = TOOLS[name]
    operation = SPEC.operations()[(tool.method, tool.path)]
    document = SPEC.document
    parameters = [
        *document["paths"][tool.path].get("parameters", []),
        *operation.get("parameters", []),
    ]
    expected: set[str] = set()
    for parameter in parameters:
        while "$ref" in parameter:
            parameter = document["components"]["parameters"][parameter["$ref"].split("/")[-1]]
        if parameter["name"] != "If-None-Match":
            expected.add(parameter["name"].lower().replace("-", "_"))
    if "requestBody" in operation:
        reference = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        body = document["components"]["schemas"][reference.split("/")[-1]]
        expected |= set(body["properties"]) - set(operation["x-mcp-tool"].get("fixed-body", {}))
    assert set(tool.input_schema["properties"]) == expected
    assert {a.name for a in tool.arguments} == expected
    assert "user_id" not in tool.input_schema.get("required", [])  # the token's user
    if "{task_id}" in tool.path:
        assert "task_id" in tool.input_schema["required"]
    if tool.method != "GET":
        assert "idempotency_key" in expected


def test_complete_task_always_completes() -> None:
    tool = TOOLS["complete_task"]
    assert tool.fixed_body == {"completed": True}
    assert "completed" not in tool.input_schema["properties"]
    assert tool.idempotent
    request = request_for(tool, {"task_id": 3}, "alice")
    assert json.loads(request.body or b"") == {"completed": True}
    # A model that asks for a toggle back is told it cannot, not silently obeyed.
    with pytest.raises(InvalidInput) as refused:
        request_for(tool, {"task_id": 3, "completed": False}, "alice")
    assert refused.value.errors
    assert refused.value.errors[0].pointer == "/completed"


def test_hints_follow_the_methods() -> None:
    assert TOOLS["list_tasks"].read_only
    assert not TOOLS["list_tasks"].destructive
    assert TOOLS["delete_task"].destructive
    assert TOOLS["delete_task"].idempotent
    assert not TOOLS["add_task"].idempotent
    assert not TOOLS["add_task"].read_only
    assert TOOLS["update_task"].idempotent


def test_the_task_examples_fit_the_output_schemas() -> None:
    examples = SPEC.document["components"]["examples"]
    Draft202012Validator(TOOLS["add_task"].output_schema).validate(examples["Task"]["value"])
    Draft202012Validator(TOOLS["list_tasks"].output_schema).validate(examples["TaskPage"]["value"])
    deleted = {"status": 204, "user_id": "alice", "task_id": 3}
    Draft202012Validator(TOOLS["delete_task"].output_schema).validate(deleted)


def _operation(**extension: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    document = copy.deepcopy(SPEC.document)
    operation = document["paths"]["/api/{user_id}/tasks/{task_id}/complete"]["patch"]
    operation["x-mcp-tool"] = extension
    return document, operation


@pytest.mark.parametrize(
    ("extension", "complaint"),
    [
        ({"description": "x"}, "name must match"),
        ({"name": "Complete Task", "description": "x"}, "name must match"),
        ({"name": "complete_task"}, "description is required"),
        ({"name": "t", "description": "x", "fixed-body": {"done": True}}, "fixed-body names"),
        ({"name": "t", "description": "x", "idempotent": "yes"}, "idempotent must be"),
        ({"name": "t", "description": "x", "title": "y"}, "takes"),
    ],
)
def test_a_malformed_extension_fails_at_startup(extension: dict[str, Any], complaint: str) -> None:
    document, operation = _operation(**extension)
    with pytest.raises(ValueError, match=complaint):
        build_tool(document, "PATCH", "/api/{user_id}/tasks/{task_id}/complete", operation)


def test_two_tools_of_one_name_fail_at_startup() -> None:
    document = copy.deepcopy(SPEC.document)
    document["paths"]["/api/{user_id}/tags"]["get"]["x-mcp-tool"]["name"] = "list_tasks"
    spec = Spec(b"{}")
    spec.document = document
    with pytest.raises(ValueError, match="same name"):
        tools_from_spec(spec)


def test_docs_list_the_tools() -> None:
    readme = (ROOT / "docs" / "agents.md").read_text()
    found = re.search(r"<!-- mcp-tools -->\n(.*?)\n<!-- /mcp-tools -->", readme, flags=re.DOTALL)
    assert found, "docs/agents.md has no <!-- mcp-tools --> table"
    table = markdown_table(list(TOOLS.values()))
    assert found.group(1) == table, (
        f"the table of tools in docs/agents.md is stale; it should read:\n{table}"
    )


# --- a call → the request it stands for --------------------------------------------------


def test_arguments_go_where_the_contract_puts_them() -> None:
    request = request_for(
        TOOLS["list_tasks"],
        {"status": "pending", "tag": ["home", "work"], "overdue": True, "limit": 5, "q": None},
        "alice",
    )
    assert (request.method, request.path) == ("GET", "/api/alice/tasks")
    assert request.query == (
        ("status", "pending"),
        ("tag", "home"),
        ("tag", "work"),
        ("overdue", "true"),
        ("limit", "5"),
    )  # null: the parameter is absent
    assert request.body is None


def test_a_write_sends_its_body_canonically_and_its_headers() -> None:
    arguments = {"task_id": 7, "title": "T", "description": None, "if_match": '"7.1"'}
    request = request_for(TOOLS["update_task"], {**arguments, "idempotency_key": "k"}, "bob")
    assert (request.method, request.path) == ("PATCH", "/api/bob/tasks/7")
    assert request.body == b'{"description": null, "title": "T"}'  # sorted: retries match
    assert request.headers == (("If-Match", '"7.1"'), ("Idempotency-Key", "k"))
    reordered = request_for(TOOLS["update_task"], dict(reversed(arguments.items())), "bob")
    assert reordered.body == request.body


def test_user_id_defaults_to_the_token_user_and_may_name_another() -> None:
    assert request_for(TOOLS["get_task"], {"task_id": 1}, "alice").path == "/api/alice/tasks/1"
    other = request_for(TOOLS["get_task"], {"task_id": 1, "user_id": "bob"}, "alice")
    assert other.path == "/api/bob/tasks/1"  # the route answers 403, as over HTTP


@pytest.mark.parametrize(
    ("tool", "arguments", "location", "pointer"),
    [
        ("get_task", {}, "path", "/task_id"),
        ("get_task", {"task_id": "1/complete"}, "path", "/task_id"),
        ("get_task", {"task_id": 1, "user_id": "bob/../alice"}, "path", "/user_id"),
        ("list_tasks", {"completed": True}, "query", "/completed"),
    ],
)
def test_what_no_request_can_carry_is_refused_like_the_api_would(
    tool: str, arguments: dict[str, Any], location: str, pointer: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        request_for(TOOLS[tool], arguments, "alice")
    [error] = refused.value.errors or []
    assert (error.location.value, error.pointer) == (location, pointer)


def test_an_unknown_argument_of_a_write_is_left_to_the_api() -> None:
    request = request_for(TOOLS["add_task"], {"title": "T", "colour": "red"}, "alice")
    assert json.loads(request.body or b"") == {"title": "T", "colour": "red"}


# --- an answer → the tool's result --------------------------------------------------------


def test_a_success_without_body_says_what_was_done() -> None:
    tool = TOOLS["delete_task"]
    request = request_for(tool, {"task_id": "12"}, "alice")
    result = result_for(tool, ApiAnswer(204, "", b"", replayed=False), request.path_values)
    assert not result.is_error
    assert result.structured_content == {"status": 204, "user_id": "alice", "task_id": 12}
    assert result.content[0].text == "delete_task: 204 No Content. The task was deleted."  # type: ignore[union-attr]


def test_a_problem_is_a_tool_error_naming_the_argument() -> None:
    problem = {
        "type": "about:blank",
        "title": "Unprocessable Content",
        "status": 422,
        "detail": "Idempotency-Key: too long",
        "errors": [{"location": "header", "pointer": "/Idempotency-Key", "message": "too long"}],
    }
    answer = ApiAnswer(422, "application/problem+json", json.dumps(problem).encode(), False)
    result = result_for(TOOLS["add_task"], answer)
    assert result.is_error
    assert result.structured_content == problem
    summary, details = (block.text for block in result.content)  # type: ignore[union-attr]
    # The argument by the tool's own name (the detail names the HTTP header).
    assert summary == "add_task failed: 422 Unprocessable Content. `idempotency_key`: too long."
    assert json.loads(details) == problem


def test_a_problem_without_errors_is_summed_up_by_its_detail() -> None:
    problem = {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "Task 7 does not exist.",
    }
    answer = ApiAnswer(404, "application/problem+json", json.dumps(problem).encode(), False)
    summary = result_for(TOOLS["get_task"], answer).content[0].text  # type: ignore[union-attr]
    assert summary == "get_task failed: 404 Not Found. Task 7 does not exist."


def test_a_replayed_answer_says_so() -> None:
    task = SPEC.document["components"]["examples"]["Task"]["value"]
    answer = ApiAnswer(201, "application/json", json.dumps(task).encode(), replayed=True)
    result = result_for(TOOLS["add_task"], answer)
    assert result.structured_content == task
    assert "nothing was changed again" in result.content[0].text  # type: ignore[union-attr]
