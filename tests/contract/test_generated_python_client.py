"""The Python client generated from openapi.yaml (openapi-python-client) against a LIVE server.

Self-sufficient, so `make test` runs it like any other test: session fixtures generate the
client into a temporary directory and import it, migrate a fresh database (tests/databases.py) and
start `uvicorn backend.main:app` on a free loopback port in a subprocess, and mint tokens with
`python -m backend token` under the same environment as the server. Every operation goes
through the generated code: its request building and its parsing of the documented responses.
"""

import importlib
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.databases import fresh_database
from tests.helpers import assert_problem
from tests.live_server import ROOT, LiveServer, backend, live_server

SPEC_PATH = ROOT / "openapi.yaml"
CLIENT_CONFIG = ROOT / "tests" / "clients" / "python" / "openapi-python-client.yaml"
PACKAGE = "task_api_client"
VENV_BIN = Path(sys.executable).parent


def _run(args: list[str], env: dict[str, str], cwd: Path) -> str:
    result = subprocess.run(
        args, env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout


def _venv_path_env() -> dict[str, str]:
    """The environment with this interpreter's bin first on PATH (pinned ruff for the
    generator's post-hooks)."""
    return {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The generated client package, freshly generated from openapi.yaml and imported."""
    generator = shutil.which("openapi-python-client", path=str(VENV_BIN))
    if generator is None:
        pytest.fail(
            f"openapi-python-client is not installed next to {sys.executable}: make install"
        )
    output = tmp_path_factory.mktemp("python-client") / "task-api-client"
    env = _venv_path_env()
    _run(
        [
            generator,
            "generate",
            "--path",
            str(SPEC_PATH),
            "--output-path",
            str(output),
            "--config",
            str(CLIENT_CONFIG),
            "--overwrite",
            "--fail-on-warning",
        ],
        env,
        output.parent,
    )
    assert (output / PACKAGE / "py.typed").is_file()
    sys.path.insert(0, str(output))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(output))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


@pytest.fixture(scope="session")
def server() -> Iterator[LiveServer]:
    """A real uvicorn process on a fresh database, stopped at the end."""
    with fresh_database("tasks_client") as database_url, live_server(database_url) as running:
        yield running


@pytest.fixture(scope="session")
def token(server: LiveServer) -> Callable[[str], str]:
    """token("alice"): a bearer token for that user, signed with the server's secret."""
    cache: dict[str, str] = {}

    def make(sub: str) -> str:
        if sub not in cache:
            cache[sub] = backend("token", "--sub", sub, env=server.env).stdout.strip()
        return cache[sub]

    return make


@pytest.fixture(scope="session")
def client_for(
    api: ModuleType, server: LiveServer, token: Callable[[str], str]
) -> Callable[[str], Any]:
    """client_for("alice"): the generated AuthenticatedClient with alice's token."""

    def make(sub: str) -> Any:
        return api.AuthenticatedClient(base_url=server.url, token=token(sub))

    return make


@pytest.fixture
def alice(client_for: Callable[[str], Any]) -> Any:
    return client_for("alice")


def _op(name: str) -> ModuleType:
    """An operation module of the generated client: _op("tasks.create_task")."""
    return importlib.import_module(f"{PACKAGE}.api.{name}")


def _models() -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.models")


def _create(client: Any, user: str, title: str, description: str | None = None) -> Any:
    models = _models()
    body = models.TaskCreate(title=title, description=description)
    response = _op("tasks.create_task").sync_detailed(user, client=client, body=body)
    assert response.status_code == 201, response.content
    assert isinstance(response.parsed, models.Task)
    return response.parsed


def _assert_parsed_problem(response: Any, status: int) -> Any:
    """A problem details response (tests.helpers.assert_problem), and the generated client's
    parse of it."""
    assert_problem(response, status)
    models = _models()
    problem = response.parsed
    assert isinstance(problem, models.Problem)
    assert problem.status == status
    assert problem.type_ == "about:blank"
    assert problem.title
    assert problem.detail
    return problem


# --------------------------------------------------------------------------- health


def test_health_and_readiness(api: ModuleType, server: LiveServer) -> None:
    models = _models()
    anonymous = api.Client(base_url=server.url)
    health = _op("health.get_health").sync_detailed(client=anonymous)
    assert health.status_code == 200
    assert isinstance(health.parsed, models.Health)
    assert health.parsed.status == "ok"
    ready = _op("health.get_readiness").sync_detailed(client=anonymous)
    assert ready.status_code == 200
    assert isinstance(ready.parsed, models.Readiness)
    assert (ready.parsed.status, ready.parsed.database) == ("ok", "ok")


# --------------------------------------------------------------------------- task lifecycle


def test_create_get_list_complete_replace_update_delete(alice: Any) -> None:
    models = _models()
    tasks = "tasks."

    created = _create(alice, "alice", "  Buy milk  ", "2 litres")
    assert created.title == "Buy milk"  # surrounding whitespace trimmed
    assert created.description == "2 litres"
    assert created.completed is False
    assert created.user_id == "alice"
    assert created.id >= 1
    assert created.created_at.utcoffset() == timedelta(0)
    assert created.updated_at == created.created_at

    fetched = _op(tasks + "get_task").sync_detailed("alice", created.id, client=alice)
    assert fetched.status_code == 200
    assert fetched.parsed == created

    listed = _op(tasks + "list_tasks").sync_detailed("alice", client=alice, limit=100)
    assert listed.status_code == 200
    assert isinstance(listed.parsed, models.TaskPage)
    assert created in listed.parsed.items
    assert (listed.parsed.limit, listed.parsed.offset) == (100, 0)

    complete = _op(tasks + "complete_task")
    toggled = complete.sync_detailed("alice", created.id, client=alice)  # no body: flips
    assert toggled.status_code == 200
    assert toggled.parsed.completed is True
    toggled_back = complete.sync_detailed("alice", created.id, client=alice)
    assert toggled_back.parsed.completed is False
    for _ in range(2):  # an explicit value is idempotent
        set_done = complete.sync_detailed(
            "alice", created.id, client=alice, body=models.TaskCompletion(completed=True)
        )
        assert set_done.status_code == 200
        assert set_done.parsed.completed is True

    # PUT replaces every editable field: the generated model requires them all.
    replaced = _op(tasks + "replace_task").sync_detailed(
        "alice",
        created.id,
        client=alice,
        body=models.TaskReplace(
            title="Buy oat milk",
            description=None,
            completed=True,
            priority=models.Priority.HIGH,
            tags=["shop"],
            due_at=None,
            recurrence=None,
        ),
    )
    assert replaced.status_code == 200
    assert isinstance(replaced.parsed, models.Task)
    assert (replaced.parsed.title, replaced.parsed.description) == ("Buy oat milk", None)
    assert (replaced.parsed.completed, replaced.parsed.tags) == (True, ["shop"])
    assert replaced.parsed.priority == models.Priority.HIGH
    assert replaced.parsed.created_at == created.created_at
    assert replaced.parsed.updated_at >= created.updated_at

    update = _op(tasks + "update_task")
    described = update.sync_detailed(
        "alice", created.id, client=alice, body=models.TaskPatch(description="oat, 1 litre")
    )
    assert described.status_code == 200
    assert (described.parsed.title, described.parsed.description) == (
        "Buy oat milk",
        "oat, 1 litre",
    )
    cleared = update.sync_detailed(
        "alice", created.id, client=alice, body=models.TaskPatch(description=None)
    )
    assert cleared.status_code == 200
    assert cleared.parsed.description is None  # null clears; absent fields keep their value
    assert cleared.parsed.title == "Buy oat milk"

    deleted = _op(tasks + "delete_task").sync_detailed("alice", created.id, client=alice)
    assert deleted.status_code == 204
    assert deleted.content == b""
    gone = _op(tasks + "get_task").sync_detailed("alice", created.id, client=alice)
    problem = _assert_parsed_problem(gone, 404)
    assert problem.instance == f"/api/alice/tasks/{created.id}"
    again = _op(tasks + "delete_task").sync_detailed("alice", created.id, client=alice)
    _assert_parsed_problem(again, 404)


def test_list_filters_and_pages(client_for: Callable[[str], Any]) -> None:
    models = _models()
    carol = client_for("carol")  # a user of her own: exact totals
    first = _create(carol, "carol", "first")
    second = _create(carol, "carol", "second")
    third = _create(carol, "carol", "third")
    done = _op("tasks.complete_task").sync_detailed("carol", second.id, client=carol)
    assert done.parsed.completed is True

    list_tasks = _op("tasks.list_tasks")
    everything = list_tasks.sync_detailed("carol", client=carol)
    assert everything.status_code == 200
    assert everything.parsed.total == 3
    assert [task.id for task in everything.parsed.items] == [third.id, second.id, first.id]

    pending = list_tasks.sync_detailed(
        "carol", client=carol, status=models.TaskStatusFilter.PENDING
    )
    assert [task.id for task in pending.parsed.items] == [third.id, first.id]
    assert pending.parsed.total == 2
    completed = list_tasks.sync_detailed(
        "carol", client=carol, status=models.TaskStatusFilter.COMPLETED
    )
    assert [task.id for task in completed.parsed.items] == [second.id]

    page = list_tasks.sync_detailed("carol", client=carol, limit=1, offset=1)
    assert page.status_code == 200
    assert [task.id for task in page.parsed.items] == [second.id]
    assert (page.parsed.total, page.parsed.limit, page.parsed.offset) == (3, 1, 1)


# --------------------------------------------------------------------------- error paths


def test_missing_token_is_401(api: ModuleType, server: LiveServer) -> None:
    anonymous = api.Client(base_url=server.url)
    response = _op("tasks.list_tasks").sync_detailed("alice", client=anonymous)
    _assert_parsed_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_malformed_token_is_401(api: ModuleType, server: LiveServer) -> None:
    client = api.AuthenticatedClient(base_url=server.url, token="not-a-jwt")
    response = _op("tasks.create_task").sync_detailed(
        "alice", client=client, body=_models().TaskCreate(title="never stored")
    )
    _assert_parsed_problem(response, 401)
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_token_signed_with_another_secret_is_401(api: ModuleType, server: LiveServer) -> None:
    env = {**server.env, "BETTER_AUTH_SECRET": secrets.token_urlsafe(36)}
    forged = backend("token", "--sub", "alice", env=env).stdout.strip()
    client = api.AuthenticatedClient(base_url=server.url, token=forged)
    response = _op("tasks.get_task").sync_detailed("alice", 1, client=client)
    _assert_parsed_problem(response, 401)
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_other_users_path_is_403(alice: Any) -> None:
    models = _models()
    listed = _op("tasks.list_tasks").sync_detailed("bob", client=alice)
    _assert_parsed_problem(listed, 403)
    created = _op("tasks.create_task").sync_detailed(
        "bob", client=alice, body=models.TaskCreate(title="not for bob")
    )
    _assert_parsed_problem(created, 403)
    patched = _op("tasks.update_task").sync_detailed(
        "bob", 1, client=alice, body=models.TaskPatch(title="x")
    )
    _assert_parsed_problem(patched, 403)


def test_missing_and_foreign_tasks_are_404(alice: Any, client_for: Callable[[str], Any]) -> None:
    models = _models()
    missing = _op("tasks.get_task").sync_detailed("alice", 9_000_000_000, client=alice)
    problem = _assert_parsed_problem(missing, 404)
    assert problem.instance == "/api/alice/tasks/9000000000"

    # Another user's task is reported exactly like a missing one.
    bob = client_for("bob")
    bobs = _create(bob, "bob", "bob's task")
    for response in (
        _op("tasks.get_task").sync_detailed("alice", bobs.id, client=alice),
        _op("tasks.replace_task").sync_detailed(
            "alice",
            bobs.id,
            client=alice,
            body=models.TaskReplace(
                title="mine now",
                description=None,
                completed=False,
                priority=models.Priority.LOW,
                tags=[],
                due_at=None,
                recurrence=None,
            ),
        ),
        _op("tasks.update_task").sync_detailed(
            "alice", bobs.id, client=alice, body=models.TaskPatch(completed=True)
        ),
        _op("tasks.complete_task").sync_detailed("alice", bobs.id, client=alice),
        _op("tasks.delete_task").sync_detailed("alice", bobs.id, client=alice),
    ):
        _assert_parsed_problem(response, 404)
    still_there = _op("tasks.get_task").sync_detailed("bob", bobs.id, client=bob)
    assert still_there.status_code == 200
    assert still_there.parsed == bobs


def test_invalid_body_is_422_with_parsed_errors(alice: Any) -> None:
    models = _models()
    response = _op("tasks.create_task").sync_detailed(
        "alice", client=alice, body=models.TaskCreate(title="   ")
    )
    problem = _assert_parsed_problem(response, 422)
    assert problem.errors, problem
    assert all(isinstance(item, models.ValidationErrorItem) for item in problem.errors)
    assert [(item.location.value, item.pointer) for item in problem.errors] == [("body", "/title")]
    assert problem.detail == "title: must not be blank"  # for a client that shows only detail


def test_idempotency_key_retries_create_once(alice: Any) -> None:
    models = _models()
    body = models.TaskCreate(title="Pay the electricity bill")
    key = f"python-client-{secrets.token_hex(8)}"
    create = _op("tasks.create_task")
    first = create.sync_detailed("alice", client=alice, body=body, idempotency_key=key)
    again = create.sync_detailed("alice", client=alice, body=body, idempotency_key=key)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.parsed == first.parsed
    other = create.sync_detailed(
        "alice", client=alice, body=models.TaskCreate(title="Else"), idempotency_key=key
    )
    assert other.status_code == 422
    assert other.parsed.type_ == "urn:task-api:problem:idempotency-key-reused"
    toggled = _op("tasks.complete_task").sync_detailed(
        "alice", first.parsed.id, client=alice, idempotency_key=key + "-toggle"
    )
    retried = _op("tasks.complete_task").sync_detailed(
        "alice", first.parsed.id, client=alice, idempotency_key=key + "-toggle"
    )
    assert toggled.parsed == retried.parsed
    assert retried.parsed.completed is True
