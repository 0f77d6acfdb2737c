"""Tokens signed with the auth server's JWKS keys (RS256 / ES256), through HTTP.

A tiny JWKS server runs in a thread on 127.0.0.1 and counts the fetches it serves.
"""

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from fastapi.testclient import TestClient
from sqlalchemy import text

from backend.app import create_app
from tests.helpers import assert_problem, auth, count_rows, make_settings

ISSUER = "https://auth.example.com"
AUDIENCE = "https://app.example.com"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(data: dict[str, Any]) -> str:
    return b64url(json.dumps(data).encode())


def uint(value: int, size: int | None = None) -> str:
    return b64url(value.to_bytes(size or (value.bit_length() + 7) // 8, "big"))


def now() -> int:
    return int(time.time())


# --- keys and tokens ---


@dataclass
class SigningKey:
    """A private key of the test's auth server and its public JWK."""

    kid: str
    algorithm: str
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    @property
    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwk(self, **members: Any) -> dict[str, Any]:
        public = self.private.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            numbers = public.public_numbers()
            data = {"kty": "RSA", "n": uint(numbers.n), "e": uint(numbers.e)}
        else:
            point = public.public_numbers()
            data = {"kty": "EC", "crv": "P-256", "x": uint(point.x, 32), "y": uint(point.y, 32)}
        data.update({"kid": self.kid, "alg": self.algorithm, "use": "sig"}, **members)
        return {k: v for k, v in data.items() if v is not None}

    def sign(self, signing_input: bytes) -> bytes:
        if isinstance(self.private, rsa.RSAPrivateKey):
            return self.private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        r, s = decode_dss_signature(self.private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def rsa_key(kid: str) -> SigningKey:
    return SigningKey(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


def ec_key(kid: str) -> SigningKey:
    return SigningKey(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))


def claims_for(sub: str | None = "alice", **claims: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"sub": sub, "iat": now(), "exp": now() + 600, **claims}
    return {k: v for k, v in payload.items() if v is not None}


def compact(header: dict[str, Any], payload: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    signing_input = f"{b64json(header)}.{b64json(payload)}"
    return f"{signing_input}.{b64url(sign(signing_input.encode()))}"


def jwks_token(
    key: SigningKey,
    sub: str | None = "alice",
    *,
    alg: str | None = None,
    kid: str | None = None,
    **claims: Any,
) -> str:
    """Signed by `key`; the header's alg and kid are the key's unless overridden."""
    header = {"alg": alg or key.algorithm, "typ": "JWT", "kid": kid or key.kid}
    return compact(header, claims_for(sub, **claims), key.sign)


def hs256_token(secret: bytes, *, kid: str | None = None, **claims: Any) -> str:
    header = {"alg": "HS256", "typ": "JWT", **({"kid": kid} if kid else {})}
    return compact(
        header, claims_for(**claims), lambda data: hmac.new(secret, data, hashlib.sha256).digest()
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Keys:
    rsa: SigningKey
    ec: SigningKey
    rsa_impostor: SigningKey  # same kid as `rsa`, not in the set
    ec_impostor: SigningKey  # same kid as `ec`, not in the set
    rotated: SigningKey  # added to the set by the rotation tests


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys(
        rsa=rsa_key("rsa-1"),
        ec=ec_key("ec-1"),
        rsa_impostor=rsa_key("rsa-1"),
        ec_impostor=ec_key("ec-1"),
        rotated=ec_key("ec-2"),
    )


# --- the JWKS server ---


@dataclass
class JwksServer:
    url: str = ""
    jwks: list[dict[str, Any]] = field(default_factory=list)
    mode: str = "ok"  # ok | 500 | not-json | not-a-jwks
    delay: float = 0.0
    fetches: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self) -> tuple[int, bytes]:
        with self._lock:
            self.fetches += 1
        time.sleep(self.delay)
        if self.mode == "500":
            return 500, b'{"error": "boom"}'
        if self.mode == "not-json":
            return 200, b"<html>not json</html>"
        if self.mode == "not-a-jwks":
            return 200, b'{"keys": "none"}'
        return 200, json.dumps({"keys": self.jwks}).encode()


@pytest.fixture
def jwks_server(keys: Keys) -> Iterator[JwksServer]:
    state = JwksServer(jwks=[keys.rsa.jwk(), keys.ec.jwk()])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = state.serve()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/api/auth/jwks"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


def closed_port_url() -> str:
    """A URL on which nothing listens."""
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as server:
        port = server.server_address[1]
    return f"http://127.0.0.1:{port}/api/auth/jwks"


MakeClient = Callable[..., AbstractContextManager[TestClient]]


@pytest.fixture
def make_client(database_url: str, jwks_server: JwksServer) -> MakeClient:
    """An app on the suite's database, verifying against the test JWKS server."""

    @contextmanager
    def _make(**overrides: Any) -> Iterator[TestClient]:
        settings = make_settings(database_url, **{"jwt_jwks_url": jwks_server.url, **overrides})
        app = create_app(settings)
        with app.state.db.engine.begin() as connection:
            connection.execute(text("DELETE FROM tasks"))
            connection.execute(text("DELETE FROM users"))
        try:
            with TestClient(app, raise_server_exceptions=False) as client:
                yield client
        finally:
            app.state.db.dispose()

    return _make


@pytest.fixture
def client(make_client: MakeClient) -> Iterator[TestClient]:
    with make_client() as test_client:
        yield test_client


def get_tasks(client: TestClient, token: str, user: str = "alice") -> Any:
    return client.get(f"/api/{user}/tasks", headers=bearer(token))


def assert_401(response: Any) -> str:
    body = assert_problem(response, 401)
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="tasks", error="invalid_token", error_description="')
    return body["detail"]


# --- accepted ---


@pytest.mark.parametrize("which", ["rsa", "ec"])
def test_valid_rs256_and_es256_tokens_are_accepted(
    client: TestClient, keys: Keys, jwks_server: JwksServer, which: str
) -> None:
    key = getattr(keys, which)
    response = get_tasks(client, jwks_token(key, email="ada@example.com", name="Ada"))
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []
    with client.app.state.db.engine.connect() as connection:
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
    with make_client(jwt_jwks_cache_seconds=1, jwt_jwks_min_refetch_seconds=0) as client:
        assert get_tasks(client, jwks_token(keys.rsa)).status_code == 200
        time.sleep(1.1)
        jwks_server.delay = 3.0
        with ThreadPoolExecutor(max_workers=1) as pool:
            slow = pool.submit(get_tasks, client, jwks_token(keys.rsa, kid="new"))
            while jwks_server.fetches < 2:  # the refresh has started
                time.sleep(0.01)
            assert get_tasks(client, jwks_token(keys.ec)).status_code == 200
            assert not slow.done()  # answered while the refresh was still running
            assert_401(slow.result())
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
        detail = assert_401(get_tasks(client, jwks_token(impostor)))
        assert "signature" in detail
    assert count_rows(client.app.state.db.engine, "users") == 0


def test_tampered_payload_is_rejected(client: TestClient, keys: Keys) -> None:
    for key in (keys.rsa, keys.ec):
        header, _, signature = jwks_token(key).split(".")
        forged = b64json(claims_for("alice", name="admin"))
        assert_401(get_tasks(client, f"{header}.{forged}.{signature}"))


def test_expired_token_is_rejected(client: TestClient, keys: Keys) -> None:
    for key in (keys.rsa, keys.ec):
        detail = assert_401(get_tasks(client, jwks_token(key, exp=now() - 120, iat=now() - 720)))
        assert "expired" in detail
        # Without exp at all: rejected as well.
        assert_401(get_tasks(client, jwks_token(key, exp=None)))


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
    assert_401(get_tasks(client, jwks_token(keys.ec, **claims)))


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
                assert_401(get_tasks(client, jwks_token(key, **claims)))


def test_unknown_kids_are_rejected_and_refetch_at_most_once_per_interval(
    make_client: MakeClient, keys: Keys, jwks_server: JwksServer
) -> None:
    with make_client() as client:  # the default interval: 30 seconds
        assert get_tasks(client, jwks_token(keys.rsa)).status_code == 200
        assert jwks_server.fetches == 1
        # Within the interval since that fetch: bogus kids fetch nothing.
        for _ in range(25):
            detail = assert_401(get_tasks(client, jwks_token(keys.rsa, kid=uuid.uuid4().hex)))
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
            assert_401(get_tasks(client, jwks_token(keys.rsa, kid=uuid.uuid4().hex)))
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
        assert_401(get_tasks(client, token))
        assert jwks_server.fetches == 1
        time.sleep(1.1)
        assert get_tasks(client, token).status_code == 200
        assert jwks_server.fetches == 2
        # A key removed from the set is gone after the next fetch.
        jwks_server.jwks = [keys.rotated.jwk()]
        time.sleep(1.1)
        assert_401(get_tasks(client, jwks_token(keys.rsa, kid="unknown")))  # triggers a fetch
        assert jwks_server.fetches == 3
        assert_401(get_tasks(client, jwks_token(keys.rsa)))


def test_hs256_signed_with_the_public_key_is_rejected(
    client: TestClient, keys: Keys, jwks_server: JwksServer
) -> None:
    assert get_tasks(client, jwks_token(keys.rsa)).status_code == 200  # the set is loaded
    for key in (keys.rsa, keys.ec):
        secrets = [key.public_pem, json.dumps(key.jwk()).encode()]
        for secret in secrets:
            for kid in (None, key.kid):
                assert_401(get_tasks(client, hs256_token(secret, kid=kid)))
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
        assert "does not match its key" in assert_401(get_tasks(client, token))


def test_jwk_alg_member_must_match(
    make_client: MakeClient, keys: Keys, jwks_server: JwksServer
) -> None:
    # An RSA key published for PS256 (not supported) and an EC key published as "RS256".
    jwks_server.jwks = [keys.rsa.jwk(alg="PS256"), keys.ec.jwk(alg="RS256")]
    with make_client() as client:
        assert_401(get_tasks(client, jwks_token(keys.rsa)))
        assert_401(get_tasks(client, jwks_token(keys.ec)))
    # Without an alg member the key type decides.
    jwks_server.jwks = [keys.rsa.jwk(alg=None), keys.ec.jwk(alg=None, use=None)]
    with make_client() as client:
        assert get_tasks(client, jwks_token(keys.rsa)).status_code == 200
        assert get_tasks(client, jwks_token(keys.ec)).status_code == 200


def test_eddsa_token_is_rejected_with_a_configuration_hint(
    client: TestClient, jwks_server: JwksServer
) -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    token = compact({"alg": "EdDSA", "typ": "JWT", "kid": "ed-1"}, claims_for(), private.sign)
    response = get_tasks(client, token)
    detail = assert_401(response)
    assert 'keyPairConfig: { alg: "ES256" }' in detail
    assert "RS256" in detail
    assert "keyPairConfig" in response.headers["www-authenticate"]
    assert jwks_server.fetches == 0


@pytest.mark.parametrize("alg", ["none", "None", "HS384", "PS256", "RS512", "ES384", ""])
def test_other_algorithms_are_rejected(
    client: TestClient, keys: Keys, jwks_server: JwksServer, alg: str
) -> None:
    header = {"alg": alg, "typ": "JWT", "kid": keys.rsa.kid}
    for signature in (b"", keys.rsa.sign(b"x")):
        token = compact(header, claims_for(), lambda _data, sig=signature: sig)
        assert_401(get_tasks(client, token))
    assert jwks_server.fetches == 0


def test_critical_header_parameters_are_rejected(client: TestClient, keys: Keys) -> None:
    header = {"alg": "RS256", "kid": keys.rsa.kid, "crit": ["exp"], "exp": now() + 60}
    assert_401(get_tasks(client, compact(header, claims_for(), keys.rsa.sign)))


def test_token_without_kid_is_rejected(client: TestClient, keys: Keys) -> None:
    token = compact({"alg": "RS256", "typ": "JWT"}, claims_for(), keys.rsa.sign)
    assert "kid" in assert_401(get_tasks(client, token))


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
        assert_401(get_tasks(client, jwks_token(keys.rsa, kid="unknown")))
        jwks_server.mode = "ok"
        jwks_server.jwks.append(keys.rotated.jwk())
        assert get_tasks(client, jwks_token(keys.rotated)).status_code == 200


def test_without_jwks_url_only_hs256_is_accepted(database_url: str, keys: Keys) -> None:
    app = create_app(make_settings(database_url))
    with TestClient(app, raise_server_exceptions=False) as client:
        detail = assert_401(get_tasks(client, jwks_token(keys.rsa)))
        assert "HS256" in detail
        assert get_tasks(client, jwks_token(keys.ec)).status_code == 401
    app.state.db.dispose()
