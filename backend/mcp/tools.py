"""The MCP tools, generated from openapi.yaml: one per operation that carries `x-mcp-tool`.

    x-mcp-tool:
      name: complete_task          # the tool's name: [a-z][a-z0-9_]*, unique
      description: |               # what a model reads: when to use it, what it returns
        Mark a task as done. ...
      fixed-body: {completed: true}   # optional: body fields sent with every call,
                                      # not arguments (the tool never toggles)
      idempotent: true             # optional: a repeated call changes nothing more

Everything else comes from the operation:

* Arguments: its path and query parameters, the fields of its JSON body, and its header
  parameters in snake case (`Idempotency-Key` → `idempotency_key`, `If-Match` → `if_match`);
  each with the contract's schema (every $ref resolved) and the first paragraph of the
  parameter's description. `user_id` is optional: absent, it is the token's user.
  `If-None-Match` is left out: its answer, 304, has no body to return.
* The result: the success response's JSON schema; for a success without a body (delete,
  204), an object of the status and the path arguments.
* Hints: GET is read-only, DELETE destructive, GET/PUT/DELETE (and `idempotent: true`)
  idempotent; the tasks are a closed world.

A change to an operation changes its tool; tests/mcp compares what /mcp serves with this.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import mcp_types

from backend.mcp.schemas import JsonSchema, dereference, resolve
from backend.spec import Spec

EXTENSION = "x-mcp-tool"
_EXTENSION_KEYS = frozenset({"name", "description", "fixed-body", "idempotent"})
_TOOL_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
# The path parameter that names the user: optional in every tool (the token's subject).
SUBJECT = "user_id"
SUBJECT_NOTE = "Optional: when omitted, the user the token names."
# Conditional GETs answer 304 without a body: an agent holds no cached copy to revalidate.
LEFT_OUT_HEADERS = frozenset({"if-none-match"})
IDEMPOTENT_METHODS = frozenset({"GET", "PUT", "DELETE"})  # RFC 9110 §9.2.2 (and HEAD…)

_SENTENCE_END = re.compile(r"(?<=\.)\s+(?=[A-Z])")

Location = Literal["path", "query", "header", "body"]


@dataclass(frozen=True, slots=True)
class Argument:
    """One argument of a tool and where its value goes in the request."""

    name: str  # as the tool takes it
    location: Location
    wire_name: str  # as the request carries it: parameter, header or body field name
    required: bool = False
    repeated: bool = False  # a query array: one parameter per item (?tag=a&tag=b)
    integer: bool = False  # a path parameter whose schema is an integer


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    title: str  # the operation's summary
    description: str
    operation_id: str
    method: str
    path: str  # the path template, /api/{user_id}/tasks/{task_id}
    arguments: tuple[Argument, ...]
    has_body: bool
    fixed_body: Mapping[str, Any]
    input_schema: JsonSchema
    output_schema: JsonSchema
    success_status: int
    success_description: str
    read_only: bool
    destructive: bool
    idempotent: bool

    def argument(self, name: str) -> Argument | None:
        for argument in self.arguments:
            if argument.name == name:
                return argument
        return None

    def as_mcp(self) -> mcp_types.Tool:
        """The tool as tools/list lists it."""
        return mcp_types.Tool(
            name=self.name,
            title=self.title,
            description=self.description,
            input_schema=self.input_schema,
            output_schema=self.output_schema,
            annotations=mcp_types.ToolAnnotations(
                title=self.title,
                read_only_hint=self.read_only,
                destructive_hint=self.destructive,
                idempotent_hint=self.idempotent,
                open_world_hint=False,
            ),
        )


def snake_case(header: str) -> str:
    return header.lower().replace("-", "_")


def _first_paragraph(text: str) -> str:
    return " ".join(text.strip().split("\n\n")[0].split())


def _parameters(
    document: JsonSchema, path_item: JsonSchema, operation: JsonSchema
) -> list[JsonSchema]:
    """The path item's parameters overridden by the operation's (same name and place)."""
    merged: dict[tuple[str, str], JsonSchema] = {}
    for parameter in [*path_item.get("parameters", []), *operation.get("parameters", [])]:
        resolved = resolve(document, parameter)
        merged[(resolved["in"], resolved["name"])] = resolved
    return list(merged.values())


class _Builder:
    """Arguments and the input schema of one tool, in order: path, query, body, headers."""

    def __init__(self, tool: str) -> None:
        self.tool = tool
        self.arguments: list[Argument] = []
        self.properties: dict[str, JsonSchema] = {}

    def add(self, argument: Argument, schema: JsonSchema) -> None:
        if argument.name in self.properties:
            raise ValueError(f"tool {self.tool}: two arguments named {argument.name!r}")
        self.arguments.append(argument)
        self.properties[argument.name] = schema

    def input_schema(self) -> JsonSchema:
        schema: JsonSchema = {"type": "object", "properties": self.properties}
        required = [argument.name for argument in self.arguments if argument.required]
        if required:
            schema["required"] = required
        schema["additionalProperties"] = False
        return schema


def _by_place(tool: str, parameters: list[JsonSchema]) -> dict[str, list[JsonSchema]]:
    places: dict[str, list[JsonSchema]] = {"path": [], "query": [], "header": []}
    for parameter in parameters:
        if parameter["in"] not in places:
            raise ValueError(f"tool {tool}: {parameter['in']} parameters cannot be arguments")
        places[parameter["in"]].append(parameter)
    return places


def _add_parameters(builder: _Builder, document: JsonSchema, parameters: list[JsonSchema]) -> None:
    """Path and query parameters."""
    for parameter in parameters:
        place = parameter["in"]
        schema = dereference(document, parameter["schema"])
        description = _first_paragraph(parameter.get("description", ""))
        required = bool(parameter.get("required"))
        if place == "path" and parameter["name"] == SUBJECT:
            description, required = f"{description} {SUBJECT_NOTE}".strip(), False
        if description:
            schema = {**schema, "description": description}
        builder.add(
            Argument(
                name=parameter["name"],
                location=place,
                wire_name=parameter["name"],
                required=required,
                repeated=place == "query" and schema.get("type") == "array",
                integer=place == "path" and schema.get("type") == "integer",
            ),
            schema,
        )


def _add_headers(builder: _Builder, document: JsonSchema, headers: list[JsonSchema]) -> None:
    for parameter in headers:
        if parameter["name"].lower() in LEFT_OUT_HEADERS:
            continue
        schema = dereference(document, parameter["schema"])
        description = _first_paragraph(parameter.get("description", ""))
        if description:
            schema = {**schema, "description": description}
        builder.add(
            Argument(
                name=snake_case(parameter["name"]),
                location="header",
                wire_name=parameter["name"],
                required=bool(parameter.get("required")),
            ),
            schema,
        )


def _body_schema(
    document: JsonSchema, operation: JsonSchema, tool: str
) -> tuple[JsonSchema, bool] | None:
    """The JSON body's schema, and whether a body is required."""
    if "requestBody" not in operation:
        return None
    body = resolve(document, operation["requestBody"])
    media = body.get("content", {}).get("application/json")
    if media is None:
        raise ValueError(f"tool {tool}: only JSON bodies can be arguments")
    schema: JsonSchema = dereference(document, media["schema"])
    if schema.get("type") != "object" or "properties" not in schema:
        raise ValueError(f"tool {tool}: the body must be an object with properties")
    return schema, bool(body.get("required"))


def _add_body(
    builder: _Builder, schema: JsonSchema, body_required: bool, fixed: Mapping[str, Any]
) -> None:
    required = set(schema.get("required", [])) if body_required else set()
    for name, property_schema in schema["properties"].items():
        if name in fixed:
            continue
        builder.add(
            Argument(name=name, location="body", wire_name=name, required=name in required),
            property_schema,
        )


def _output_schema(
    document: JsonSchema, operation: JsonSchema, tool: str, path_arguments: Sequence[Argument]
) -> tuple[int, str, JsonSchema]:
    """(status, description, schema) of the operation's one success response."""
    successes = [code for code in operation["responses"] if str(code).startswith("2")]
    if len(successes) != 1:
        raise ValueError(f"tool {tool}: the operation must have exactly one 2xx response")
    status = int(successes[0])
    response = resolve(document, operation["responses"][successes[0]])
    description = " ".join(response.get("description", "").split())
    media = response.get("content", {}).get("application/json")
    if media is not None:
        schema: JsonSchema = dereference(document, media["schema"])
        if schema.get("type") != "object":
            raise ValueError(f"tool {tool}: the success response must be a JSON object")
        return status, description, schema
    # No body (204): what was done to what: the status and the path arguments.
    properties: dict[str, JsonSchema] = {
        "status": {"type": "integer", "const": status, "description": "The HTTP status."}
    }
    path_item_parameters = {argument.name: argument for argument in path_arguments}
    for name, argument in path_item_parameters.items():
        properties[name] = {"type": "integer" if argument.integer else "string"}
    return (
        status,
        description,
        {
            "type": "object",
            "description": description,
            "properties": properties,
            "required": list(properties),
            "additionalProperties": False,
        },
    )


def _extension(operation: JsonSchema, where: str) -> dict[str, Any]:
    extension = operation[EXTENSION]
    if not isinstance(extension, dict) or not extension.keys() <= _EXTENSION_KEYS:
        raise ValueError(f"{where}: {EXTENSION} takes {sorted(_EXTENSION_KEYS)}")
    name, description = extension.get("name"), extension.get("description")
    if not isinstance(name, str) or not _TOOL_NAME.fullmatch(name):
        raise ValueError(f"{where}: {EXTENSION}.name must match {_TOOL_NAME.pattern}")
    if not isinstance(description, str) or not description.strip():
        raise ValueError(f"{where}: {EXTENSION}.description is required")
    if not isinstance(extension.get("fixed-body", {}), dict):
        raise ValueError(f"{where}: {EXTENSION}.fixed-body must be an object")
    if not isinstance(extension.get("idempotent", False), bool):
        raise ValueError(f"{where}: {EXTENSION}.idempotent must be true or false")
    return extension


def build_tool(document: JsonSchema, method: str, path: str, operation: JsonSchema) -> Tool:
    where = f"{method} {path}"
    extension = _extension(operation, where)
    name: str = extension["name"]
    fixed: dict[str, Any] = dict(extension.get("fixed-body", {}))
    builder = _Builder(name)
    places = _by_place(name, _parameters(document, document["paths"][path], operation))
    _add_parameters(builder, document, places["path"] + places["query"])
    body = _body_schema(document, operation, name)
    if fixed and (body is None or not fixed.keys() <= body[0]["properties"].keys()):
        raise ValueError(f"{where}: {EXTENSION}.fixed-body names fields the body does not have")
    if body is not None:
        _add_body(builder, *body, fixed)
    # Headers last: the request's own data first, then how it is made.
    _add_headers(builder, document, places["header"])
    path_arguments = [argument for argument in builder.arguments if argument.location == "path"]
    status, success, output = _output_schema(document, operation, name, path_arguments)
    return Tool(
        name=name,
        title=operation.get("summary", name),
        description=" ".join(extension["description"].split()),
        operation_id=operation.get("operationId", name),
        method=method,
        path=path,
        arguments=tuple(builder.arguments),
        has_body=body is not None,
        fixed_body=fixed,
        input_schema=builder.input_schema(),
        output_schema=output,
        success_status=status,
        success_description=success,
        read_only=method == "GET",
        destructive=method == "DELETE",
        idempotent=method in IDEMPOTENT_METHODS or bool(extension.get("idempotent")),
    )


def tools_from_spec(spec: Spec) -> tuple[Tool, ...]:
    """Every tool of the contract, in the contract's order."""
    tools = tuple(
        build_tool(spec.document, method, path, operation)
        for (method, path), operation in spec.operations().items()
        if EXTENSION in operation
    )
    names = [tool.name for tool in tools]
    if len(set(names)) != len(names):
        raise ValueError(f"two operations make a tool of the same name: {sorted(names)}")
    return tools


def markdown_table(tools: Sequence[Tool]) -> str:
    """The table of tools in docs/agents.md (tests/mcp checks that it carries this)."""
    rows = [
        "| Tool | Operation | Arguments (**required**) | What it does |",
        "| --- | --- | --- | --- |",
    ]
    for tool in tools:
        arguments = ", ".join(
            f"**`{a.name}`**" if a.required else f"`{a.name}`" for a in tool.arguments
        )
        first_sentence = _SENTENCE_END.split(tool.description, maxsplit=1)[0]
        operation = f"`{tool.method} {tool.path}` ({tool.operation_id})"
        rows.append(f"| `{tool.name}` | {operation} | {arguments} | {first_sentence} |")
    return "\n".join(rows) + "\n"
