"""The API in the shape a production deployment has: nginx (round robin) → two replicas →
PgBouncer in transaction mode (its default settings) → PostgreSQL. Everything a client can
rely on must hold across replicas: idempotent retries, cursors, the changes feed, sign-in
limits and device tokens, and who the client is. And the statement timeout must hold through
the pooler. `make test-deploy` (PgBouncer and nginx from Debian's packages; needs
TEST_DATABASE_URL)."""

import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from backend.database.engine import normalise_url
from tests.databases import fresh_database
from tests.deploy.stack import Stack, available, pgbouncer, stack
from tests.helpers import bearer
from tests.identity.helpers import PASSWORD, client_at, sign_in, sign_up
from tests.live_server import live_server
from tests.tasks.sync_helpers import follow_under_writers

pytestmark = pytest.mark.skipif(
    not (available() and os.environ.get("TEST_DATABASE_URL")),
    reason="needs pgbouncer and nginx (make deploy-tools) and TEST_DATABASE_URL",
)

PARALLEL = 10


@pytest.fixture(scope="module")
def deployed() -> Iterator[Stack]:
    with (
        fresh_database("tasks_deploy", migrate=False) as url,
        stack(url, USER_MAX_IN_FLIGHT="50", SIGNUP_MAX_PER_WINDOW="1000") as running,
    ):
        yield running


def all_at_once(count: int, call: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    barrier = threading.Barrier(count)

    def run(number: int) -> httpx.Response:
        barrier.wait()
        return call(number)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def sql(deployed: Stack, statement: str, **params: Any) -> Any:
    """One statement on the database directly (not through the API or the pooler)."""
    engine = create_engine(normalise_url(deployed.direct_url))
    try:
        with engine.begin() as connection:
            result = connection.execute(text(statement), params)
            return result.all() if result.returns_rows else None
    finally:
        engine.dispose()


def test_the_balancer_spreads_requests_over_both_replicas(deployed: Stack) -> None:
    headers = bearer(deployed.replicas[0].token("spread"))
    with client_at(deployed.balancer.url) as http:
        answers = [http.get("/api/spread/tasks", headers=headers) for _ in range(6)]
    assert {response.status_code for response in answers} == {200}
    assert len({response.headers["x-upstream"] for response in answers}) == 2


def test_idempotent_retries_split_across_replicas_create_once(deployed: Stack) -> None:
    headers = {**bearer(deployed.replicas[0].token("retry")), "Idempotency-Key": "order-1"}
    clients = [client_at(deployed.balancer.url) for _ in range(PARALLEL)]
    try:
        answers = all_at_once(
            PARALLEL,
            lambda n: clients[n].post("/api/retry/tasks", json={"title": "Pay"}, headers=headers),
        )
    finally:
        for http in clients:
            http.close()
    statuses = Counter(response.status_code for response in answers)
    assert set(statuses) <= {201, 409}, statuses  # 409: the first one was still running
    assert len({response.headers["x-upstream"] for response in answers}) == 2
    created = {response.json()["id"] for response in answers if response.status_code == 201}
    assert len(created) == 1
    assert sql(deployed, "SELECT count(*) FROM tasks WHERE user_id = 'retry'") == [(1,)]


def test_list_and_feed_cursors_made_on_one_replica_work_on_the_other(deployed: Stack) -> None:
    one, other = (server.url for server in deployed.replicas)
    headers = bearer(deployed.replicas[0].token("pager"))
    with httpx.Client(timeout=30) as http:
        for number in range(7):
            created = http.post(
                f"{one}/api/pager/tasks", json={"title": f"t{number}"}, headers=headers
            )
            assert created.status_code == 201
        seen: list[int] = []
        feed_seen: list[int] = []
        cursor, since = None, None
        for page_number in range(4):
            base = (one, other)[page_number % 2]  # every page from the other replica
            params: dict[str, Any] = {"limit": 2, "include_total": "false"}
            page = http.get(
                f"{base}/api/pager/tasks",
                params=params | ({"cursor": cursor} if cursor else {}),
                headers=headers,
            )
            assert page.status_code == 200, page.text
            seen += [task["id"] for task in page.json()["items"]]
            cursor = page.json()["next_cursor"]
            changes = http.get(
                f"{base}/api/pager/tasks/changes",
                params={"limit": 2} | ({"since": since} if since else {}),
                headers=headers,
            )
            assert changes.status_code == 200, changes.text
            feed_seen += [task["id"] for task in changes.json()["changes"]]
            since = changes.json()["cursor"]
        whole = http.get(f"{one}/api/pager/tasks", params={"limit": 100}, headers=headers).json()
    assert cursor is None
    assert seen == [task["id"] for task in whole["items"]]
    assert sorted(feed_seen) == sorted(seen)


def test_a_feed_follower_on_one_replica_ends_equal_to_the_list_under_writers_on_the_other(
    deployed: Stack,
) -> None:
    writers, reader = (f"{server.url}/api/follower/tasks" for server in deployed.replicas)
    headers = bearer(deployed.replicas[0].token("follower"))
    state, listed, errors = follow_under_writers(writers, reader, headers, writers=3)
    assert not errors, errors[:3]
    assert len(listed) > 3
    assert state == listed  # nothing missed, nothing resurrected, every task as it is now


def test_sign_in_limits_and_device_tokens_hold_across_replicas(deployed: Stack) -> None:
    one, other = (server.url for server in deployed.replicas)
    email = f"victim-{uuid.uuid4().hex[:8]}@example.com"
    with client_at(one, "127.0.0.2") as victim:
        device = sign_up(victim, email)["device_token"]
    with (
        client_at(one, "127.0.0.3") as attacker_one,
        client_at(other, "127.0.0.3") as attacker_other,
    ):
        # The email's 5 failures, spread over both replicas: the 6th is refused on either.
        failures = [
            sign_in((attacker_one, attacker_other)[n % 2], email, f"wrong guess {n}").status_code
            for n in range(5)
        ]
        assert failures == [401] * 5
        assert sign_in(attacker_one, email, "wrong guess 5").status_code == 429
        assert sign_in(attacker_other, email, PASSWORD).status_code == 429  # even the right one
    # The victim's device token, issued by one replica, is honoured by the other.
    with client_at(other, "127.0.0.2") as victim_other:
        assert sign_in(victim_other, email, PASSWORD, device_token=device).status_code == 200


def test_clients_behind_the_balancer_are_told_apart_by_their_own_address(
    deployed: Stack,
) -> None:
    email = f"someone-{uuid.uuid4().hex[:8]}@example.com"
    with client_at(deployed.balancer.url, "127.0.0.4") as http:
        sign_up(http, email)
    # 20 sign-in attempts per client address per minute (the default): a flood from one
    # machine, spread by the balancer over both replicas, is counted as one client…
    with client_at(deployed.balancer.url, "127.0.0.5") as flood:
        statuses = Counter(
            sign_in(flood, f"nobody{n}@example.com", "wrong guess").status_code for n in range(21)
        )
    assert statuses == Counter({401: 20, 429: 1}), statuses
    # …and another machine behind the same balancer is not refused with it.
    with client_at(deployed.balancer.url, "127.0.0.6") as other:
        assert sign_in(other, email, PASSWORD).status_code == 200
    keys = {row[0] for row in sql(deployed, "SELECT key FROM rate_limits")}
    assert any(key.endswith(":127.0.0.5") for key in keys), keys
    assert not any(key.endswith(":127.0.0.1") for key in keys), keys  # never the balancer


def test_the_statement_timeout_holds_through_the_pooler(deployed: Stack, tmp_path: Path) -> None:
    """A replica with a 25 ms statement timeout, on the pooled URL: an expensive search (a
    common word over 100,000 tasks, ~100 ms) is stopped by PostgreSQL (the documented
    query-timeout 503), an ordinary list (~1 ms a statement) still works."""
    sql(
        deployed,
        "INSERT INTO users (id, created_at, task_count, change_seq, feed_floor) "
        "VALUES ('heavy', now(), 100000, 0, 0)",
    )
    sql(
        deployed,
        "INSERT INTO tasks (user_id, title, description, completed, priority, tag_names, "
        "version, created_at, updated_at, change_seq) "
        "SELECT 'heavy', 'task number ' || n, 'a description of task ' || n, false, 2, '[]', "
        "1, now(), now(), 0 FROM generate_series(1, 100000) AS n",
    )
    log = tmp_path / "replica.log"
    env = {"BETTER_AUTH_SECRET": deployed.secret, "DB_STATEMENT_TIMEOUT_MS": "25"}
    with (
        live_server(deployed.pooled_url, migrate=False, log=log, **env) as replica,
        httpx.Client(base_url=replica.url, timeout=30) as http,
    ):
        started = time.monotonic()
        search = http.get(
            "/api/heavy/tasks",
            params={"q": "task", "sort": "title"},
            headers=bearer(replica.token("heavy")),
        )
        elapsed = time.monotonic() - started
        ordinary = http.get("/api/someone/tasks", headers=bearer(replica.token("someone")))
    assert search.status_code == 503, search.text
    assert search.json()["type"] == "urn:task-api:problem:query-timeout"
    assert search.headers["retry-after"]
    assert elapsed < 2
    assert ordinary.status_code == 200, ordinary.text
    logged = log.read_text()
    assert "unsupported startup parameter" not in logged
    assert "Traceback" not in logged


def test_a_pooler_that_refuses_the_database_is_named_in_one_start_up_line(
    deployed: Stack, tmp_path: Path
) -> None:
    log = tmp_path / "replica.log"
    # This pooler serves one other database only: it refuses ours ("no such database").
    with pgbouncer(deployed.direct_url, serves="some_other_database") as refusing:
        url = refusing.url(deployed.direct_url)
        env = {"BETTER_AUTH_SECRET": deployed.secret}
        with live_server(url, migrate=False, log=log, ready=False, **env) as replica:
            ready = httpx.get(f"{replica.url}/api/health/ready", timeout=30)
    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/problem+json"
    start_up = [line for line in log.read_text().splitlines() if "start-up:" in line]
    assert len(start_up) == 1, start_up
    assert "no such database" in start_up[0]
    assert "the pooler does not serve this database name" in start_up[0]
    assert "Traceback" not in log.read_text()
