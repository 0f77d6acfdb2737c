"""Better Auth's default tokens: EdDSA (Ed25519) from its JWKS, with the same claim checks
as RS256/ES256; key type, curve and alg must agree; Ed448 is refused; and a JWKS fetch
never holds a request longer than its deadline."""

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from backend.app import create_app
from tests.helpers import assert_problem, claims_for, make_settings, now
from tests.identity.helpers import assert_invalid_token
from tests.identity.jwks_support import (
    JwksServer,
    Keys,
    MakeClient,
    compact,
    ed448_key,
    get_tasks,
    jwks_token,
)

BETTER_AUTH = "http://localhost:3000"


@pytest.fixture
def client(make_client: MakeClient) -> Iterator[TestClient]:
    with make_client() as test_client:
        yield test_client


@pytest.mark.parametrize("alg", ["EdDSA", "Ed25519"])  # RFC 8037's name, RFC 9864's
def test_ed25519_tokens_are_accepted(
    client: TestClient, keys: Keys, jwks_server: JwksServer, alg: str
) -> None:
    response = get_tasks(client, jwks_token(keys.ed, alg=alg, email="ada@example.com"))
    assert response.status_code == 200, response.text
    assert jwks_server.fetches == 1


def test_a_token_as_better_auth_issues_it(make_client: MakeClient, keys: Keys) -> None:
    """No typ, iss = aud = the auth server's base URL, 15 minutes, the user in the payload."""
    issued = now()
    claims = {
        "iat": issued,
        "exp": issued + 900,
        "sub": "ckvpghXuTLMN9QXSxfDseVkYp4XYNYcN",
        "id": "ckvpghXuTLMN9QXSxfDseVkYp4XYNYcN",
        "name": "Ada",
        "email": "ada@example.com",
        "emailVerified": False,
        "iss": BETTER_AUTH,
        "aud": BETTER_AUTH,
    }
    token = compact({"alg": "EdDSA", "kid": keys.ed.kid}, claims, keys.ed.sign)
    with make_client(jwt_issuer=BETTER_AUTH, jwt_audience=BETTER_AUTH) as client:
        me = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        assert me.json()["email"] == "ada@example.com"
        wrong_audience = dict(claims, aud="https://elsewhere.example")
        other = compact({"alg": "EdDSA", "kid": keys.ed.kid}, wrong_audience, keys.ed.sign)
        assert_invalid_token(get_tasks(client, other, user=claims["sub"]))


def test_tampered_wrong_key_and_expired_ed25519_tokens_are_401(
    client: TestClient, keys: Keys
) -> None:
    header, payload, signature = jwks_token(keys.ed).split(".")
    other_payload = jwks_token(keys.ed, "mallory").split(".")[1]
    for token in (
        f"{header}.{other_payload}.{signature}",  # tampered
        jwks_token(keys.ed_impostor),  # right kid, wrong key
        f"{header}.{payload}.{signature[:-4]}",  # truncated signature
        f"{header}.{payload}.",  # no signature
        jwks_token(keys.ed, exp=now() - 120),  # expired (past the 30 s leeway)
        jwks_token(keys.ed, nbf=now() + 120),  # not yet valid
    ):
        assert_invalid_token(get_tasks(client, token))
    assert "expired" in assert_invalid_token(
        get_tasks(client, jwks_token(keys.ed, exp=now() - 120))
    )


def test_key_type_curve_and_alg_must_agree(client: TestClient, keys: Keys) -> None:
    for token in (
        jwks_token(keys.ed, kid=keys.ec.kid, alg="EdDSA"),  # EdDSA naming an EC key
        jwks_token(keys.ed, kid=keys.rsa.kid, alg="EdDSA"),  # EdDSA naming an RSA key
        jwks_token(keys.ec, kid=keys.ed.kid),  # ES256 naming an OKP key
        jwks_token(keys.rsa, kid=keys.ed.kid),  # RS256 naming an OKP key
    ):
        assert "does not match its key" in assert_invalid_token(get_tasks(client, token))


def test_ed448_is_refused_with_a_clear_401(
    make_client: MakeClient, keys: Keys, jwks_server: JwksServer
) -> None:
    ed448 = ed448_key("ed448-1")
    jwks_server.jwks.append(ed448.jwk())
    with make_client() as client:
        detail = assert_invalid_token(get_tasks(client, jwks_token(ed448)))
        assert "Ed448" in detail
        header = {"alg": "Ed448", "kid": ed448.kid}
        detail = assert_invalid_token(get_tasks(client, compact(header, claims_for(), ed448.sign)))
        assert "Ed448" in detail
        # The Ed25519 key of the same set still works.
        assert get_tasks(client, jwks_token(keys.ed)).status_code == 200


def test_okp_keys_of_other_curves_or_sizes_are_skipped(
    make_client: MakeClient, keys: Keys, jwks_server: JwksServer
) -> None:
    jwks_server.jwks = [
        keys.ed.jwk(crv="X25519"),  # a key-agreement curve
        keys.rsa.jwk(),
    ]
    with make_client() as client:
        assert_invalid_token(get_tasks(client, jwks_token(keys.ed)))
        assert get_tasks(client, jwks_token(keys.rsa)).status_code == 200


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "RS256"])
def test_without_jwks_url_an_asymmetric_token_says_to_set_it(
    database_url: str, keys: Keys, alg: str
) -> None:
    key = {"EdDSA": keys.ed, "ES256": keys.ec, "RS256": keys.rsa}[alg]
    app = create_app(make_settings(database_url))
    with TestClient(app, raise_server_exceptions=False) as client:
        detail = assert_invalid_token(get_tasks(client, jwks_token(key)))
        assert f"signed with {alg}" in detail
        assert "set JWT_JWKS_URL" in detail
    app.state.services.db.dispose()


def test_a_slow_jwks_server_holds_no_request_past_the_deadline(
    make_client: MakeClient, keys: Keys, jwks_server: JwksServer
) -> None:
    """The server answers after 5 s; the fetch deadline is 1 s: the request that fetches and
    one waiting behind it both get 503 with Retry-After at the deadline, not after 5 s."""
    jwks_server.delay = 5.0
    with make_client(jwt_jwks_fetch_deadline_seconds=1.0) as client:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=2) as pool:
            first = pool.submit(get_tasks, client, jwks_token(keys.ed))
            time.sleep(0.2)
            second = pool.submit(get_tasks, client, jwks_token(keys.rsa))
            responses = [first.result(), second.result()]
        elapsed = time.monotonic() - started
        for response in responses:
            body = assert_problem(response, 503)
            assert "JWKS" in body["detail"]
            assert int(response.headers["retry-after"]) >= 1
        assert elapsed < 3.0, elapsed
