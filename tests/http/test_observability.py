"""Request ids, the per-request log line, /metrics, and the statement timeout."""

import asyncio
import json
import logging
import time

import pytest
from fastapi.testclient import TestClient
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy import make_url, text

from backend.app import create_app
from backend.database.engine import is_sqlite, normalise_url
from backend.database.errors import DatabaseUnavailable, QueryTimeout
from tests.helpers import assert_problem, auth, bearer, make_settings, token_for


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    ids = set()
    for response in (
        client.get("/api/health"),
        client.get("/api/alice/tasks", headers=auth("alice")),
        client.get("/api/alice/tasks"),  # 401
        client.get("/nowhere"),  # 404
        client.put("/api/alice/tasks"),  # 405
    ):
        request_id = response.headers["x-request-id"]
        assert len(request_id) == 32
        int(request_id, 16)
        ids.add(request_id)
    assert len(ids) == 5


def test_a_well_formed_client_request_id_is_kept(client: TestClient) -> None:
    response = client.get("/api/health", headers={"X-Request-ID": "trace-42.abc_DEF:1"})
    assert response.headers["x-request-id"] == "trace-42.abc_DEF:1"


@pytest.mark.parametrize("bad", ["a" * 129, "has space", "caf\u00e9", "<script>"])
def test_a_malformed_client_request_id_is_replaced(client: TestClient, bad: str) -> None:
    response = client.get("/api/health", headers={"X-Request-ID": bad.encode()})
    assert response.headers["x-request-id"] != bad
    assert len(response.headers["x-request-id"]) == 32


def test_one_log_line_per_request_with_route_template_and_user(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    token = token_for("alice")
    body = {"title": "secret plans", "description": "do not log me"}
    with caplog.at_level(logging.INFO, logger="backend.access"):
        response = client.post(
            "/api/alice/tasks",
            json=body,
            headers={**bearer(token), "X-Request-ID": "req-1"},
        )
        client.get(f"/api/alice/tasks/{response.json()['id']}", headers=auth("alice"))
    records = [r for r in caplog.records if r.name == "backend.access"]
    assert len(records) == 2
    first = records[0]
    assert first.method == "POST"
    assert first.route == "/api/{user_id}/tasks"
    assert first.status == 201
    assert first.request_id == "req-1"
    assert first.user_id == "alice"
    assert first.duration_ms >= 0
    assert records[1].route == "/api/{user_id}/tasks/{task_id}"
    rendered = JsonFormatter("%(message)s").format(first)
    line = json.loads(rendered)
    assert line["route"] == "/api/{user_id}/tasks"
    assert line["status"] == 201
    everything = " ".join(str(v) for r in records for v in vars(r).values())
    for secret in (token, "secret plans", "do not log me"):
        assert secret not in everything


def test_unauthenticated_requests_are_logged_without_user(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="backend.access"):
        client.get("/api/alice/tasks", headers={"Authorization": "Bearer nope"})
        client.get("/does/not/exist")
    records = [r for r in caplog.records if r.name == "backend.access"]
    assert [(r.route, r.status) for r in records] == [
        ("/api/{user_id}/tasks", 401),
        ("unmatched", 404),
    ]
    assert not hasattr(records[0], "user_id")


def test_metrics_are_off_by_default(client: TestClient) -> None:
    assert_problem(client.get("/metrics"), 404)


def test_metrics_when_enabled(database_url: str) -> None:
    app = create_app(make_settings(database_url, metrics_enabled=True))
    with TestClient(app) as client:
        client.get("/api/alice/tasks", headers=auth("alice"))
        client.get("/api/alice/tasks", headers=auth("alice"))
        response = client.get("/metrics")
    app.state.services.db.dispose()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    metrics = response.text
    line = 'http_requests_total{method="GET",route="/api/{user_id}/tasks",status="200"}'
    counted = [ln for ln in metrics.splitlines() if ln.startswith(line)]
    assert counted
    assert float(counted[0].split()[-1]) >= 2
    assert "http_request_duration_seconds_bucket" in metrics
    assert "db_pool_connections_in_use" in metrics
    assert "/metrics" not in app.openapi()["paths"]


@pytest.mark.parametrize("read_only", [False, True])
@pytest.mark.parametrize("driver", ["psycopg2", "psycopg"])
def test_statement_timeout_bounds_every_query(
    database_url: str, driver: str, read_only: bool
) -> None:
    """On both drivers: psycopg 3 cannot send the SET LOCAL in front of the statement, so
    its reads must not run in autocommit, where the setting would end before the query."""
    if is_sqlite(database_url):
        pytest.skip("a statement timeout is a PostgreSQL setting: runs with TEST_DATABASE_URL")
    url = make_url(normalise_url(database_url)).set(drivername=f"postgresql+{driver}")
    settings = make_settings(url.render_as_string(hide_password=False), db_statement_timeout_ms=300)
    app = create_app(settings)
    started = time.monotonic()
    with pytest.raises(QueryTimeout) as timeout:
        asyncio.run(
            app.state.services.db.core_unit(
                lambda c: c.execute(text("SELECT pg_sleep(5)")), read_only=read_only
            )
        )
    assert time.monotonic() - started < 2
    # Its own problem type, apart from "database unavailable": the request asked too much.
    assert not isinstance(timeout.value, DatabaseUnavailable)
    assert timeout.value.status == 503
    assert timeout.value.type == "urn:task-api:problem:query-timeout"
    assert timeout.value.headers["Retry-After"]
    app.state.services.db.dispose()


def test_a_unit_of_work_past_its_deadline_is_a_503(database_url: str) -> None:
    """A frozen database keeps the connection open and never answers: the request gets
    503 at the deadline instead of hanging (the work itself is simulated by a sleep)."""
    app = create_app(make_settings(database_url, db_request_deadline_seconds=0.5))
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable):
        asyncio.run(app.state.services.db.orm_unit(lambda _session: time.sleep(2)))
    assert time.monotonic() - started < 1.5
    app.state.services.db.dispose()
