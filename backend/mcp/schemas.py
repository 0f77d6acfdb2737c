"""JSON Schemas out of the contract, self-contained: every `$ref` replaced by what it
names. An OpenAPI 3.1 schema is JSON Schema 2020-12, but a tool's schema travels alone
(tools/list), where `#/components/...` means nothing."""

import copy
from typing import Any

# A JSON Schema (or any node of the contract): JSON data, whatever its shape.
JsonSchema = dict[str, Any]

# The contract nests a few levels deep; a $ref chain longer than this is a cycle.
MAX_DEPTH = 64


def resolve(document: JsonSchema, node: JsonSchema) -> JsonSchema:
    """What a `{"$ref": "#/..."}` names (following chains of them), or the node itself."""
    for _ in range(MAX_DEPTH):
        reference = node.get("$ref")
        if reference is None:
            return node
        if not isinstance(reference, str) or not reference.startswith("#/"):
            raise ValueError(f"only local references are supported: {reference!r}")
        target: Any = document
        for part in reference.removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    raise ValueError("a $ref chain does not end (a cycle?)")


def dereference(document: JsonSchema, node: Any, depth: int = 0) -> Any:
    """A deep copy of `node` with every $ref inside it resolved. Keywords beside a $ref
    (a description, say) are kept and win over the referenced schema's."""
    if depth > MAX_DEPTH:
        raise ValueError("the schema nests too deep (a recursive $ref?)")
    if isinstance(node, list):
        return [dereference(document, item, depth + 1) for item in node]
    if not isinstance(node, dict):
        return copy.copy(node)
    if "$ref" in node:
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        target = dereference(document, resolve(document, {"$ref": node["$ref"]}), depth + 1)
        return {**target, **dereference(document, siblings, depth + 1)}
    return {key: dereference(document, value, depth + 1) for key, value in node.items()}
