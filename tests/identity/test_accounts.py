"""The API's own accounts through HTTP: sign-up, sign-in, profile, deletion, revocation,
brute-force limits kept in the database."""

import logging
import statistics
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from passlib.hash import argon2
from sqlalchemy import Connection, Engine, text

from backend.app import create_app
from backend.identity import users
from backend.identity.tokens import Identity
from tests.helpers import assert_problem, auth, bearer, count_rows, make_settings

PASSWORD = "correct horse battery staple"


def sign_up(
    client: TestClient, email: str = "ada@example.com", password: str = PASSWORD, **extra: Any
) -> Any:
    body = {"email": email, "password": password, "name": "Ada Lovelace", **extra}
    return client.post("/api/auth/sign-up", json=body)


def sign_in(client: TestClient, email: str = "ada@example.com", password: str = PASSWORD) -> Any:
    return client.post("/api/auth/sign-in", json={"email": email, "password": password})


def bearer_of(response: Any) -> dict[str, str]:
    """The Authorization header with the token a sign-up or sign-in answered with."""
    return bearer(response.json()["access_token"])


def test_sign_up_creates_the_account_and_returns_a_working_token(
    client: TestClient, engine: Engine
) -> None:
    response = sign_up(client, email="  Ada@Example.COM ")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "user",
        "access_token",
        "token_type",
        "expires_in",
        "device_token",
        "device_token_expires_in",
    }
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert len(body["device_token"]) >= 40
    assert body["device_token_expires_in"] == 90 * 24 * 3600
    user = body["user"]
    assert set(user) == {"id", "email", "name", "created_at"}
    assert user["email"] == "ada@example.com"
    assert user["name"] == "Ada Lovelace"
    assert PASSWORD not in response.text

    me = client.get("/api/me", headers=bearer_of(response))
    assert me.status_code == 200
    assert me.json() == user
    created = client.post(
        f"/api/{user['id']}/tasks", json={"title": "x"}, headers=bearer_of(response)
    )
    assert created.status_code == 201
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT email, password_hash FROM credentials")).one()
    assert stored.email == "ada@example.com"
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash


@pytest.mark.parametrize("email", ["ada@example.com", "ADA@example.com", " Ada@EXAMPLE.com"])
def test_an_email_is_taken_whatever_its_case(
    client: TestClient, engine: Engine, email: str
) -> None:
    assert sign_up(client).status_code == 201
    assert_problem(sign_up(client, email=email, password="another password"), 409)
    assert count_rows(engine, "users") == 1
    assert sign_in(client).status_code == 200  # the first account is untouched


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"email": "not-an-email"}, "/email"),
        ({"email": "a@b"}, "/email"),
        ({"email": "a b@example.com"}, "/email"),
        ({"password": "short"}, "/password"),
        ({"password": "x" * 129}, "/password"),
        ({"name": "   "}, "/name"),
        ({"name": "a\nb"}, "/name"),
        ({"admin": True}, "/admin"),
    ],
)
def test_sign_up_validates_its_input(
    client: TestClient, engine: Engine, body: dict[str, Any], pointer: str
) -> None:
    full = {"email": "ada@example.com", "password": PASSWORD, "name": "Ada", **body}
    problem = assert_problem(client.post("/api/auth/sign-up", json=full), 422)
    assert [e["pointer"] for e in problem["errors"]] == [pointer]
    assert count_rows(engine, "users") == 0


@pytest.mark.parametrize(
    "password", ["pässwörd", "🔑🗝️🔒🔓🔑🗝️🔒🔓", "xyz" * 42 + "xy", "with\u0000nul!"]
)
def test_passwords_are_any_unicode_of_8_to_128_characters(
    client: TestClient, password: str
) -> None:
    assert sign_up(client, password=password).status_code == 201
    assert sign_in(client, password=password).status_code == 200
    assert_problem(sign_in(client, password=password[:-1] + "?"), 401)


def test_sign_in_returns_a_token_for_the_account(client: TestClient) -> None:
    user = sign_up(client).json()["user"]
    response = sign_in(client, email=" ADA@example.com ")
    assert response.status_code == 200
    assert response.json()["user"] == user
    assert client.get("/api/me", headers=bearer_of(response)).json() == user


def test_unknown_email_and_wrong_password_look_the_same(client: TestClient) -> None:
    sign_up(client)
    wrong = sign_in(client, password="not the password")
    unknown = sign_in(client, email="nobody@example.com")
    assert_problem(wrong, 401)
    assert wrong.json() | {"instance": None} == unknown.json() | {"instance": None}
    assert wrong.json()["detail"] == "The email or password is incorrect."
    assert "www-authenticate" not in wrong.headers or wrong.headers[
        "www-authenticate"
    ] == unknown.headers.get("www-authenticate")


def test_unknown_email_costs_a_hash_verification_too(client: TestClient) -> None:
    """Not a benchmark: a 10x gap would mean the unknown email skips hashing."""
    sign_up(client)

    def median_seconds(email: str) -> float:
        samples = []
        for i in range(3):
            started = time.perf_counter()
            sign_in(client, email=email, password=f"wrong password {i}")
            samples.append(time.perf_counter() - started)
        return statistics.median(samples)

    known, unknown = median_seconds("ada@example.com"), median_seconds("bob@example.com")
    assert unknown > known / 10


def test_no_password_or_hash_is_logged(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        sign_up(client)
        sign_in(client)
        sign_in(client, password="a wrong password")
    assert PASSWORD not in caplog.text
    assert "a wrong password" not in caplog.text
    assert "$argon2" not in caplog.text


def test_an_old_hash_is_upgraded_at_the_next_sign_in(client: TestClient, engine: Engine) -> None:
    sign_up(client)
    weak = argon2.using(memory_cost=8192, time_cost=1, parallelism=1).hash(PASSWORD)
    with engine.begin() as connection:
        connection.execute(text("UPDATE credentials SET password_hash = :h"), {"h": weak})
    assert sign_in(client).status_code == 200
    with engine.connect() as connection:
        upgraded = connection.execute(text("SELECT password_hash FROM credentials")).scalar_one()
    assert upgraded != weak
    assert "m=19456,t=2,p=1" in upgraded
    assert sign_in(client).status_code == 200


class TestBruteForce:
    def test_five_failures_for_an_email_lock_it_with_429(self, client: TestClient) -> None:
        sign_up(client)
        for _ in range(5):
            assert_problem(sign_in(client, password="wrong password"), 401)
        locked = sign_in(client)  # even the right password, until the window passes
        assert_problem(locked, 429)
        retry_after = int(locked.headers["retry-after"])
        assert 0 < retry_after <= 900

    def test_a_success_gives_back_its_place_but_resets_no_one_elses(
        self, client: TestClient
    ) -> None:
        sign_up(client)
        for _ in range(4):
            sign_in(client, password="wrong password")
        signed_in = sign_in(client)
        assert signed_in.status_code == 200
        # The account's failures stay (5 of 5 with the next one): a success without the
        # device token is no reason to give every untrusted client fresh guesses.
        assert_problem(sign_in(client, password="wrong password"), 401)
        assert_problem(sign_in(client), 429)
        # The device token the success handed out is this device's way past it.
        with_device = {"device_token": signed_in.json()["device_token"]}
        again = client.post(
            "/api/auth/sign-in",
            json={"email": "ada@example.com", "password": PASSWORD, **with_device},
        )
        assert again.status_code == 200

    def test_failures_from_one_client_are_limited_across_emails(self, client: TestClient) -> None:
        sign_up(client)
        for i in range(20):
            assert_problem(sign_in(client, email=f"guess{i}@example.com"), 401)
        assert_problem(sign_in(client), 429)

    def test_counters_are_shared_by_every_app_on_the_database(
        self, client: TestClient, database_url: str, engine: Engine
    ) -> None:
        sign_up(client)
        for _ in range(5):
            sign_in(client, password="wrong password")
        # Per email (15 minutes and a day), per client (failures, and all attempts).
        assert count_rows(engine, "rate_limits", "key LIKE 'signin%'") == 4
        assert (
            count_rows(engine, "rate_limits", "key LIKE 'signin-fail:email:%' AND count = 5") == 1
        )
        other_worker = create_app(make_settings(database_url))
        with TestClient(other_worker) as other:
            assert_problem(sign_in(other), 429)
        other_worker.state.services.db.dispose()

    def test_sign_up_is_limited_per_client(
        self, client: TestClient, database_url: str, engine: Engine
    ) -> None:
        app = create_app(make_settings(database_url, signup_max_per_window=2))
        with TestClient(app) as limited_client:
            assert sign_up(limited_client, email="a@example.com").status_code == 201
            assert sign_up(limited_client, email="b@example.com").status_code == 201
            limited = sign_up(limited_client, email="c@example.com")
            assert_problem(limited, 429)
            assert int(limited.headers["retry-after"]) > 0
        app.state.services.db.dispose()
        assert count_rows(engine, "credentials", "email = 'c@example.com'") == 0


@pytest.fixture
def ada(client: TestClient) -> dict[str, Any]:
    response = sign_up(client)
    return {"id": response.json()["user"]["id"], "headers": bearer_of(response)}


def test_me_needs_a_token(client: TestClient) -> None:
    assert_problem(client.get("/api/me"), 401)
    assert_problem(client.patch("/api/me", json={"name": "x"}), 401)
    assert_problem(client.delete("/api/me"), 401)


def test_me_for_a_better_auth_user_is_created_from_claims(client: TestClient) -> None:
    response = client.get("/api/me", headers=auth("ba-user-1", email="b@example.com", name="B"))
    assert response.status_code == 200
    assert response.json()["id"] == "ba-user-1"
    assert response.json()["email"] == "b@example.com"


def test_patch_me_changes_the_name(client: TestClient, ada: dict[str, Any]) -> None:
    response = client.patch("/api/me", json={"name": "  Ada King "}, headers=ada["headers"])
    assert response.status_code == 200
    assert response.json()["name"] == "Ada King"
    assert client.get("/api/me", headers=ada["headers"]).json()["name"] == "Ada King"


def test_password_change_needs_the_current_password(
    client: TestClient, ada: dict[str, Any]
) -> None:
    new = {"password": "a much longer passphrase"}
    problem = assert_problem(client.patch("/api/me", json=new, headers=ada["headers"]), 422)
    assert problem["errors"][0]["pointer"] == "/current_password"
    wrong = {**new, "current_password": "not it at all"}
    assert_problem(client.patch("/api/me", json=wrong, headers=ada["headers"]), 403)
    assert sign_in(client).status_code == 200  # unchanged


def test_password_change_revokes_earlier_tokens(client: TestClient, ada: dict[str, Any]) -> None:
    body = {"password": "a much longer passphrase", "current_password": PASSWORD}
    response = client.patch("/api/me", json=body, headers=ada["headers"])
    assert response.status_code == 200
    assert "password" not in response.text
    for path in ("/api/me", f"/api/{ada['id']}/tasks"):
        assert_problem(client.get(path, headers=ada["headers"]), 401)
    assert_problem(sign_in(client), 401)
    fresh = sign_in(client, password="a much longer passphrase")
    assert fresh.status_code == 200
    assert client.get("/api/me", headers=bearer_of(fresh)).status_code == 200


def test_better_auth_users_have_no_password_to_change(client: TestClient) -> None:
    body = {"password": "a much longer passphrase", "current_password": "whatever it is"}
    response = client.patch("/api/me", json=body, headers=auth("ba-user-2"))
    assert_problem(response, 409)


def test_delete_me_removes_the_user_and_their_tasks(
    client: TestClient, engine: Engine, ada: dict[str, Any]
) -> None:
    client.post(f"/api/{ada['id']}/tasks", json={"title": "x"}, headers=ada["headers"])
    other = client.post("/api/bob/tasks", json={"title": "bob's"}, headers=auth("bob"))
    assert client.delete("/api/me", headers=ada["headers"]).status_code == 204
    assert count_rows(engine, "users", "id = :i", i=ada["id"]) == 0
    assert count_rows(engine, "tasks", "user_id = :i", i=ada["id"]) == 0
    assert count_rows(engine, "credentials") == 0
    assert count_rows(engine, "tasks", "id = :i", i=other.json()["id"]) == 1
    # The old token neither works nor brings the account back.
    assert_problem(client.get("/api/me", headers=ada["headers"]), 401)
    assert_problem(client.get(f"/api/{ada['id']}/tasks", headers=ada["headers"]), 401)
    assert count_rows(engine, "users", "id = :i", i=ada["id"]) == 0
    assert_problem(sign_in(client), 401)
    # The email is free again.
    assert sign_up(client).status_code == 201


def test_account_deleted_between_the_check_and_the_read_is_401(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A concurrent DELETE /api/me can commit after check_user saw the user and before the
    account route reads it: that request is answered 401, not 500."""
    assert client.get("/api/me", headers=auth("racer")).status_code == 200
    checked = users.check_user

    def check_then_lose_the_user(connection: Connection, identity: Identity) -> None:
        checked(connection, identity)
        connection.execute(text("DELETE FROM users WHERE id = :i"), {"i": identity.user_id})

    monkeypatch.setattr(users, "check_user", check_then_lose_the_user)
    assert_problem(client.get("/api/me", headers=auth("racer")), 401)
    assert_problem(client.delete("/api/me", headers=auth("racer")), 401)


def test_deleted_better_auth_user_comes_back_only_with_a_newer_token(
    client: TestClient, engine: Engine
) -> None:
    old = auth("ba-user-3", iat=int(time.time()) - 60)
    assert client.get("/api/me", headers=old).status_code == 200
    assert client.delete("/api/me", headers=old).status_code == 204
    assert_problem(client.get("/api/me", headers=old), 401)
    newer = auth("ba-user-3", iat=int(time.time()) + 1)
    assert client.get("/api/me", headers=newer).status_code == 200
    assert count_rows(engine, "users", "id = 'ba-user-3'") == 1
