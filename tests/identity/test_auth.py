"""Authentication (RFC 6750 / RFC 8725) and user isolation, through HTTP."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from backend.app import create_app
from tests.helpers import (
    SECRET,
    assert_problem,
    auth,
    bearer,
    count_rows,
    make_settings,
    now,
    replacement,
    token_for,
)
from tests.identity.helpers import assert_invalid_token, b64json

# Every operation that needs a token, with a body that would be valid.
OPERATIONS = [
    ("GET", "/api/{user}/tasks", None),
    ("POST", "/api/{user}/tasks", {"title": "x"}),
    ("GET", "/api/{user}/tasks/{task}", None),
    ("PUT", "/api/{user}/tasks/{task}", replacement()),
    ("PATCH", "/api/{user}/tasks/{task}", {"title": "x"}),
    ("DELETE", "/api/{user}/tasks/{task}", None),
    ("PATCH", "/api/{user}/tasks/{task}/complete", None),
]


def _call(
    client: TestClient, method: str, path: str, body: Any, headers: dict[str, str], task: int = 1
) -> Any:
    url = path.format(user="alice", task=task)
    return client.request(method, url, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body"), OPERATIONS)
def test_missing_token_is_401_with_bearer_challenge(
    client: TestClient, method: str, path: str, body: Any
) -> None:
    response = _call(client, method, path, body, {})
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == 'Bearer realm="tasks"'


@pytest.mark.parametrize(("method", "path", "body"), OPERATIONS)
def test_missing_token_with_bad_body_is_still_401(
    client: TestClient, method: str, path: str, body: Any
) -> None:
    url = path.format(user="alice", task=1)
    response = client.request(
        method, url, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 401)


BAD_TOKENS = {
    "not a jwt": "abc",
    "two segments": "abc.def",
    "garbage segments": "a.b.c",
    "bad signature": token_for("alice", key="another-secret-that-is-long-enough-123456"),
    "alg none": b64json({"alg": "none", "typ": "JWT"})
    + "."
    + b64json({"sub": "alice", "exp": now() + 600})
    + ".",
    "alg HS512 with the right key": token_for("alice", algorithm="HS512"),
    "alg HS384 with the right key": token_for("alice", algorithm="HS384"),
    "expired": token_for("alice", exp=now() - 120, iat=now() - 720),
    "no exp": token_for("alice", exp=None),
    "exp not a number": token_for("alice", exp="tomorrow"),
    "no sub": token_for(None),
    "empty sub": token_for(""),
    "sub not a string": token_for(42),
    "sub with control characters": token_for("ali\nce"),
    "sub too long": token_for("a" * 256),
    "nbf in the future": token_for("alice", nbf=now() + 3600),
    "iat in the future": token_for("alice", iat=now() + 3600),
    "header not json": "bm90LWpzb24." + b64json({"sub": "alice"}) + ".c2ln",
}


@pytest.mark.parametrize("token", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_invalid_tokens_are_401_invalid_token(client: TestClient, token: str) -> None:
    response = client.get("/api/alice/tasks", headers=bearer(token))
    assert assert_invalid_token(response)
    assert count_rows(client.app.state.services.db.engine, "users") == 0


def test_expired_token_says_so(client: TestClient) -> None:
    response = client.get(
        "/api/alice/tasks", headers=auth("alice", exp=now() - 120, iat=now() - 720)
    )
    assert "expired" in assert_problem(response, 401)["detail"]


def test_token_within_leeway_is_accepted(client: TestClient) -> None:
    # A few seconds of clock skew between the auth server and the API are tolerated.
    response = client.get("/api/alice/tasks", headers=auth("alice", exp=now() - 5))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "header",
    ["Basic YWxpY2U6c2VjcmV0", "Token abc", "Bearer", "Bearer ", "bearer  ", "Bearer a b"],
)
def test_malformed_authorization_headers_are_401(client: TestClient, header: str) -> None:
    response = client.get("/api/alice/tasks", headers={"Authorization": header})
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith('Bearer realm="tasks"')


def test_bearer_scheme_is_case_insensitive(client: TestClient) -> None:
    token = token_for("alice")
    response = client.get("/api/alice/tasks", headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 200


@pytest.mark.parametrize(("method", "path", "body"), OPERATIONS)
def test_path_user_must_be_the_token_subject(
    client: TestClient, engine: Engine, method: str, path: str, body: Any
) -> None:
    created = client.post("/api/alice/tasks", json={"title": "mine"}, headers=auth("alice"))
    task = created.json()["id"]
    response = _call(client, method, path, body, auth("mallory"), task=task)
    assert_problem(response, 403)
    # Nothing changed and nothing was created for either user.
    stored = client.get(f"/api/alice/tasks/{task}", headers=auth("alice")).json()
    assert stored == created.json()
    assert count_rows(engine, "tasks") == 1


def test_first_request_creates_the_user_from_claims(client: TestClient, engine: Engine) -> None:
    headers = auth("user-123", email="ada@example.com", name="Ada Lovelace")
    assert client.get("/api/user-123/tasks", headers=headers).status_code == 200
    with engine.connect() as connection:
        row = connection.execute(text("SELECT id, email, name FROM users")).one()
    assert tuple(row) == ("user-123", "ada@example.com", "Ada Lovelace")
    # A second request does not duplicate it.
    assert client.get("/api/user-123/tasks", headers=headers).status_code == 200
    assert count_rows(engine, "users") == 1


def test_issuer_and_audience_are_checked_when_configured(database_url: str) -> None:
    settings = make_settings(
        database_url, jwt_issuer="https://auth.example.com", jwt_audience="tasks-api"
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        good = auth("alice", iss="https://auth.example.com", aud="tasks-api")
        assert client.get("/api/alice/tasks", headers=good).status_code == 200
        for claims in (
            {},
            {"iss": "https://evil.example.com", "aud": "tasks-api"},
            {"iss": "https://auth.example.com", "aud": "other-api"},
            {"iss": "https://auth.example.com"},
        ):
            response = client.get("/api/alice/tasks", headers=auth("alice", **claims))
            assert_problem(response, 401)
    app.state.services.db.dispose()


def test_audience_claim_is_ignored_when_not_configured(client: TestClient) -> None:
    # Better Auth puts its base URL in aud; without JWT_AUDIENCE that must not matter.
    headers = auth("alice", aud="https://app.example.com", iss="https://app.example.com")
    assert client.get("/api/alice/tasks", headers=headers).status_code == 200


def test_secret_is_the_shared_better_auth_secret(client: TestClient) -> None:
    token = token_for("alice", key=SECRET)
    response = client.get("/api/alice/tasks", headers=bearer(token))
    assert response.status_code == 200
