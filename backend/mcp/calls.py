"""A tool call ↔ the API request it stands for: arguments → method, path, query, headers
and body (`request_for`), and the API's answer → the tool's result (`result_for`).

The API judges the arguments, not this module: a value goes where the contract puts it,
as it came (a string stays a string, so `"5"` for an integer is the API's 422), and the
answer says what is wrong. Only what cannot be put into a request at all is refused here,
with the same problem details the API would give: an unknown argument of a tool without a
body (a body takes it and the API refuses it), a path argument with a `/` (it would route
the request elsewhere), a missing required path argument. `null` for a parameter means
the parameter is absent; in the body it is sent as null (it clears a description).
"""

import json
import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import mcp_types

from backend.errors import InvalidInput
from backend.mcp.tools import SUBJECT, Argument, Tool
from generated.models import Location, ValidationErrorItem

_PATH_PARAMETER = re.compile(r"\{([^}/]+)\}")
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True, slots=True)
class ApiRequest:
    method: str
    path: str  # decoded, as routing sees it
    query: tuple[tuple[str, str], ...]
    headers: tuple[tuple[str, str], ...]
    body: bytes | None
    path_values: tuple[tuple[str, str], ...]  # (argument, value) of the path parameters


@dataclass(frozen=True, slots=True)
class ApiAnswer:
    status: int
    content_type: str
    body: bytes
    replayed: bool  # Idempotent-Replayed: the first answer to this Idempotency-Key


def _text(value: Any) -> str:
    """A parameter value as the request spells it: strings as they are, everything else as
    JSON (true, 3, [1]); the API then refuses what the contract does not allow."""
    return value if isinstance(value, str) else json.dumps(value)


def _invalid(location: str, name: str, message: str) -> InvalidInput:
    """One invalid argument, at the JSON pointer of its name (RFC 6901)."""
    pointer = "/" + name.replace("~", "~0").replace("/", "~1")
    return InvalidInput.at(Location(location), pointer, message)


def request_for(tool: Tool, arguments: dict[str, Any], subject: str) -> ApiRequest:
    """The request `arguments` stand for; InvalidInput when no request can carry them."""
    path_values: dict[str, str] = {}
    query: list[tuple[str, str]] = []
    headers: list[tuple[str, str]] = []
    body: dict[str, Any] = dict(tool.fixed_body)
    for name, value in arguments.items():
        argument = tool.argument(name)
        if name in tool.fixed_body:
            fixed = json.dumps(tool.fixed_body[name])
            raise _invalid("body", name, f"is always {fixed} in {tool.name}, not an argument")
        if argument is None:
            if not tool.has_body:
                takes = ", ".join(a.name for a in tool.arguments)
                raise _invalid("query", name, f"{tool.name} has no such argument; it takes {takes}")
            body[name] = value  # the API's strict body parsing names it
        elif argument.location == "body":
            body[argument.wire_name] = value
        elif value is None:
            continue
        elif argument.location == "path":
            path_values[argument.name] = _path_value(argument, value)
        elif argument.location == "query":
            items = value if argument.repeated and isinstance(value, list) else [value]
            query.extend((argument.wire_name, _text(item)) for item in items)
        else:
            headers.append((argument.wire_name, _text(value)))
    path_values.setdefault(SUBJECT, subject)

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in path_values:
            raise _invalid("path", name, "Field required")
        return path_values[name]

    path = _PATH_PARAMETER.sub(fill, tool.path)
    # Sorted keys: the same arguments in another order are the same request, so a retry
    # with its idempotency_key is recognised as one (the key's fingerprint is the body).
    encoded = json.dumps(body, sort_keys=True).encode() if tool.has_body else None
    return ApiRequest(
        tool.method, path, tuple(query), tuple(headers), encoded, tuple(path_values.items())
    )


def _path_value(argument: Argument, value: Any) -> str:
    text = _text(value)
    if "/" in text:
        raise _invalid("path", argument.name, "must not contain a slash (/)")
    return text


# --- the answer ------------------------------------------------------------------------


def result_for(
    tool: Tool, answer: ApiAnswer, path_values: tuple[tuple[str, str], ...] = ()
) -> mcp_types.CallToolResult:
    """A success: its body as structuredContent, and as text after a one-line summary (for
    clients that show models only text). An error: isError, with the problem details.
    `path_values`: those of the request (ApiRequest.path_values), for a success without a
    body."""
    body = _json_object(answer)
    if answer.status == tool.success_status:
        if body is None:  # a success without a body (204): what was done to what
            body = {"status": answer.status, **_path_result(tool, path_values)}
            summary = f"{_status_line(tool.name, answer.status)} {tool.success_description}"
        else:
            summary = f"{_status_line(tool.name, answer.status)}{_describe(body)}"
        if answer.replayed:
            summary += (
                " This is the answer to the first call with this idempotency_key: nothing was"
                " changed again."
            )
        return _result(summary, body, is_error=False)
    problem = body or {"status": answer.status, "detail": answer.body.decode(errors="replace")}
    return _result(_failure(tool, answer.status, problem), problem, is_error=True)


def _json_object(answer: ApiAnswer) -> dict[str, Any] | None:
    if not answer.body:
        return None
    try:
        parsed = json.loads(answer.body)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _path_result(tool: Tool, path_values: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """The path arguments the API accepted (an integer one is canonical decimal by then)."""
    values = dict(path_values)
    result: dict[str, Any] = {}
    for argument in tool.arguments:
        if argument.location == "path" and argument.name in values:
            value = values[argument.name]
            result[argument.name] = int(value) if argument.integer else value
    return result


def _status_line(tool: str, status: int) -> str:
    return f"{tool}: {status} {HTTPStatus(status).phrase}."


def _describe(body: dict[str, Any]) -> str:
    """One line about a task or a page; nothing for other shapes (the JSON follows)."""
    items = body.get("items")
    if isinstance(items, list):
        text = f" {len(items)} on this page"
        if isinstance(body.get("total"), int):
            text += f" of {body['total']}"
        if "next_cursor" in body:
            more = body["next_cursor"] is not None
            text += "; next page: pass next_cursor as cursor" if more else "; no more pages"
        return text + "."
    if "id" in body and "title" in body:
        state = "completed" if body.get("completed") else "pending"
        text = f' Task {body["id"]} "{body["title"]}": {state}, priority {body.get("priority")}'
        if body.get("due_at"):
            text += f", due {body['due_at']}"
        if body.get("next_occurrence_id"):
            text += f", next occurrence: task {body['next_occurrence_id']}"
        return text + "."
    return ""


def _failure(tool: Tool, status: int, problem: dict[str, Any]) -> str:
    """One line for the model: each bad argument by its tool name (the problem's `detail`
    names them as the HTTP API does, so it is left out then), else the detail."""
    phrase = problem.get("title") or HTTPStatus(status).phrase
    text = f"{tool.name} failed: {status} {phrase}."
    errors = problem.get("errors") or []
    for item in errors:
        text += f" {_argument_named(tool, item)}: {item.get('message')}."
    if not errors and problem.get("detail"):
        text += f" {problem['detail']}"
    return text


def _argument_named(tool: Tool, item: dict[str, Any]) -> str:
    """The argument an `errors` entry is about (pointer /title in the body: `title`)."""
    try:
        entry = ValidationErrorItem.model_validate(item)
    except ValueError:
        return "input"
    first, _, rest = entry.pointer.removeprefix("/").partition("/")
    for argument in tool.arguments:
        if (
            argument.location == entry.location.value
            and argument.wire_name.lower() == first.lower()
        ):
            return f"`{argument.name}`" + (f" (at /{rest})" if rest else "")
    return f"`{first}`" if first else f"the {entry.location.value}"


def _result(summary: str, body: dict[str, Any], *, is_error: bool) -> mcp_types.CallToolResult:
    return mcp_types.CallToolResult(
        content=[
            mcp_types.TextContent(type="text", text=summary),
            mcp_types.TextContent(type="text", text=json.dumps(body, ensure_ascii=False)),
        ],
        structured_content=body,
        is_error=is_error,
    )
