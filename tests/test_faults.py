"""Faults that must never be a 500: concurrent account deletion, a client that leaves in
the middle of its body, absurd token claims, loose task ids; and operations: readiness on
an unmigrated database, every log line in JSON with its request id, one-line errors for a
database that is not there, each user's bounded share of the database."""

import json
import socket
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from backend.app import create_app
from backend.database.engine import is_sqlite, normalise_url
from tests.databases import fresh_database
from tests.helpers import assert_problem, auth, bearer, make_settings
from tests.identity.helpers import b64json, b64url
from tests.live_server import LiveServer, backend, live_server, server_env


def test_concurrent_account_deletions_with_one_token(database_url: str) -> None:
    with fresh_database("tasks_faults") as url, _server(url) as (server, _log):
        server_url, token = server.url, server.token("doomed")
        httpx.post(f"{server_url}/api/doomed/tasks", json={"title": "x"}, headers=bearer(token))
        barrier = threading.Barrier(8)
        statuses: list[int] = []

        def delete() -> None:
            with httpx.Client(base_url=server_url, timeout=30) as client:
                barrier.wait()
                statuses.append(client.delete("/api/me", headers=bearer(token)).status_code)

        threads = [threading.Thread(target=delete) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    counts = Counter(statuses)
    assert counts[204] == 1, counts
    assert set(counts) <= {204, 401, 404}, counts


def test_a_client_that_leaves_mid_body_is_one_log_line(database_url: str) -> None:
    with fresh_database("tasks_faults") as url, _server(url) as (server, log):
        server_url, port = server.url, server.port
        with socket.create_connection(("127.0.0.1", port)) as raw:
            raw.sendall(
                b"POST /api/auth/sign-in HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                b"\r\nContent-Length: 100\r\n\r\n" + b'{"email": "a@'
            )
            time.sleep(0.3)
        time.sleep(0.5)
        httpx.get(f"{server_url}/api/health")  # the server goes on
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    gone = [line for line in lines if "client disconnected" in line["message"]]
    assert len(gone) == 1, lines
    assert not any("Traceback" in json.dumps(line) for line in lines)
    assert not any(line.get("status") == 500 for line in lines), lines


def test_every_log_line_is_json_with_its_request_id(database_url: str) -> None:
    with fresh_database("tasks_faults") as url, _server(url) as (server, log):
        server_url = server.url
        answer = httpx.get(f"{server_url}/api/me", headers={"X-Request-ID": "probe-1234"})
        assert answer.status_code == 401
        httpx.get(f"{server_url}/api/health/ready", headers={"X-Request-ID": "probe-5678"})
        time.sleep(0.3)
        text = log.read_text()
        everything = log.read_text(from_start=True)
    every = [json.loads(line) for line in everything.splitlines() if line.strip()]  # all JSON
    assert any(line["name"].startswith("uvicorn") for line in every)  # uvicorn's own too
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    access = [line for line in lines if line["name"] == "backend.access"]
    assert {line["request_id"] for line in access} == {"probe-1234", "probe-5678"}
    assert len(access) == 2  # one line per request: uvicorn's access log is off
    assert "user_id" not in text.split("probe-1234")[0]  # nothing bound leaks before it


_LATER = int(time.time()) + 600
_DEEP = "[" * 5000 + "1" + "]" * 5000


@pytest.mark.parametrize(
    "claims",
    [
        '{"sub":"alice","exp":1e400}',
        '{"sub":"alice","exp":-1e400}',
        '{"sub":"alice","exp":1' + "0" * 400 + "}",
        f'{{"sub":"alice","exp":{_LATER},"iat":1e400}}',
        f'{{"sub":"alice","exp":{_LATER},"iat":-1e400}}',
        f'{{"sub":"alice","exp":{_LATER},"nbf":1e400}}',
        f'{{"sub":"alice","exp":{_LATER},"x":{_DEEP}}}',
    ],
)
def test_absurd_claims_in_a_validly_signed_token_are_401(client: TestClient, claims: str) -> None:
    import hashlib
    import hmac

    from tests.helpers import SECRET

    signing_input = f"{b64json({'alg': 'HS256', 'typ': 'JWT'})}.{b64url(claims.encode())}"
    signature = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64url(signature)}"
    assert_problem(client.get("/api/alice/tasks", headers=bearer(token)), 401)


@pytest.mark.parametrize("task_id", ["+3", "%203", "03", "1_0", "3.0", "0x3", "\uff13"])
def test_task_ids_are_canonical_decimal(client: TestClient, task_id: str) -> None:
    for _ in range(3):
        client.post("/api/alice/tasks", json={"title": "t"}, headers=auth())
    response = client.get(f"/api/alice/tasks/{task_id}", headers=auth())
    body = assert_problem(response, 422)
    assert body["errors"][0]["pointer"] == "/task_id"


def test_readiness_needs_the_schema_at_the_migrations_head() -> None:
    with fresh_database("tasks_unmigrated", migrate=False) as url:
        app = create_app(make_settings(url))
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.get("/api/health/ready")
            body = assert_problem(response, 503)
            assert "make migrate" in body["detail"]
            assert response.headers["retry-after"]
            assert client.get("/api/health").status_code == 200
        app.state.services.db.dispose()


def test_a_database_that_is_not_there_is_one_line(database_url: str, tmp_path: Path) -> None:
    if is_sqlite(database_url):
        missing = f"sqlite:///{tmp_path}/not-a-dir.db/tasks.db"
        (tmp_path / "not-a-dir.db").write_text("a file, not a folder")
        expected = "error: "
    else:
        missing = (
            make_url(normalise_url(database_url))
            .set(database="no_such_database_here")
            .render_as_string(hide_password=False)
        )
        expected = 'error: database "no_such_database_here" does not exist'
    done = backend("migrate", env=server_env(missing), check=False)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(expected), lines
    if not is_sqlite(database_url):
        assert "createdb" in lines[0]


def test_each_user_has_a_bounded_share_of_the_database(
    client: TestClient, database_url: str
) -> None:
    app = create_app(make_settings(database_url, user_max_in_flight=1, user_wait_seconds=0.2))
    with TestClient(app, raise_server_exceptions=False) as own:
        shares = app.state.services.db.admission.shares
        held = own.portal.call(shares.acquire, "alice")  # one unit of work of alice's running
        try:
            started = time.monotonic()
            response = own.get("/api/alice/tasks", headers=auth())
            waited = time.monotonic() - started
            assert_problem(response, 429)
            assert response.headers["retry-after"] == "1"
            assert 0.2 <= waited < 2
            assert own.get("/api/bob/tasks", headers=auth("bob")).status_code == 200
        finally:
            shares.release("alice", held)
        assert own.get("/api/alice/tasks", headers=auth()).status_code == 200
    app.state.services.db.dispose()


# --- a live server whose log is kept ---


@dataclass(frozen=True)
class _Log:
    """A server's log file from the moment it was ready: what follows is the test's."""

    path: Path
    start: int

    def read_text(self, *, from_start: bool = False) -> str:
        with self.path.open("rb") as handle:
            handle.seek(0 if from_start else self.start)
            return handle.read().decode()


@contextmanager
def _server(database_url: str) -> Iterator[tuple[LiveServer, _Log]]:
    """`python -m backend serve` on a free port with JSON logs (LOG_LEVEL info) into a file."""
    with tempfile.TemporaryDirectory(prefix="faults_") as directory:
        log = Path(directory) / "server.log"
        with live_server(database_url, log=log, LOG_LEVEL="info", LOG_FORMAT="json") as server:
            time.sleep(0.3)  # the readiness probe's own log line is written
            yield server, _Log(log, log.stat().st_size)
