"""Tokens signed with the auth server's JWKS keys (RS256 / ES256), through HTTP: caching,
rotation, refetch limits, failures. The JWKS server and keys: tests/identity/jwks_support.py
and conftest.py; Better Auth's EdDSA and the fetch deadline: test_jwks_eddsa.py."""

import json
import logging
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from backend.app import create_app
from tests.helpers import assert_problem, auth, bearer, claims_for, count_rows, make_settings, now
from tests.identity.helpers import assert_invalid_token, b64json
from tests.identity.jwks_support import (
    JwksServer,
    Keys,
    MakeClient,
    closed_port_url,
    compact,
    get_tasks,
    hs256_token,
    jwks_token,
)

ISSUER = "https://auth.example.com"
AUDIENCE = "https://app.example.com"


@pytest.fixture
def client(make_client: MakeClient) -> Iterator[TestClient]:
    with make_client() as test_client:
        yield test_client


# --- accepted ---


@pytest.mark.parametrize("which", ["rsa", "ec"])
def test_valid_rs256_and_es256_tokens_are_accepted(
    client: TestClient, keys: Keys, jwks_server: JwksServer, which: str
) -> None:
    key = getattr(keys, which)
    response = get_tasks(client, jwks_token(key, email="ada@example.com", name="Ada"))
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []
    with client.app.state.services.db.engine.connect() as connection:
        row = connection.execute(text("SELECT id, email FROM users")).one()
    assert tuple(row) == ("alice", "ada@example.com")


def test_key_set_is_cached(client: TestClient, keys: Keys, jwks_server: JwksServer) -> None:
    for _ in range(5):
        assert get_tasks(client, jwks_token(keys.rsa)).status_code == 200
        assert get_tasks(client, jwks_token(keys.ec)).status_code == 200
    assert jwks_server.fetches == 1


def test_key_set_is_fetched_again_when_the_cache_expires(
    make_client: MakeClient, keys: Keys, jwks_server: JwksServer
) -> None:
    with make_client(jwt_jwks_cache_seconds=1, jwt_jwks_min_refetch_seconds=0) as client:
        assert get_tasks(client, jwks_token(keys.rsa)).status_code == 200
        assert get_tasks(client, jwks_token(keys.rsa)).status_code == 200
        assert jwks_server.fetches == 1
        time.sleep(1.1)
        assert get_tasks(client, jwks_token(keys.rsa)).status_code == 200
        assert jwks_server.fetches == 2


def test_known_keys_do_not_wait_for_a_refresh_in_progress(
    make_client: MakeClient, keys: Keys, jwks_server: JwksServer
) -> None:
    with make_client(
        jwt_jwks_cache_seconds=1,
        jwt_jwks_min_refetch_seconds=0,
        jwt_jwks_fetch_deadline_seconds=10,  # the slow refresh ends in time, late
    ) as client:
        assert get_tasks(client, jwks_token(keys.rsa)).status_code == 200
        time.sleep(1.1)
        jwks_server.delay = 3.0
        with ThreadPoolExecutor(max_workers=1) as pool:
            slow = pool.submit(get_tasks, client, jwks_token(keys.rsa, kid="new"))
            while jwks_server.fetches < 2:  # the refresh has started
                time.sleep(0.01)
            assert get_tasks(client, jwks_token(keys.ec)).status_code == 200
            assert not slow.done()  # answered while the refresh was still running
            assert_invalid_token(slow.result())
        assert jwks_server.fetches == 2


def test_shared_secret_hs256_tokens_still_work(client: TestClient, jwks_server: JwksServer) -> None:
    assert client.get("/api/alice/tasks", headers=auth("alice")).status_code == 200
    assert jwks_server.fetches == 0  # HS256 never looks at the key set


def test_path_user_check_applies_to_jwks_tokens(client: TestClient, keys: Keys) -> None:
    response = get_tasks(client, jwks_token(keys.ec, "mallory"))
    assert_problem(response, 403)
    # The owner's own token works, on tasks too.
    created = client.post(
        "/api/alice/tasks", json={"title": "mine"}, headers=bearer(jwks_token(keys.rsa))
    )
    assert created.status_code == 201, created.text
    task = created.json()["id"]
    response = client.get(f"/api/alice/tasks/{task}", headers=bearer(jwks_token(keys.ec, "bob")))
    assert_problem(response, 403)


# --- rejected ---


def test_wrong_key_with_a_known_kid_is_rejected(client: TestClient, keys: Keys) -> None:
    for impostor in (keys.rsa_impostor, keys.ec_impostor):
        detail = assert_invalid_token(get_tasks(client, jwks_token(impostor)))
        assert "signature" in detail
    assert count_rows(client.app.state.services.db.engine, "users") == 0


def test_tampered_payload_is_rejected(client: TestClient, keys: Keys) -> None:
    for key in (keys.rsa, keys.ec):
        header, _, signature = jwks_token(key).split(".")
        forged = b64json(claims_for("alice", name="admin"))
        assert_invalid_token(get_tasks(client, f"{header}.{forged}.{signature}"))


def test_expired_token_is_rejected(client: TestClient, keys: Keys) -> None:
    for key in (keys.rsa, keys.ec):
        detail = assert_invalid_token(
            get_tasks(client, jwks_token(key, exp=now() - 120, iat=now() - 720))
        )
        assert "expired" in detail
        # Without exp at all: rejected as well.
        assert_invalid_token(get_tasks(client, jwks_token(key, exp=None)))


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": ""},
        {"sub": "a" * 256},
        {"nbf": now() + 3600},
        {"iat": now() + 3600},
    ],
    ids=["empty sub", "sub too long", "nbf in the future", "iat in the future"],
)
def test_claim_rules_are_those_of_hs256(
    client: TestClient, keys: Keys, claims: dict[str, Any]
) -> None:
    assert_invalid_token(get_tasks(client, jwks_token(keys.ec, **claims)))


def test_issuer_and_audience_are_checked_when_configured(
    make_client: MakeClient, keys: Keys
) -> None:
    with make_client(jwt_issuer=ISSUER, jwt_audience=AUDIENCE) as client:
        good = jwks_token(keys.rsa, iss=ISSUER, aud=AUDIENCE)
        assert get_tasks(client, good).status_code == 200
        for claims in (
            {},
            {"iss": "https://evil.example.com", "aud": AUDIENCE},
            {"iss": ISSUER, "aud": "https://other.example.com"},
            {"iss": ISSUER},
            {"aud": AUDIENCE},
        ):
            for key in (keys.rsa, keys.ec):
                assert_invalid_token(get_tasks(client, jwks_token(key, **claims)))


def test_unknown_kids_are_rejected_and_refetch_at_most_once_per_interval(
    make_client: MakeClient, keys: Keys, jwks_server: JwksServer
) -> None:
    with make_client() as client:  # the default interval: 30 seconds
        assert get_tasks(client, jwks_token(keys.rsa)).status_code == 200
        assert jwks_server.fetches == 1
        # Within the interval since that fetch: bogus kids fetch nothing.
        for _ in range(25):
            detail = assert_invalid_token(
                get_tasks(client, jwks_token(keys.rsa, kid=uuid.uuid4().hex))
            )
            assert "kid" in detail
        assert jwks_server.fetches == 1
        # Known keys keep working meanwhile, without fetching.
        assert get_tasks(client, jwks_token(keys.ec)).status_code == 200
        assert jwks_server.fetches == 1
    with make_client(jwt_jwks_min_refetch_seconds=2) as client:
        assert get_tasks(client, jwks_token(keys.rsa)).status_code == 200
        assert jwks_server.fetches == 2
        time.sleep(2.1)
        # After the interval: the first unknown kid refetches once, the flood that follows
        # (well within the next interval) does not.
        for _ in range(25):
            assert_invalid_token(get_tasks(client, jwks_token(keys.rsa, kid=uuid.uuid4().hex)))
        assert jwks_server.fetches == 3


def test_concurrent_requests_with_the_same_new_kid_fetch_once(
    make_client: MakeClient, keys: Keys, jwks_server: JwksServer
) -> None:
    # No minimum interval at all: only the lock keeps this to one fetch.
    with make_client(jwt_jwks_min_refetch_seconds=0) as client:
        assert get_tasks(client, jwks_token(keys.rsa)).status_code == 200
        jwks_server.jwks.append(keys.rotated.jwk())
        jwks_server.delay = 1.0
        token = jwks_token(keys.rotated)
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda _: get_tasks(client, token).status_code, range(8)))
        assert statuses == [200] * 8
        assert jwks_server.fetches == 2
        # The same bogus kid, concurrently: still one fetch, and eight 401s.
        bogus = jwks_token(keys.rsa, kid="bogus")
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda _: get_tasks(client, bogus).status_code, range(8)))
        assert statuses == [401] * 8
        assert jwks_server.fetches == 3
        assert time.monotonic() - started < 8 * jwks_server.delay  # they did overlap


def test_key_rotation_is_picked_up_after_the_minimum_interval(
    make_client: MakeClient, keys: Keys, jwks_server: JwksServer
) -> None:
    with make_client(jwt_jwks_min_refetch_seconds=1) as client:
        assert get_tasks(client, jwks_token(keys.rsa)).status_code == 200
        assert jwks_server.fetches == 1
        jwks_server.jwks.append(keys.rotated.jwk())
        token = jwks_token(keys.rotated)
        # Within the interval since the last fetch: not fetched again, so not known yet.
        assert_invalid_token(get_tasks(client, token))
        assert jwks_server.fetches == 1
        time.sleep(1.1)
        assert get_tasks(client, token).status_code == 200
        assert jwks_server.fetches == 2
        # A key removed from the set is gone after the next fetch.
        jwks_server.jwks = [keys.rotated.jwk()]
        time.sleep(1.1)
        # An unknown kid triggers a fetch.
        assert_invalid_token(get_tasks(client, jwks_token(keys.rsa, kid="unknown")))
        assert jwks_server.fetches == 3
        assert_invalid_token(get_tasks(client, jwks_token(keys.rsa)))


def test_hs256_signed_with_the_public_key_is_rejected(
    client: TestClient, keys: Keys, jwks_server: JwksServer
) -> None:
    assert get_tasks(client, jwks_token(keys.rsa)).status_code == 200  # the set is loaded
    for key in (keys.rsa, keys.ec):
        secrets = [key.public_pem, json.dumps(key.jwk()).encode()]
        for secret in secrets:
            for kid in (None, key.kid):
                assert_invalid_token(get_tasks(client, hs256_token(secret, kid=kid)))
    assert jwks_server.fetches == 1


def test_alg_that_does_not_match_the_key_type_is_rejected(
    client: TestClient, keys: Keys, jwks_server: JwksServer
) -> None:
    # RS256 naming the EC key (signed with the RSA key), ES256 naming the RSA key.
    for token in (
        jwks_token(keys.rsa, kid=keys.ec.kid),
        jwks_token(keys.ec, kid=keys.rsa.kid),
        jwks_token(keys.ec, alg="RS256"),
        jwks_token(keys.rsa, alg="ES256"),
    ):
        assert "does not match its key" in assert_invalid_token(get_tasks(client, token))


def test_jwk_alg_member_must_match(
    make_client: MakeClient, keys: Keys, jwks_server: JwksServer
) -> None:
    # An RSA key published for PS256 (not supported) and an EC key published as "RS256".
    jwks_server.jwks = [keys.rsa.jwk(alg="PS256"), keys.ec.jwk(alg="RS256")]
    with make_client() as client:
        assert_invalid_token(get_tasks(client, jwks_token(keys.rsa)))
        assert_invalid_token(get_tasks(client, jwks_token(keys.ec)))
    # Without an alg member the key type decides.
    jwks_server.jwks = [keys.rsa.jwk(alg=None), keys.ec.jwk(alg=None, use=None)]
    with make_client() as client:
        assert get_tasks(client, jwks_token(keys.rsa)).status_code == 200
        assert get_tasks(client, jwks_token(keys.ec)).status_code == 200


@pytest.mark.parametrize("alg", ["none", "None", "HS384", "PS256", "RS512", "ES384", ""])
def test_other_algorithms_are_rejected(
    client: TestClient, keys: Keys, jwks_server: JwksServer, alg: str
) -> None:
    header = {"alg": alg, "typ": "JWT", "kid": keys.rsa.kid}
    for signature in (b"", keys.rsa.sign(b"x")):
        token = compact(header, claims_for(), lambda _data, sig=signature: sig)
        assert_invalid_token(get_tasks(client, token))
    assert jwks_server.fetches == 0


def test_critical_header_parameters_are_rejected(client: TestClient, keys: Keys) -> None:
    header = {"alg": "RS256", "kid": keys.rsa.kid, "crit": ["exp"], "exp": now() + 60}
    assert_invalid_token(get_tasks(client, compact(header, claims_for(), keys.rsa.sign)))


def test_token_without_kid_is_rejected(client: TestClient, keys: Keys) -> None:
    token = compact({"alg": "RS256", "typ": "JWT"}, claims_for(), keys.rsa.sign)
    assert "kid" in assert_invalid_token(get_tasks(client, token))


# --- the JWKS server failing ---


@pytest.mark.parametrize("mode", ["down", "500", "not-json", "not-a-jwks"])
def test_unreachable_key_set_is_503_and_logged_once_without_the_token(
    make_client: MakeClient,
    keys: Keys,
    jwks_server: JwksServer,
    caplog: pytest.LogCaptureFixture,
    mode: str,
) -> None:
    overrides: dict[str, Any] = {}
    if mode == "down":
        overrides["jwt_jwks_url"] = closed_port_url()
    else:
        jwks_server.mode = mode
    token = jwks_token(keys.rsa)
    with (
        caplog.at_level(logging.WARNING, logger="backend.jwks"),
        make_client(**overrides) as client,
    ):
        for _ in range(5):
            response = get_tasks(client, token)
            body = assert_problem(response, 503)
            assert "JWKS" in body["detail"]
            assert int(response.headers["retry-after"]) >= 1
        # HS256 tokens do not depend on the key set.
        assert client.get("/api/alice/tasks", headers=auth("alice")).status_code == 200
    failures = [r for r in caplog.records if "JWKS fetch" in r.getMessage()]
    assert len(failures) == 1  # one attempt within the interval, logged once
    assert token not in caplog.text
    assert token.split(".")[1] not in caplog.text
    if mode != "down":
        assert jwks_server.fetches == 1


def test_last_good_key_set_is_kept_while_the_server_fails(
    make_client: MakeClient, keys: Keys, jwks_server: JwksServer
) -> None:
    with make_client(jwt_jwks_cache_seconds=1, jwt_jwks_min_refetch_seconds=0) as client:
        assert get_tasks(client, jwks_token(keys.rsa)).status_code == 200
        jwks_server.mode = "500"
        time.sleep(1.1)
        # The cache expired and the refetch fails: the known key still verifies...
        assert get_tasks(client, jwks_token(keys.rsa)).status_code == 200
        assert jwks_server.fetches == 2
        # ...and an unknown kid is an ordinary 401.
        assert_invalid_token(get_tasks(client, jwks_token(keys.rsa, kid="unknown")))
        jwks_server.mode = "ok"
        jwks_server.jwks.append(keys.rotated.jwk())
        assert get_tasks(client, jwks_token(keys.rotated)).status_code == 200


def test_without_jwks_url_only_hs256_is_accepted(database_url: str, keys: Keys) -> None:
    app = create_app(make_settings(database_url))
    with TestClient(app, raise_server_exceptions=False) as client:
        detail = assert_invalid_token(get_tasks(client, jwks_token(keys.rsa)))
        assert "set JWT_JWKS_URL" in detail
        assert "HS256" in detail
        assert get_tasks(client, jwks_token(keys.ec)).status_code == 401
    app.state.services.db.dispose()
