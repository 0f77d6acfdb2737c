"""Shared fixtures: a migrated database of the suite's own, an app on it, tokens.

The suite runs on a temporary SQLite file by default. With TEST_DATABASE_URL set to a
PostgreSQL server (e.g. postgresql://postgres@127.0.0.1:5432/test) it creates a database
of its own on that server, runs against it and drops it at the end.
"""

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from backend.app import create_app
from backend.db import normalise_url
from backend.migrate import upgrade
from tests.helpers import auth, make_settings


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server_url = os.environ.get("TEST_DATABASE_URL")
    if not server_url:
        path: Path = tmp_path_factory.mktemp("db") / "tasks.db"
        url = f"sqlite:///{path}"
        upgrade(url)
        yield url
        return
    server = make_url(normalise_url(server_url))
    name = f"tasks_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def app(database_url: str) -> Iterator[FastAPI]:
    application = create_app(make_settings(database_url))
    yield application
    application.state.db.dispose()


@pytest.fixture(scope="session")
def engine(app: FastAPI) -> Engine:
    """The app's own engine, for asserting what is (not) stored."""
    return app.state.db.engine


@pytest.fixture(scope="session")
def session_client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def client(session_client: TestClient, engine: Engine) -> TestClient:
    """Every test starts from empty tables."""
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM tasks"))
        connection.execute(text("DELETE FROM users"))
    return session_client


@pytest.fixture
def make_task(client: TestClient) -> Callable[..., dict[str, Any]]:
    def _make(user: str = "alice", title: str = "Buy milk", **fields: Any) -> dict[str, Any]:
        response = client.post(
            f"/api/{user}/tasks", json={"title": title, **fields}, headers=auth(user)
        )
        assert response.status_code == 201, response.text
        return response.json()

    return _make
