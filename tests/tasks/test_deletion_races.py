"""Task writes racing the account's deletion (DELETE /api/me with the same token): the loser
is told 401 (the account is gone), never 500 and never a 409 quota of a user that no
longer exists; nothing of the user is left behind. First the interleavings forced one at a
time, then the real race against a live server (SQLite, or PostgreSQL with
TEST_DATABASE_URL)."""

import threading
import uuid
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, text

from backend.database.engine import normalise_url
from backend.identity import users
from backend.identity.errors import TokenRevoked
from backend.identity.tokens import Identity
from backend.tasks import changes
from backend.tasks.fields import NewTask
from backend.tasks.quotas import Quotas
from tests.databases import fresh_database
from tests.helpers import assert_problem, auth, bearer, count_rows
from tests.live_server import LiveServer, live_server


@pytest.fixture
def deleted_after_the_check(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every user check passes, and then the account is gone: as if a DELETE /api/me
    committed between the check and the write."""
    checked = users.check_user

    def check_then_lose_the_user(
        connection: Connection, identity: Identity, *, lock: bool = False
    ) -> None:
        checked(connection, identity, lock=lock)
        connection.execute(text("DELETE FROM users WHERE id = :i"), {"i": identity.user_id})

    monkeypatch.setattr(users, "check_user", check_then_lose_the_user)


def test_a_create_whose_user_vanished_is_401_not_a_quota_409(
    client: TestClient, engine: Engine
) -> None:
    """The user checked, then gone before the create counts its task: as if a DELETE
    /api/me committed in between (a create checks the user in the statement that counts
    the task, so over HTTP this can only be forced here)."""
    assert client.get("/api/racer/tasks", headers=auth("racer")).status_code == 200
    user = users.UserCheck(Identity("racer"))
    with engine.begin() as connection:
        user.ensure(connection)
        connection.execute(text("DELETE FROM users WHERE id = 'racer'"))
        with pytest.raises(TokenRevoked):
            changes.create_task(connection, user, NewTask(title="t"), Quotas(10, 10))


def test_a_keyed_create_whose_user_vanished_is_401_not_a_500(
    client: TestClient, engine: Engine, deleted_after_the_check: None
) -> None:
    headers = {**auth("racer"), "Idempotency-Key": "k1"}
    response = client.post("/api/racer/tasks", json={"title": "t"}, headers=headers)
    assert_problem(response, 401)
    assert count_rows(engine, "idempotency_keys") == 0


# --- the real race ---

TRIALS = 12


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[tuple[LiveServer, Engine]]:
    with (
        fresh_database("tasks_deletion_race") as url,
        live_server(url, USER_MAX_IN_FLIGHT="50") as live,
    ):
        engine = create_engine(normalise_url(url))
        try:
            yield live, engine
        finally:
            engine.dispose()


def _race(live: LiveServer, user: str) -> Counter[tuple[str, int]]:
    """DELETE /api/me, a keyed create and two plain creates, released together."""
    headers = bearer(live.token(user))
    barrier = threading.Barrier(4)
    statuses: Counter[tuple[str, int]] = Counter()

    def send(kind: str) -> None:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            barrier.wait()
            if kind == "delete":
                response = http.delete("/api/me", headers=headers)
            else:
                key = {"Idempotency-Key": f"key-{user}"} if kind == "keyed" else {}
                response = http.post(
                    f"/api/{user}/tasks", json={"title": kind}, headers={**headers, **key}
                )
        statuses[kind, response.status_code] += 1

    threads = [
        threading.Thread(target=send, args=(k,)) for k in ("delete", "keyed", "plain", "plain")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


def test_writes_racing_the_accounts_deletion_are_201_or_401(
    server: tuple[LiveServer, Engine],
) -> None:
    live, engine = server
    statuses: Counter[tuple[str, int]] = Counter()
    for _ in range(TRIALS):
        user = f"racer-{uuid.uuid4().hex[:8]}"
        with httpx.Client(base_url=live.url, timeout=30) as http:
            # The account exists and has a task, so the deletion has work to do.
            created = http.post(
                f"/api/{user}/tasks", json={"title": "0"}, headers=bearer(live.token(user))
            )
            assert created.status_code == 201
        statuses += _race(live, user)
        for table, column in (
            ("tasks", "user_id"),
            ("idempotency_keys", "user_id"),
            ("users", "id"),
        ):
            assert count_rows(engine, table, f"{column} = :u", u=user) == 0, (table, statuses)
    assert statuses["delete", 204] == TRIALS, statuses
    assert {status for _, status in statuses} <= {201, 204, 401}, statuses
