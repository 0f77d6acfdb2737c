"""Helpers for tests: settings, tokens, problem-details assertions, row counts.

Task-specific HTTP helpers are in tests/tasks/helpers.py, token-building ones for the
identity tests in tests/identity/helpers.py."""

import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jose import jwt
from sqlalchemy import Engine, text

from backend.config import Settings

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-secret-" + secrets.token_hex(24)

# The make_task fixture (conftest.py): creates a task through the API, returns its body.
MakeTask = Callable[..., dict[str, Any]]

# Every property of the contract's Task, each always present in a response.
TASK_FIELDS = {
    "id",
    "user_id",
    "title",
    "description",
    "completed",
    "completed_at",
    "priority",
    "tags",
    "due_at",
    "recurrence",
    "next_occurrence_id",
    "etag",
    "created_at",
    "updated_at",
}


# A PUT body carries every editable field (the contract's TaskReplace requires them all):
# these are a new task's values.
REPLACEMENT_DEFAULTS: dict[str, Any] = {
    "description": None,
    "completed": False,
    "priority": "medium",
    "tags": [],
    "due_at": None,
    "recurrence": None,
}


def replacement(title: str = "x", **fields: Any) -> dict[str, Any]:
    """A complete PUT body: `title`, `fields`, and a new task's values for the others."""
    return {"title": title, **REPLACEMENT_DEFAULTS, **fields}


def make_settings(database_url: str, **overrides: Any) -> Settings:
    # Every request of a TestClient comes from one client address: the per-client sign-in
    # rate would limit the suite itself (the tests of that limit set it themselves).
    values: dict[str, Any] = {
        "database_url": database_url,
        "better_auth_secret": SECRET,
        "signin_max_per_client_per_minute": 10_000,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]  # ignore a developer's .env


def now() -> int:
    """The current time as a JWT NumericDate."""
    return int(time.time())


def claims_for(sub: Any = "alice", **claims: Any) -> dict[str, Any]:
    """A token's claims: sub, iat and exp (in 10 minutes) unless overridden; pass a claim as
    None to leave it out."""
    issued = now()
    payload: dict[str, Any] = {"sub": sub, "iat": issued, "exp": issued + 600, **claims}
    return {k: v for k, v in payload.items() if v is not None}


def token_for(
    sub: Any = "alice", *, key: str = SECRET, algorithm: str = "HS256", **claims: Any
) -> str:
    """A token with sensible defaults (claims_for), signed with the suite's secret."""
    return jwt.encode(claims_for(sub, **claims), key, algorithm=algorithm)


def bearer(token: str) -> dict[str, str]:
    """The Authorization header that sends `token`."""
    return {"Authorization": f"Bearer {token}"}


def auth(sub: str = "alice", **claims: Any) -> dict[str, str]:
    return bearer(token_for(sub, **claims))


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """An RFC 9457 problem details response with the given status (any response with
    status_code, headers and content: TestClient's, httpx's, a generated client's)."""
    assert response.status_code == status, response.content
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = json.loads(response.content)
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert isinstance(body["title"], str)
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


def count_rows(engine: Engine, table: str, where: str = "1=1", **params: Any) -> int:
    with engine.connect() as connection:
        return connection.execute(
            text(f"SELECT count(*) FROM {table} WHERE {where}"),  # noqa: S608  (test-only, literal args)
            params,
        ).scalar_one()
