"""The contract, loaded once from the openapi.yaml packaged with the code (a wheel carries
it too: backend/openapi.yaml is the repository's top-level file)."""

import re
from functools import cached_property
from importlib import resources
from typing import Any

import yaml

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def contract_bytes() -> bytes:
    return resources.files("backend").joinpath("openapi.yaml").read_bytes()


class Spec:
    def __init__(self, raw: bytes | None = None) -> None:
        self.raw = contract_bytes() if raw is None else raw
        self.document: dict[str, Any] = yaml.safe_load(self.raw)

    @cached_property
    def _path_patterns(self) -> list[tuple[re.Pattern[str], str]]:
        patterns = []
        # Fewer templated segments first: /tasks/stats before /tasks/{task_id}.
        for template in sorted(self.document["paths"], key=lambda t: t.count("{")):
            regex = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
            patterns.append((re.compile(f"^{regex}$"), template))
        return patterns

    def operations(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(METHOD, path template) -> operation object."""
        return {
            (method.upper(), template): operation
            for template, item in self.document["paths"].items()
            for method, operation in item.items()
            if method in HTTP_METHODS
        }

    def methods(self) -> list[str]:
        """Every method some operation uses."""
        used = {method for method, _ in self.operations()}
        return [method.upper() for method in HTTP_METHODS if method.upper() in used]

    def request_headers(self) -> list[str]:
        """Header parameters of every operation (If-Match…), resolved through $ref."""
        names: set[str] = set()
        for (_, template), operation in self.operations().items():
            path_item = self.document["paths"][template]
            for parameter in [*path_item.get("parameters", []), *operation.get("parameters", [])]:
                resolved = self._resolve(parameter)
                if resolved.get("in") == "header":
                    names.add(resolved["name"])
        return sorted(names)

    def response_headers(self) -> list[str]:
        """Headers any documented response carries (ETag, Location, Retry-After…)."""
        names: set[str] = set()
        for operation in self.operations().values():
            for response in operation.get("responses", {}).values():
                names.update(self._resolve(response).get("headers", {}))
        return sorted(names)

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = self.document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def allowed_methods(self, path: str) -> list[str] | None:
        """Methods the spec defines for a concrete request path; None if no path matches."""
        for pattern, template in self._path_patterns:
            if pattern.match(path):
                item = self.document["paths"][template]
                return [method.upper() for method in HTTP_METHODS if method in item]
        return None
