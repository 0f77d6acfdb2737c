"""Helpers for tests: settings, tokens, problem-details assertions, row counts."""

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


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": database_url, "better_auth_secret": SECRET}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]  # ignore a developer's .env


def token_for(
    sub: Any = "alice", *, key: str = SECRET, algorithm: str = "HS256", **claims: Any
) -> str:
    """A token with sensible defaults; pass a claim as None to leave it out."""
    now = int(time.time())
    payload: dict[str, Any] = {"sub": sub, "iat": now, "exp": now + 600}
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key, algorithm=algorithm)


def auth(sub: str = "alice", **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(sub, **claims)}"}


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """An RFC 9457 problem details response with the given status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
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
