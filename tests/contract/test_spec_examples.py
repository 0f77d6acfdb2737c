"""Quality gates on the contract itself (openapi.yaml), run by `make lint-spec` and `make test`.

- every example validates against its schema: media-type `example`/`examples` (including the
  component examples they reference), parameter and header examples, and schema `examples`,
  `example` and `default` values. JSON Schema Draft 2020-12 with format checking, `$ref`s
  resolved against the whole document;
- every schema property has a description (its own, or that of the schema it `$ref`s);
- every operation shows at least one example of a request or of a 2xx response.

The checks are plain functions over a loaded document, so the self-checks at the end can feed
them a broken copy of the spec and prove that each one really fails.
"""

import copy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from tests.helpers import ROOT

SPEC_PATH = ROOT / "openapi.yaml"
SPEC_URI = "urn:task-api:openapi.yaml"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}

# Keywords whose value is one subschema, a map of subschemas, or a list of subschemas.
SCHEMA_KEYWORDS = (
    "additionalProperties",
    "items",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contentSchema",
)
SCHEMA_MAP_KEYWORDS = ("properties", "patternProperties", "dependentSchemas", "$defs")
SCHEMA_LIST_KEYWORDS = ("allOf", "anyOf", "oneOf", "prefixItems")

Document = dict[str, Any]


def load_spec() -> Document:
    document: Document = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    return document


def _escape(token: str) -> str:
    """One JSON pointer reference token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


def _resolve(document: Document, node: Any) -> Any:
    """Follow local `$ref`s (`#/...`) until a node that is not a reference."""
    seen: set[str] = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/") or ref in seen:
            raise ValueError(f"unsupported or circular $ref {ref!r}")
        seen.add(ref)
        node = document
        for token in ref[2:].split("/"):
            key = token.replace("~1", "/").replace("~0", "~")
            node = node[int(key)] if isinstance(node, list) else node[key]
    return node


# --------------------------------------------------------------------------- walking the spec


@dataclass(frozen=True)
class Site:
    """An object that pairs a schema with examples: a media type, a parameter or a header."""

    pointer: str
    node: dict[str, Any]


def _content_sites(content: Any, pointer: str) -> Iterator[Site]:
    if isinstance(content, dict):
        for media_type, media in content.items():
            if isinstance(media, dict):
                yield Site(f"{pointer}/{_escape(media_type)}", media)


def _parameter_like_sites(node: Any, pointer: str) -> Iterator[Site]:
    """A parameter or header object (not a `$ref`: the component itself is visited)."""
    if not isinstance(node, dict) or "$ref" in node:
        return
    if "schema" in node:
        yield Site(pointer, node)
    yield from _content_sites(node.get("content"), f"{pointer}/content")


def _response_sites(response: Any, pointer: str) -> Iterator[Site]:
    if not isinstance(response, dict) or "$ref" in response:
        return
    for name, header in response.get("headers", {}).items():
        yield from _parameter_like_sites(header, f"{pointer}/headers/{_escape(name)}")
    yield from _content_sites(response.get("content"), f"{pointer}/content")


def _request_body_sites(body: Any, pointer: str) -> Iterator[Site]:
    if isinstance(body, dict) and "$ref" not in body:
        yield from _content_sites(body.get("content"), f"{pointer}/content")


def iter_operations(document: Document) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(pointer, path item, operation) for every operation."""
    for path, item in document.get("paths", {}).items():
        for method in HTTP_METHODS:
            if method in item:
                yield f"#/paths/{_escape(path)}/{method}", item, item[method]


def iter_sites(document: Document) -> Iterator[Site]:
    for path, item in document.get("paths", {}).items():
        path_pointer = f"#/paths/{_escape(path)}"
        for index, parameter in enumerate(item.get("parameters", [])):
            yield from _parameter_like_sites(parameter, f"{path_pointer}/parameters/{index}")
    for pointer, _item, operation in iter_operations(document):
        for index, parameter in enumerate(operation.get("parameters", [])):
            yield from _parameter_like_sites(parameter, f"{pointer}/parameters/{index}")
        yield from _request_body_sites(operation.get("requestBody"), f"{pointer}/requestBody")
        for code, response in operation.get("responses", {}).items():
            yield from _response_sites(response, f"{pointer}/responses/{_escape(code)}")
    components = document.get("components", {})
    for name, parameter in components.get("parameters", {}).items():
        yield from _parameter_like_sites(parameter, f"#/components/parameters/{_escape(name)}")
    for name, header in components.get("headers", {}).items():
        yield from _parameter_like_sites(header, f"#/components/headers/{_escape(name)}")
    for name, body in components.get("requestBodies", {}).items():
        yield from _request_body_sites(body, f"#/components/requestBodies/{_escape(name)}")
    for name, response in components.get("responses", {}).items():
        yield from _response_sites(response, f"#/components/responses/{_escape(name)}")


def _subschemas(schema: Any, pointer: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The schema itself and every schema nested in it, with their pointers."""
    if not isinstance(schema, dict):
        return  # boolean schemas have nothing to check
    yield pointer, schema
    for keyword in SCHEMA_KEYWORDS:
        if keyword in schema:
            yield from _subschemas(schema[keyword], f"{pointer}/{_escape(keyword)}")
    for keyword in SCHEMA_MAP_KEYWORDS:
        for name, subschema in schema.get(keyword, {}).items():
            yield from _subschemas(subschema, f"{pointer}/{_escape(keyword)}/{_escape(name)}")
    for keyword in SCHEMA_LIST_KEYWORDS:
        for index, subschema in enumerate(schema.get(keyword, [])):
            yield from _subschemas(subschema, f"{pointer}/{keyword}/{index}")


def iter_schemas(document: Document) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object in the document (component schemas and inline ones)."""
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        yield from _subschemas(schema, f"#/components/schemas/{_escape(name)}")
    for site in iter_sites(document):
        if "schema" in site.node:
            yield from _subschemas(site.node["schema"], f"{site.pointer}/schema")


# --------------------------------------------------------------------------- examples


@dataclass(frozen=True)
class ExampleCase:
    where: str  # pointer to the example value (or to the $ref that brought it in)
    value: Any
    schema_pointer: str
    problem: str | None = None  # set when the example cannot be checked at all


def iter_examples(document: Document) -> Iterator[ExampleCase]:
    for site in iter_sites(document):
        if "schema" not in site.node:
            continue
        schema_pointer = f"{site.pointer}/schema"
        if "example" in site.node:
            yield ExampleCase(f"{site.pointer}/example", site.node["example"], schema_pointer)
        for name, example in site.node.get("examples", {}).items():
            where = f"{site.pointer}/examples/{_escape(name)}"
            if isinstance(example, dict) and "$ref" in example:
                where = f"{where} -> {example['$ref']}"
            resolved = _resolve(document, example)
            if not isinstance(resolved, dict) or "value" not in resolved:
                yield ExampleCase(where, None, schema_pointer, "has no inline `value` to check")
            else:
                yield ExampleCase(where, resolved["value"], schema_pointer)
    for pointer, schema in iter_schemas(document):
        for index, value in enumerate(schema.get("examples", [])):
            yield ExampleCase(f"{pointer}/examples/{index}", value, pointer)
        for keyword in ("example", "default"):
            if keyword in schema:
                yield ExampleCase(f"{pointer}/{keyword}", schema[keyword], pointer)


def _check_int_format(name: str) -> Callable[[object], bool]:
    low, high = INT_RANGES[name]

    def check(value: object) -> bool:
        if not isinstance(value, int) or isinstance(value, bool):
            return True  # formats only constrain the type they apply to
        return low <= value <= high

    return check


def format_checker() -> FormatChecker:
    """Draft 2020-12's checker plus OpenAPI's integer formats."""
    checker = copy.deepcopy(Draft202012Validator.FORMAT_CHECKER)
    for name in INT_RANGES:
        checker.checks(name)(_check_int_format(name))
    return checker


class ExampleValidator:
    """Validates example cases of one document against the schemas they belong to."""

    def __init__(self, document: Document) -> None:
        resource = DRAFT202012.create_resource(document)
        self._registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
        self._checker = format_checker()

    def errors(self, case: ExampleCase) -> list[str]:
        if case.problem is not None:
            return [f"{case.where}: {case.problem}"]
        schema = {"$ref": SPEC_URI + "#" + quote(case.schema_pointer[1:], safe="/~")}
        validator = Draft202012Validator(
            schema, registry=self._registry, format_checker=self._checker
        )
        return [
            f"{case.where}: at /{'/'.join(str(part) for part in error.absolute_path)}: "
            f"{error.message}"
            for error in validator.iter_errors(case.value)
        ]


def example_errors(document: Document) -> list[str]:
    validator = ExampleValidator(document)
    return [error for case in iter_examples(document) for error in validator.errors(case)]


def unused_component_examples(document: Document) -> list[str]:
    """Component examples nothing refers to are never checked against a schema."""
    used = {
        example["$ref"]
        for site in iter_sites(document)
        for example in site.node.get("examples", {}).values()
        if isinstance(example, dict) and "$ref" in example
    }
    return [
        f"#/components/examples/{_escape(name)}"
        for name in document.get("components", {}).get("examples", {})
        if f"#/components/examples/{_escape(name)}" not in used
    ]


def formats_in_use(document: Document) -> set[str]:
    return {schema["format"] for _pointer, schema in iter_schemas(document) if "format" in schema}


# --------------------------------------------------------------------------- descriptions


def undescribed_properties(document: Document) -> list[str]:
    missing = []
    for pointer, schema in iter_schemas(document):
        for name, prop in schema.get("properties", {}).items():
            described = isinstance(prop, dict) and (
                bool(prop.get("description")) or bool(_resolve(document, prop).get("description"))
            )
            if not described:
                missing.append(f"{pointer}/properties/{_escape(name)}")
    return missing


# --------------------------------------------------------------------------- operations


def _has_example(media: Any) -> bool:
    return isinstance(media, dict) and (bool(media.get("examples")) or "example" in media)


def _content_has_example(document: Document, owner: Any) -> bool:
    owner = _resolve(document, owner)
    if not isinstance(owner, dict):
        return False
    return any(_has_example(media) for media in owner.get("content", {}).values())


def operations_without_examples(document: Document) -> list[str]:
    """An operation must show a request or a 2xx response by example.

    A request example is a request-body example or, for an operation that takes no body,
    examples for all of its required parameters (at least one), which together spell out a
    complete request: that is all the request of `DELETE .../tasks/{task_id}` (204, no
    content) consists of. An operation with no parameter, no body and no 2xx content
    (`DELETE /api/me`) has nothing an example could show: its method and path are the
    whole request.
    """
    missing = []
    for pointer, item, operation in iter_operations(document):
        body = operation.get("requestBody")
        parameters = [
            _resolve(document, parameter)
            for parameter in [*item.get("parameters", []), *operation.get("parameters", [])]
        ]
        required = [p for p in parameters if p.get("required")]
        parameters_exemplified = bool(required) and all(_has_example(p) for p in required)
        request_example = (
            _content_has_example(document, body) if body is not None else parameters_exemplified
        )
        response_example = any(
            _content_has_example(document, response)
            for code, response in operation.get("responses", {}).items()
            if re.fullmatch(r"2(\d\d|XX)", str(code))
        )
        success_content = any(
            response.get("content")
            for code, response in operation.get("responses", {}).items()
            if re.fullmatch(r"2(\d\d|XX)", str(code))
        )
        nothing_to_show = body is None and not parameters and not success_content
        if not (request_example or response_example or nothing_to_show):
            missing.append(f"{pointer} ({operation.get('operationId', '?')})")
    return missing


# --------------------------------------------------------------------------- the tests

SPEC = load_spec()
EXAMPLE_CASES = list(iter_examples(SPEC))


def test_spec_is_valid_openapi_3_1() -> None:
    validate_openapi(SPEC)  # raises with the first structural problem


def test_examples_were_found() -> None:
    """Guards the walker: a refactor that stops finding examples must not pass silently."""
    wheres = [case.where for case in EXAMPLE_CASES]
    assert len(wheres) >= 25
    assert any("-> #/components/examples/TaskPage" in where for where in wheres)
    assert "#/components/parameters/TaskId/example" in wheres
    assert "#/components/schemas/Title/examples/0" in wheres
    assert "#/components/headers/WWW-Authenticate/example" in wheres
    assert "#/components/responses/ValidationFailed/content/application~1problem+json/example" in (
        wheres
    )


@pytest.fixture(scope="module")
def example_validator() -> ExampleValidator:
    return ExampleValidator(SPEC)


@pytest.mark.parametrize("case", EXAMPLE_CASES, ids=[case.where for case in EXAMPLE_CASES])
def test_example_matches_its_schema(case: ExampleCase, example_validator: ExampleValidator) -> None:
    assert example_validator.errors(case) == []


def test_every_format_in_use_is_checked() -> None:
    """A format the checker does not know would be skipped silently (e.g. uri-reference
    without rfc3986-validator installed)."""
    unchecked = formats_in_use(SPEC) - set(format_checker().checkers)
    assert unchecked == set()


def test_every_component_example_is_used() -> None:
    assert unused_component_examples(SPEC) == []


def test_every_schema_property_has_a_description() -> None:
    assert undescribed_properties(SPEC) == []


def test_every_operation_has_an_example() -> None:
    assert operations_without_examples(SPEC) == []


# --------------------------------------------------------------------------- self-checks


def test_self_check_invalid_examples_are_detected() -> None:
    broken = copy.deepcopy(SPEC)
    components = broken["components"]
    components["examples"]["Task"]["value"]["completed"] = "no"  # wrong type
    components["examples"]["CompletedTask"]["value"]["created_at"] = "yesterday"  # format
    components["schemas"]["Title"]["examples"] = [""]  # minLength
    components["parameters"]["TaskId"]["example"] = 0  # minimum
    components["responses"]["Forbidden"]["content"]["application/problem+json"]["example"][
        "status"
    ] = 200  # minimum 400
    del components["examples"]["TaskPage"]["value"]["total"]  # required
    errors = "\n".join(example_errors(broken))
    assert "#/components/examples/Task: at /completed: 'no' is not of type 'boolean'" in errors
    assert (
        "#/components/examples/CompletedTask: at /created_at: 'yesterday' is not a 'date-time'"
        in (errors)
    )
    assert "#/components/schemas/Title/examples/0: at /: '' should be non-empty" in errors
    assert "#/components/parameters/TaskId/example: at /: 0 is less than the minimum of 1" in errors
    assert "Forbidden/content/application~1problem+json/example: at /status: 200 is less" in errors
    assert "#/components/examples/TaskPage: at /: 'total' is a required property" in errors


def test_self_check_int64_format_is_enforced() -> None:
    broken = copy.deepcopy(SPEC)
    del broken["components"]["parameters"]["TaskId"]["schema"]["maximum"]
    broken["components"]["parameters"]["TaskId"]["example"] = 2**63
    assert any("is not a 'int64'" in error for error in example_errors(broken))


def test_self_check_missing_descriptions_are_detected() -> None:
    broken = copy.deepcopy(SPEC)
    schemas = broken["components"]["schemas"]
    del schemas["Task"]["properties"]["user_id"]["description"]
    del schemas["Title"]["description"]  # Task/TaskCreate/... `title` only $ref it
    missing = undescribed_properties(broken)
    assert "#/components/schemas/Task/properties/user_id" in missing
    assert "#/components/schemas/TaskCreate/properties/title" in missing


def test_self_check_operations_without_examples_are_detected() -> None:
    broken = copy.deepcopy(SPEC)
    health = broken["paths"]["/api/health"]["get"]
    del health["responses"]["200"]["content"]["application/json"]["examples"]
    delete = broken["paths"]["/api/{user_id}/tasks/{task_id}"]["delete"]
    del broken["components"]["parameters"]["TaskId"]["example"]
    assert "requestBody" not in delete
    assert operations_without_examples(broken) == [
        "#/paths/~1api~1{user_id}~1tasks~1{task_id}/delete (deleteTask)",
        "#/paths/~1api~1health/get (getHealth)",
    ]


def test_self_check_unused_component_examples_are_detected() -> None:
    broken = copy.deepcopy(SPEC)
    broken["components"]["examples"]["Orphan"] = {"value": {"anything": True}}
    assert unused_component_examples(broken) == ["#/components/examples/Orphan"]
