"""The spec is the contract: what the app serves and routes must equal openapi.yaml."""

import yaml
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.testclient import TestClient
from starlette.routing import Route

from backend.routes import tags, tasks
from backend.spec import Spec
from tests.helpers import ROOT

SPEC_PATH = ROOT / "openapi.yaml"


def _success_status(operation: dict) -> int:
    codes = [int(code) for code in operation["responses"] if code.startswith("2")]
    assert len(codes) == 1, operation.get("operationId")
    return codes[0]


def test_openapi_json_is_exactly_the_yaml(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == yaml.safe_load(SPEC_PATH.read_text())


def test_openapi_yaml_serves_the_file(client: TestClient) -> None:
    response = client.get("/openapi.yaml")
    assert response.status_code == 200
    assert response.content == SPEC_PATH.read_bytes()
    assert response.headers["content-type"].startswith("application/yaml")


def test_docs_show_swagger_ui_on_the_spec(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert "swagger-ui" in response.text
    assert "/openapi.json" in response.text


def test_routes_and_success_codes_equal_the_spec(app: FastAPI) -> None:
    # FastAPI's own view of its routes (never served: only compared with the contract), and
    # the typed endpoints' declarations (backend.http.endpoints).
    generated = get_openapi(title="drift", version="0", routes=app.routes)
    implemented = {
        (method.upper(), path): _success_status(operation)
        for path, item in generated["paths"].items()
        for method, operation in item.items()
    }
    for endpoints in (tasks.endpoints, tags.endpoints):
        assert not set(endpoints.operations) & set(implemented)
        implemented.update(endpoints.operations)
    specified = {key: _success_status(op) for key, op in Spec().operations().items()}
    assert implemented == specified
    # Every plain route is a declared operation, or a 405 by design (PUT …/tasks/stats).
    served = {
        (method, route.path)
        for route in app.routes
        if type(route) is Route
        for method in route.methods or ()
    }
    assert {key for key in served if key not in implemented} == {
        (method, f"/api/{{user_id}}/tasks/{name}")
        for method in ("POST", "PUT", "PATCH", "DELETE")
        for name in ("stats", "changes")
    }


def test_every_operation_is_documented_for_clients() -> None:
    document = Spec().document
    assert document["openapi"] == "3.1.0"
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    for (method, path), operation in Spec().operations().items():
        assert operation.get("operationId"), (method, path)
        assert operation.get("summary"), (method, path)
        assert operation.get("description"), (method, path)
        assert operation.get("tags"), (method, path)
        public = path.startswith(("/api/health", "/api/auth/"))
        assert operation.get("security", document["security"]) == (
            [] if public else [{"bearerAuth": []}]
        )
        if not public:
            assert {"401", "503"} <= set(operation["responses"]), (method, path)
        if "{user_id}" in path:
            assert {"403", "422"} <= set(operation["responses"]), (method, path)
        if "requestBody" in operation:
            assert {"400", "413", "415", "422"} <= set(operation["responses"]), (method, path)
        if "{task_id}" in path:
            assert "404" in operation["responses"], (method, path)


def test_create_links_reach_every_task_operation() -> None:
    spec = Spec()
    created = spec.operations()[("POST", "/api/{user_id}/tasks")]["responses"]["201"]
    linked = {link["operationId"] for link in created["links"].values()}
    task_operations = {"getTask", "replaceTask", "updateTask", "deleteTask", "completeTask"}
    assert linked == task_operations | {"listTaskChanges"}
    for link in created["links"].values():
        if link["operationId"] in task_operations:
            assert link["parameters"]["task_id"] == "$response.body#/id"
        assert link["parameters"]["user_id"] == "$request.path.user_id"
