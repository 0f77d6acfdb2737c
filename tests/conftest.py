"""Shared fixtures: a migrated database of the suite's own, an app on it, tokens.

The suite runs on a temporary SQLite file by default. With TEST_DATABASE_URL set to a
PostgreSQL server (e.g. postgresql://postgres@127.0.0.1:5432/test) it creates a database
of its own on that server, runs against it and drops it at the end (tests/databases.py).
"""

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import SQLModel

from backend.app import create_app
from tests.databases import fresh_database
from tests.helpers import auth, make_settings

# The real-browser tests need Chromium and node_modules: `make browser-test` runs them
# (BROWSER_TESTS=1); the deploy tests need PgBouncer, nginx and PostgreSQL: `make
# test-deploy` (DEPLOY_TESTS=1). `make test` collects neither.
collect_ignore = [
    folder
    for folder, switch in (("browser", "BROWSER_TESTS"), ("deploy", "DEPLOY_TESTS"))
    if os.environ.get(switch) != "1"
]


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


@pytest.fixture(scope="session")
def app(database_url: str) -> Iterator[FastAPI]:
    application = create_app(make_settings(database_url))
    yield application
    application.state.services.db.dispose()


@pytest.fixture(scope="session")
def engine(app: FastAPI) -> Engine:
    """The app's own engine, for asserting what is (not) stored."""
    return app.state.services.db.engine


@pytest.fixture(scope="session")
def session_client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def client(session_client: TestClient, engine: Engine) -> TestClient:
    """Every test starts from empty tables."""
    with engine.begin() as connection:
        for table in reversed(SQLModel.metadata.sorted_tables):  # children before parents
            connection.execute(table.delete())
    app: Any = session_client.app
    app.state.services.accounts.forget_known_blocks()  # the throttles were emptied above
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
