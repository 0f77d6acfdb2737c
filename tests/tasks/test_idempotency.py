"""Idempotency-Key on the task writes (backend.idempotency): a retry with the same
key gets the first answer again and changes nothing; another request with the key is 422,
a retry while the first request runs 409; a failed write keeps no key; keys expire."""

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, insert, text, update

from backend.app import create_app
from backend.clock import utcnow
from backend.idempotency import store as idempotency
from backend.idempotency.store import Answer, Claim, Keys
from backend.tables import IdempotencyRecord
from tests.helpers import MakeTask, auth, count_rows, make_settings, replacement
from tests.tasks.helpers import LiveApi, get_task, live_api, stored_task, task_url

REUSED = "urn:task-api:problem:idempotency-key-reused"
IN_FLIGHT = "urn:task-api:problem:idempotency-key-in-flight"
REPLAYED = "idempotent-replayed"


def new_key() -> str:
    return str(uuid.uuid4())


def keyed(key: str, user: str = "alice", **headers: str) -> dict[str, str]:
    return {**auth(user), "Idempotency-Key": key, **headers}


def assert_typed_problem(response: Any, status: int, problem_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert (body["status"], body["type"]) == (status, problem_type)
    assert body["detail"]
    return body


def assert_replayed(first: Any, again: Any) -> None:
    """`again` is `first` kept and sent once more: same status, body and headers."""
    assert REPLAYED not in first.headers
    assert again.headers[REPLAYED] == "true"
    assert again.status_code == first.status_code
    assert again.content == first.content
    for header in ("etag", "location", "content-type"):
        assert again.headers.get(header) == first.headers.get(header), header


def keys_stored(engine: Engine, user: str = "alice") -> int:
    return count_rows(engine, "idempotency_keys", "user_id = :u", u=user)


def set_key_times(engine: Engine, key: str | None = None, **times: Any) -> None:
    """Move a stored key's created_at / expires_at (every key's without `key`)."""
    statement = update(IdempotencyRecord).values(**times)
    if key is not None:
        statement = statement.where(IdempotencyRecord.key == key)  # type: ignore[arg-type]
    with engine.begin() as connection:
        connection.execute(statement)


# --- retries get the first answer ------------------------------------------------------------


def test_a_retried_create_creates_one_task(client: TestClient, engine: Engine) -> None:
    key = new_key()
    body = {"title": "Buy milk", "tags": ["groceries"]}
    first = client.post("/api/alice/tasks", json=body, headers=keyed(key))
    assert first.status_code == 201
    again = client.post("/api/alice/tasks", json=body, headers=keyed(key))
    assert_replayed(first, again)
    assert again.headers["location"] == f"/api/alice/tasks/{first.json()['id']}"
    assert count_rows(engine, "tasks") == 1
    assert count_rows(engine, "users", "task_count = 1") == 1  # the quota counted it once
    # Without a key, the same body is another task.
    assert client.post("/api/alice/tasks", json=body, headers=auth()).status_code == 201
    assert count_rows(engine, "tasks") == 2


def test_a_retried_toggle_toggles_once(
    client: TestClient, engine: Engine, make_task: MakeTask
) -> None:
    task = make_task()
    key = new_key()
    first = client.patch(task_url(task, "/complete"), headers=keyed(key))  # no body: a toggle
    assert first.status_code == 200
    assert first.json()["completed"] is True
    for _ in range(3):
        again = client.patch(task_url(task, "/complete"), headers=keyed(key))
        assert_replayed(first, again)
    assert stored_task(engine, task["id"]) == ("Buy milk", True)
    assert get_task(client, task)["etag"] == first.headers["etag"]


def test_a_retried_toggle_of_a_recurring_task_creates_one_occurrence(
    client: TestClient, engine: Engine, make_task: MakeTask
) -> None:
    task = make_task(recurrence={"frequency": "daily"})
    key = new_key()
    first = client.patch(task_url(task, "/complete"), headers=keyed(key))
    again = client.patch(task_url(task, "/complete"), headers=keyed(key))
    assert_replayed(first, again)
    assert count_rows(engine, "tasks") == 2


@pytest.mark.parametrize(
    ("method", "suffix", "body", "status"),
    [
        ("PUT", "", replacement("Buy oat milk", completed=True), 200),
        ("PATCH", "", {"description": None}, 200),
        ("PATCH", "/complete", {"completed": True}, 200),
        ("DELETE", "", None, 204),
    ],
)
def test_replace_update_complete_and_delete_are_replayed(
    client: TestClient,
    engine: Engine,
    make_task: MakeTask,
    method: str,
    suffix: str,
    body: Any,
    status: int,
) -> None:
    task = make_task(description="2 litres")
    key = new_key()
    headers = keyed(key, **{"If-Match": task["etag"]})

    def send() -> Any:
        return client.request(method, task_url(task, suffix), json=body, headers=headers)

    first = send()
    assert first.status_code == status, first.text
    again = send()
    # The If-Match is stale by now and the task may be gone: the kept answer all the same.
    assert_replayed(first, again)
    if status == 204:
        assert again.content == b""
        assert count_rows(engine, "tasks") == 0
        assert count_rows(engine, "users", "task_count = 0") == 1  # given back once
    else:
        second_version = f'"{task["id"]}.2"'
        assert get_task(client, task)["etag"] == first.headers["etag"] == second_version


def test_a_replay_is_the_first_answer_even_after_later_changes(
    client: TestClient, make_task: MakeTask
) -> None:
    task = make_task()
    key = new_key()
    first = client.patch(task_url(task), json={"title": "Renamed"}, headers=keyed(key))
    client.patch(task_url(task), json={"title": "Renamed again"}, headers=auth())
    client.delete(task_url(task), headers=auth())
    again = client.patch(task_url(task), json={"title": "Renamed"}, headers=keyed(key))
    assert_replayed(first, again)
    assert again.json()["title"] == "Renamed"


# --- the key belongs to one request of one user ----------------------------------------------


def test_the_same_key_with_another_body_is_422(
    client: TestClient, engine: Engine, make_task: MakeTask
) -> None:
    key = new_key()
    assert client.post("/api/alice/tasks", json={"title": "A"}, headers=keyed(key)).status_code == (
        201
    )
    other = client.post("/api/alice/tasks", json={"title": "B"}, headers=keyed(key))
    assert_typed_problem(other, 422, REUSED)
    assert REPLAYED not in other.headers
    assert count_rows(engine, "tasks") == 1
    # The same JSON spelled differently is another body too: the fingerprint is of the bytes.
    spaced = client.post(
        "/api/alice/tasks",
        content=b'{"title":  "A"}',
        headers={**keyed(key), "Content-Type": "application/json"},
    )
    assert_typed_problem(spaced, 422, REUSED)
    # A set completion and a toggle are different requests.
    task = make_task()
    toggle_key = new_key()
    assert client.patch(task_url(task, "/complete"), headers=keyed(toggle_key)).status_code == 200
    set_done = client.patch(
        task_url(task, "/complete"), json={"completed": True}, headers=keyed(toggle_key)
    )
    assert_typed_problem(set_done, 422, REUSED)


def test_the_same_key_on_another_path_or_method_is_422(
    client: TestClient, make_task: MakeTask
) -> None:
    one, two = make_task(title="One"), make_task(title="Two")
    key = new_key()
    body = {"title": "Same change"}
    assert client.patch(task_url(one), json=body, headers=keyed(key)).status_code == 200
    assert_typed_problem(client.patch(task_url(two), json=body, headers=keyed(key)), 422, REUSED)
    replace = client.put(task_url(one), json=replacement("Same change"), headers=keyed(key))
    assert_typed_problem(replace, 422, REUSED)
    assert_typed_problem(client.delete(task_url(one), headers=keyed(key)), 422, REUSED)
    assert get_task(client, two)["title"] == "Two"
    assert get_task(client, one)["title"] == "Same change"


def test_keys_are_per_user(client: TestClient, engine: Engine) -> None:
    key = new_key()
    body = {"title": "Buy milk"}
    alice = client.post("/api/alice/tasks", json=body, headers=keyed(key, "alice"))
    bob = client.post("/api/bob/tasks", json=body, headers=keyed(key, "bob"))
    assert alice.status_code == bob.status_code == 201
    assert REPLAYED not in bob.headers
    assert bob.json()["id"] != alice.json()["id"]
    # And another body is no reuse for a user who never sent the key.
    carol = client.post("/api/carol/tasks", json={"title": "Else"}, headers=keyed(key, "carol"))
    assert carol.status_code == 201
    assert count_rows(engine, "tasks") == 3
    assert keys_stored(engine, "alice") == keys_stored(engine, "bob") == 1


@pytest.mark.parametrize(
    "key",
    [
        "",
        " leading-space",
        "trailing-space ",
        "tab\tinside",
        "x" * 256,
        "caf\xe9".encode("latin-1"),  # not ASCII
        b"\x7f",
    ],
    ids=["empty", "leading-space", "trailing-space", "tab", "too-long", "latin-1", "del"],
)
def test_malformed_keys_are_422(client: TestClient, engine: Engine, key: str | bytes) -> None:
    response = client.post(
        "/api/alice/tasks", json={"title": "x"}, headers={**auth(), "Idempotency-Key": key}
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["type"] == "about:blank"
    assert [(e["location"], e["pointer"]) for e in body["errors"]] == [
        ("header", "/Idempotency-Key")
    ]
    assert count_rows(engine, "tasks") == 0
    assert count_rows(engine, "idempotency_keys") == 0


@pytest.mark.parametrize("key", ["a", "x" * 255, "with inner spaces", '"sf-string"', "!~{}[]"])
def test_well_formed_keys_are_taken(client: TestClient, key: str) -> None:
    first = client.post("/api/alice/tasks", json={"title": "x"}, headers=keyed(key))
    assert first.status_code == 201, first.text
    assert_replayed(first, client.post("/api/alice/tasks", json={"title": "x"}, headers=keyed(key)))


def test_keys_are_checked_after_the_token(client: TestClient) -> None:
    response = client.post("/api/alice/tasks", json={"title": "x"}, headers={"Idempotency-Key": ""})
    assert response.status_code == 401
    forbidden = client.post("/api/bob/tasks", json={"title": "x"}, headers=keyed(new_key()))
    assert forbidden.status_code == 403


def test_an_invalid_body_claims_no_key(client: TestClient, engine: Engine) -> None:
    key = new_key()
    invalid = client.post("/api/alice/tasks", json={"title": "   "}, headers=keyed(key))
    assert invalid.status_code == 422
    assert count_rows(engine, "idempotency_keys") == 0
    fixed = client.post("/api/alice/tasks", json={"title": "Fixed"}, headers=keyed(key))
    assert fixed.status_code == 201
    assert REPLAYED not in fixed.headers


# --- in flight, abandoned ------------------------------------------------------------------


def hold_claim(client: TestClient, engine: Engine, key: str, body: bytes, age_s: float) -> None:
    """alice's in_flight claim of `key` for POST /api/alice/tasks with `body`, as a request
    that is still running (or died) leaves it, made `age_s` seconds ago."""
    assert client.get("/api/alice/tasks", headers=auth()).status_code == 200  # alice exists
    claimed_at = utcnow() - timedelta(seconds=age_s)
    with engine.begin() as connection:
        connection.execute(
            insert(IdempotencyRecord).values(
                user_id="alice",
                key=key,
                fingerprint=idempotency.fingerprint("POST", "/api/alice/tasks", body),
                state=idempotency.IN_FLIGHT,
                created_at=claimed_at,
                expires_at=claimed_at + timedelta(days=1),
            )
        )


def test_a_retry_while_the_first_request_runs_is_409(client: TestClient, engine: Engine) -> None:
    key = new_key()
    body = b'{"title":"Buy milk"}'
    hold_claim(client, engine, key, body, age_s=1)
    retry = client.post(
        "/api/alice/tasks",
        content=body,
        headers={**keyed(key), "Content-Type": "application/json"},
    )
    assert_typed_problem(retry, 409, IN_FLIGHT)
    assert retry.headers["retry-after"] == "1"
    assert count_rows(engine, "tasks") == 0
    # Another request with that key is still a reuse (422), in flight or not.
    other = client.post("/api/alice/tasks", json={"title": "Other"}, headers=keyed(key))
    assert_typed_problem(other, 422, REUSED)
    assert keys_stored(engine) == 1  # the running request's claim is untouched


def test_a_claim_abandoned_by_a_crashed_request_is_taken_over(
    client: TestClient, engine: Engine
) -> None:
    key = new_key()
    body = b'{"title":"Buy milk"}'
    age = idempotency.LEASE.total_seconds() + 1
    hold_claim(client, engine, key, body, age_s=age)
    headers = {**keyed(key), "Content-Type": "application/json"}
    first = client.post("/api/alice/tasks", content=body, headers=headers)
    assert first.status_code == 201, first.text
    assert REPLAYED not in first.headers
    assert_replayed(first, client.post("/api/alice/tasks", content=body, headers=headers))
    assert count_rows(engine, "tasks") == 1


def test_a_write_whose_claim_was_taken_over_is_rolled_back(
    client: TestClient, engine: Engine
) -> None:
    """A write that outlives its lease must not land beside the retry that took its key over:
    `finish` finds the claim gone and the whole unit of work is rolled back."""
    assert client.get("/api/alice/tasks", headers=auth()).status_code == 200  # alice exists
    keys = Keys(ttl=timedelta(days=1), max_per_user=1000)
    fingerprint = idempotency.fingerprint("POST", "/api/alice/tasks", b"{}")
    with engine.begin() as connection:
        claimed = idempotency.claim(connection, "alice", "k", fingerprint, keys)
    assert isinstance(claimed, Claim)
    # A retry took the key over after the lease.
    set_key_times(engine, created_at=claimed.claimed_at + idempotency.LEASE)

    def write_and_keep() -> None:
        with engine.begin() as connection:
            connection.execute(text("UPDATE users SET task_count = 42"))  # the write
            idempotency.finish(connection, claimed, Answer(201, b"{}"))

    with pytest.raises(idempotency.IdempotencyKeyInFlight):
        write_and_keep()
    assert count_rows(engine, "users", "task_count = 42") == 0
    # Nor may the stale request's release delete the new claim.
    with engine.begin() as connection:
        idempotency.release(connection, claimed)
    assert keys_stored(engine) == 1


# --- failed writes keep no key -------------------------------------------------------------


def test_a_404_keeps_no_key(client: TestClient, engine: Engine, make_task: MakeTask) -> None:
    key = new_key()
    missing = client.patch(task_url(999), json={"title": "x"}, headers=keyed(key))
    assert missing.status_code == 404
    assert count_rows(engine, "idempotency_keys") == 0
    again = client.patch(task_url(999), json={"title": "x"}, headers=keyed(key))
    assert again.status_code == 404
    assert REPLAYED not in again.headers
    deleted = client.delete(task_url(999), headers=keyed(new_key()))
    assert deleted.status_code == 404
    assert count_rows(engine, "idempotency_keys") == 0


def test_a_412_keeps_no_key_and_the_retry_runs_again(
    client: TestClient, engine: Engine, make_task: MakeTask
) -> None:
    task = make_task()
    stale = task["etag"]
    client.patch(task_url(task), json={"title": "Changed meanwhile"}, headers=auth())
    key = new_key()
    body = {"title": "Mine"}
    refused = client.patch(task_url(task), json=body, headers=keyed(key, **{"If-Match": stale}))
    assert refused.status_code == 412
    assert count_rows(engine, "idempotency_keys") == 0
    # If-Match is no part of the fingerprint: the client re-reads and retries with its key.
    current = get_task(client, task)["etag"]
    retried = client.patch(task_url(task), json=body, headers=keyed(key, **{"If-Match": current}))
    assert retried.status_code == 200
    assert REPLAYED not in retried.headers
    assert retried.json()["title"] == "Mine"
    assert keys_stored(engine) == 1


def test_a_quota_409_keeps_no_key(client: TestClient, engine: Engine, database_url: str) -> None:
    app = create_app(make_settings(database_url, max_tasks_per_user=1))
    with TestClient(app, raise_server_exceptions=False) as small:
        assert small.post("/api/alice/tasks", json={"title": "1"}, headers=auth()).status_code == (
            201
        )
        key = new_key()
        full = small.post("/api/alice/tasks", json={"title": "2"}, headers=keyed(key))
        assert_typed_problem(full, 409, "urn:task-api:problem:quota-exceeded")
        assert "retry-after" not in full.headers
        assert count_rows(engine, "idempotency_keys") == 0
    app.state.services.db.dispose()


# --- bounded storage -------------------------------------------------------------------------


def test_a_user_keeps_a_bounded_number_of_answers(
    client: TestClient, engine: Engine, database_url: str
) -> None:
    app = create_app(make_settings(database_url, idempotency_max_keys_per_user=3))
    with TestClient(app, raise_server_exceptions=False) as small:
        first_key = new_key()
        first = small.post("/api/alice/tasks", json={"title": "0"}, headers=keyed(first_key))
        assert first.status_code == 201
        for number in (1, 2):
            sent = small.post(
                "/api/alice/tasks", json={"title": f"{number}"}, headers=keyed(new_key())
            )
            assert sent.status_code == 201
        full = small.post("/api/alice/tasks", json={"title": "3"}, headers=keyed(new_key()))
        problem = assert_typed_problem(full, 429, "urn:task-api:problem:too-many-idempotency-keys")
        assert problem["limit"] == 3
        assert 1 <= int(full.headers["retry-after"]) <= 24 * 3600
        assert count_rows(engine, "tasks") == 3  # refused before anything ran
        # Retries of kept answers still work, and so does another user.
        again = small.post("/api/alice/tasks", json={"title": "0"}, headers=keyed(first_key))
        assert_replayed(first, again)
        assert (
            small.post(
                "/api/bob/tasks", json={"title": "b"}, headers=keyed(new_key(), "bob")
            ).status_code
            == 201
        )
        # Expired answers make room again.
        set_key_times(engine, expires_at=utcnow() - timedelta(seconds=1))
        later = small.post("/api/alice/tasks", json={"title": "4"}, headers=keyed(new_key()))
        assert later.status_code == 201
    app.state.services.db.dispose()


def test_writes_that_change_nothing_keep_no_answer(
    client: TestClient, engine: Engine, make_task: MakeTask
) -> None:
    task = make_task(title="Same")
    for body in ({}, {"title": "Same"}):
        response = client.patch(task_url(task), json=body, headers=keyed(new_key()))
        assert response.status_code == 200
        assert response.json() == get_task(client, task)
    done = client.patch(
        f"{task_url(task)}/complete", json={"completed": False}, headers=keyed(new_key())
    )
    assert done.status_code == 200
    assert keys_stored(engine) == 0
    # A change does keep its answer.
    assert (
        client.patch(task_url(task), json={"title": "New"}, headers=keyed(new_key())).status_code
        == 200
    )
    assert keys_stored(engine) == 1


# --- retention -----------------------------------------------------------------------------


def test_expired_keys_are_new_again_and_purged(
    client: TestClient, engine: Engine, app: Any
) -> None:
    key = new_key()
    first = client.post("/api/alice/tasks", json={"title": "A"}, headers=keyed(key))
    other_key = new_key()
    client.post("/api/alice/tasks", json={"title": "Kept"}, headers=keyed(other_key))
    past = utcnow() - timedelta(seconds=1)
    set_key_times(engine, key, expires_at=past)
    # Expired: a new request, even with another body.
    again = client.post("/api/alice/tasks", json={"title": "B"}, headers=keyed(key))
    assert again.status_code == 201
    assert REPLAYED not in again.headers
    assert again.json()["id"] != first.json()["id"]
    assert count_rows(engine, "tasks") == 3
    set_key_times(engine, key, expires_at=past)
    purged = client.portal.call(app.state.services.purges.run)  # type: ignore[union-attr]
    assert purged["idempotency keys"] == 1
    assert count_rows(engine, "idempotency_keys", "key = :k", k=key) == 0
    assert count_rows(engine, "idempotency_keys", "key = :k", k=other_key) == 1


def test_keys_go_with_the_account(client: TestClient, engine: Engine) -> None:
    client.post("/api/alice/tasks", json={"title": "A"}, headers=keyed(new_key()))
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM users WHERE id = 'alice'"))
    assert count_rows(engine, "idempotency_keys") == 0


# --- no key: no cost -----------------------------------------------------------------------


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_writes_without_a_key_do_not_touch_the_keys(
    client: TestClient, make_task: MakeTask, statements: list[str]
) -> None:
    task = make_task()
    assert client.put(task_url(task), json=replacement(), headers=auth()).status_code == 200
    client.patch(task_url(task), json={"title": "y"}, headers=auth())
    client.patch(task_url(task, "/complete"), headers=auth())
    client.delete(task_url(task), headers=auth())
    assert statements
    assert not [s for s in statements if "idempotency_keys" in s]


def test_a_keyed_write_costs_a_claim_and_a_store(
    client: TestClient, make_task: MakeTask, statements: list[str]
) -> None:
    task = make_task()
    statements.clear()
    client.patch(task_url(task), json={"title": "x"}, headers=auth())
    plain = len(statements)
    statements.clear()
    client.patch(task_url(task), json={"title": "y"}, headers=keyed(new_key()))
    keyed_statements = [s for s in statements if "idempotency_keys" in s]
    assert len(keyed_statements) == 2  # INSERT … ON CONFLICT DO NOTHING, UPDATE … SET state
    # The claim's unit of work checks the user too.
    assert len(statements) == plain + 3


# --- parallel retries against a real server ------------------------------------------------

PARALLEL = 10


@pytest.fixture(scope="module")
def api(database_url: str) -> Iterator[LiveApi]:
    with live_api("tasks_idempotency") as live:
        yield live


def all_at_once(send: Callable[[httpx.Client], httpx.Response], url: str) -> list[httpx.Response]:
    """`send` from PARALLEL threads released together by a barrier."""
    barrier = threading.Barrier(PARALLEL)
    responses: list[httpx.Response] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            with httpx.Client(base_url=url, timeout=30) as http:
                http.get("/api/health")  # connected before the barrier
                barrier.wait(timeout=30)
                response = send(http)
            with lock:
                responses.append(response)
        except BaseException as error:  # re-raised in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(PARALLEL)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(responses) == PARALLEL
    return responses


def assert_one_ran(responses: list[httpx.Response], status: int) -> httpx.Response:
    """Exactly one response ran the write; every other one is a 409 or its replay."""
    ran = [r for r in responses if r.status_code == status and REPLAYED not in r.headers]
    assert len(ran) == 1, [(r.status_code, r.text) for r in responses]
    for response in responses:
        if response is ran[0]:
            continue
        if response.status_code == 409:
            assert response.json()["type"] == IN_FLIGHT
            assert response.headers["retry-after"] == "1"
        else:
            assert response.status_code == status, response.text
            assert response.headers[REPLAYED] == "true"
            assert response.content == ran[0].content
    return ran[0]


def test_parallel_retries_of_a_create_create_one_task(api: LiveApi) -> None:
    key = new_key()
    title = f"Parallel {key}"
    headers = {**api.headers, "Idempotency-Key": key}
    responses = all_at_once(
        lambda http: http.post("/api/alice/tasks", json={"title": title}, headers=headers), api.url
    )
    created = assert_one_ran(responses, 201)
    assert count_rows(api.engine, "tasks", "title = :t", t=title) == 1
    # Once the first answered, every retry is its replay.
    retry = httpx.post(
        f"{api.url}/api/alice/tasks", json={"title": title}, headers=headers, timeout=30
    )
    assert retry.headers[REPLAYED] == "true"
    assert retry.json() == created.json()


def test_parallel_retries_of_a_toggle_toggle_once(api: LiveApi) -> None:
    task = httpx.post(
        f"{api.url}/api/alice/tasks", json={"title": "Toggle me"}, headers=api.headers, timeout=30
    ).json()
    headers = {**api.headers, "Idempotency-Key": new_key()}
    path = f"/api/alice/tasks/{task['id']}/complete"
    responses = all_at_once(lambda http: http.patch(path, headers=headers), api.url)
    toggled = assert_one_ran(responses, 200)
    assert toggled.json()["completed"] is True
    assert stored_task(api.engine, task["id"]) == ("Toggle me", True)
    assert toggled.headers["etag"] == f'"{task["id"]}.2"'
