"""A refused token's 401 names the cause and what would pass (issue 20): a frontend team
reads `detail` (or the challenge's error_description) and knows what to change. One test per
cause, through HTTP; none of them may echo a secret, and what they echo from the token is
bounded and reduced to printable ASCII."""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.app import create_app
from tests.helpers import SECRET, claims_for, make_settings, now, token_for
from tests.identity.helpers import assert_invalid_token, b64json
from tests.identity.jwks_support import Keys, MakeClient, compact, get_tasks, jwks_token

# Better Auth's jwt() plugin puts its base URL in both.
BASE_URL = "http://localhost:3000"


@pytest.fixture
def strict(database_url: str) -> Iterator[TestClient]:
    """An API configured with JWT_ISSUER and JWT_AUDIENCE, as docs/frontends.md advises."""
    app = create_app(make_settings(database_url, jwt_issuer=BASE_URL, jwt_audience=BASE_URL))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
    app.state.services.db.dispose()


def refusal(client: TestClient, token: str) -> str:
    """The detail of the token's 401, checked to be the challenge's description too."""
    response = get_tasks(client, token)
    detail = assert_invalid_token(response)
    challenge = response.headers["www-authenticate"]
    assert f'error_description="{detail.rstrip(".")}"' in challenge
    assert SECRET not in detail
    return detail


def test_missing_iss_names_jwt_issuer_and_its_value(strict: TestClient) -> None:
    # The case: a frontend's own HS256 token route that sets neither iss nor aud.
    detail = refusal(strict, token_for("alice"))
    assert detail == (
        f"The token has no iss claim, and JWT_ISSUER requires '{BASE_URL}'; the auth server "
        "must put that issuer in every token."
    )


def test_missing_aud_names_jwt_audience_and_its_value(strict: TestClient) -> None:
    detail = refusal(strict, token_for("alice", iss=BASE_URL))
    assert detail == (
        f"The token has no aud claim, and JWT_AUDIENCE requires '{BASE_URL}'; the auth server "
        "must put that audience in every token."
    )


def test_wrong_issuer_says_expected_and_got(strict: TestClient) -> None:
    detail = refusal(strict, token_for("alice", iss="http://localhost:3001", aud=BASE_URL))
    assert detail == (
        f"The token's issuer (iss) is 'http://localhost:3001', but JWT_ISSUER expects '{BASE_URL}'."
    )


@pytest.mark.parametrize(
    ("aud", "shown"),
    [
        ("http://localhost:3001", "'http://localhost:3001'"),
        (["tasks-api", "other"], "['tasks-api', 'other']"),
        (42, "a number"),
    ],
)
def test_wrong_audience_says_expected_and_got(strict: TestClient, aud: Any, shown: str) -> None:
    detail = refusal(strict, token_for("alice", iss=BASE_URL, aud=aud))
    assert (
        detail == f"The token's audience (aud) is {shown}, but JWT_AUDIENCE expects '{BASE_URL}'."
    )


def test_an_echoed_value_is_bounded_and_printable(strict: TestClient) -> None:
    # A hostile issuer: quotes, a CRLF (header injection), bidi overrides, and 10 kB of it.
    hostile = 'evil"\r\nSet-Cookie: x=1\u202e\\' + "x" * 10_000
    response = get_tasks(strict, token_for("alice", iss=hostile, aud=BASE_URL))
    detail = assert_invalid_token(response)
    assert detail.startswith("The token's issuer (iss) is 'evilSet-Cookie: x=1xxx")
    assert len(detail) < 250
    assert all(" " <= c <= "~" for c in detail)
    assert '"' not in detail.split("is ", 1)[1].split(", but")[0]
    assert "set-cookie" not in response.headers
    assert len(response.headers["www-authenticate"]) < 300


def test_missing_exp(client: TestClient) -> None:
    detail = refusal(client, token_for("alice", exp=None))
    assert detail == "The token has no exp claim; every token must say when it expires."


def test_exp_that_is_not_a_number(client: TestClient) -> None:
    detail = refusal(client, token_for("alice", exp="tomorrow"))
    assert detail == "The token's exp claim must be a finite number (seconds since 1970)."


def test_missing_sub(client: TestClient) -> None:
    detail = refusal(client, token_for(None))
    assert detail == "The token has no sub claim; it must carry the user id."


@pytest.mark.parametrize(
    ("seconds", "ago"),
    [(95, "1 minute"), (7300, "2 hours"), (3 * 86400 + 5, "3 days")],
)
def test_expired_says_how_long_ago(client: TestClient, seconds: int, ago: str) -> None:
    detail = refusal(client, token_for("alice", exp=now() - seconds, iat=now() - seconds - 600))
    assert detail == f"The token expired {ago} ago; get a new one from the auth server."


def test_not_yet_valid_says_for_how_long(client: TestClient) -> None:
    detail = refusal(client, token_for("alice", nbf=now() + 7200 + 30))
    assert detail.startswith("The token is not valid for another 2 hours (nbf)")


def test_a_refused_algorithm_lists_the_accepted_ones(client: TestClient) -> None:
    detail = refusal(client, token_for("alice", algorithm="HS512"))
    assert detail == (
        "The token is signed with 'HS512', which this API does not accept; accepted: HS256 "
        "(and EdDSA, RS256, ES256 once JWT_JWKS_URL is set)."
    )
    none = f"{b64json({'alg': 'none'})}.{b64json(claims_for())}."
    assert "signed with 'none', which this API does not accept" in refusal(client, none)
    no_alg = f"{b64json({'typ': 'JWT'})}.{b64json(claims_for())}.c2ln"
    assert refusal(client, no_alg).startswith("The token's header names no algorithm (alg)")


def test_with_jwks_the_accepted_algorithms_include_its_own(
    make_client: MakeClient, keys: Keys
) -> None:
    with make_client() as client:
        detail = refusal(client, jwks_token(keys.ec, alg="PS256"))
    assert detail.endswith("accepted: HS256, EdDSA, RS256, ES256.")


def test_a_bad_hs256_signature_names_the_shared_secret(client: TestClient) -> None:
    token = token_for("alice", key="not-the-secret-but-long-enough-0123456789")
    detail = refusal(client, token)
    assert detail == (
        "The token's signature does not match: HS256 tokens must be signed with "
        "BETTER_AUTH_SECRET, the same secret as the frontend's auth server."
    )


def test_a_bad_jwks_signature_says_so(make_client: MakeClient, keys: Keys) -> None:
    with make_client() as client:
        for impostor in (keys.rsa_impostor, keys.ec_impostor, keys.ed_impostor):
            detail = refusal(client, jwks_token(impostor))
            assert detail == (
                f"The token's {impostor.algorithm} signature does not match the auth "
                "server's key that its kid names."
            )
        # Not even 64 bytes: not an Ed25519 signature at all.
        header, payload, _ = jwks_token(keys.ed).split(".")
        detail = refusal(client, f"{header}.{payload}.c2ln")
        assert detail.startswith("The token's signature is not an Ed25519 signature")


def test_the_claims_of_a_jwks_token_are_explained_too(make_client: MakeClient, keys: Keys) -> None:
    # EdDSA's signature is checked by cryptography, the others' by python-jose: the claim
    # refusals are the same for both paths.
    with make_client(jwt_issuer=BASE_URL, jwt_audience=BASE_URL) as client:
        for key in (keys.ed, keys.rsa):
            detail = refusal(client, jwks_token(key, iss="http://elsewhere", aud=BASE_URL))
            assert detail.startswith("The token's issuer (iss) is 'http://elsewhere'")
            detail = refusal(client, jwks_token(key, iss=BASE_URL))
            assert detail.startswith("The token has no aud claim, and JWT_AUDIENCE requires")


def test_a_payload_that_is_not_json_is_malformed(client: TestClient) -> None:
    header = b64json({"alg": "HS256", "typ": "JWT"})
    detail = refusal(client, f"{header}.bm90LWpzb24.c2ln")
    assert detail.startswith("The token is malformed: its payload")


def test_a_token_that_passes_every_check_is_accepted(strict: TestClient, keys: Keys) -> None:
    # The explanations changed nothing about what is accepted.
    assert get_tasks(strict, token_for("alice", iss=BASE_URL, aud=BASE_URL)).status_code == 200
    assert get_tasks(strict, token_for("alice", iss=BASE_URL, aud=[BASE_URL])).status_code == 200
    header = {"alg": "HS256", "typ": "JWT"}
    unsigned = compact(header, claims_for(iss=BASE_URL, aud=BASE_URL), lambda _: b"")
    assert_invalid_token(get_tasks(strict, unsigned))
