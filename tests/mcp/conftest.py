"""One live server for the MCP tests, on a fresh database of its own (SQLite, or
PostgreSQL with TEST_DATABASE_URL). Each test uses users of its own, so none sees
another's tasks."""

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine

from backend.database.engine import normalise_url
from tests.databases import fresh_database
from tests.live_server import live_server
from tests.mcp.helpers import LiveMcp

# Small limits, so the tests can reach them: a quota (409) and a per-user share of one
# unit of work at a time that does not wait (429).
LIMITS = {"MAX_TASKS_PER_USER": "5", "USER_MAX_IN_FLIGHT": "1", "USER_WAIT_SECONDS": "0"}


@pytest.fixture(scope="session")
def live_mcp() -> Iterator[LiveMcp]:
    with fresh_database("tasks_mcp") as url, live_server(url, **LIMITS) as server:
        engine = create_engine(normalise_url(url))
        try:
            yield LiveMcp(server, engine)
        finally:
            engine.dispose()
