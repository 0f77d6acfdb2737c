"""The test's auth server: signing keys (RSA, EC P-256, Ed25519, Ed448), compact JWS
tokens, and a JWKS server in a thread on 127.0.0.1 that counts the fetches it serves."""

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from fastapi.testclient import TestClient

from tests.helpers import bearer, claims_for
from tests.identity.helpers import b64json, b64url


def uint(value: int, size: int | None = None) -> str:
    return b64url(value.to_bytes(size or (value.bit_length() + 7) // 8, "big"))


# --- keys and tokens ---


@dataclass
class SigningKey:
    """A private key of the test's auth server and its public JWK."""

    kid: str
    algorithm: str
    private: (
        rsa.RSAPrivateKey
        | ec.EllipticCurvePrivateKey
        | ed25519.Ed25519PrivateKey
        | ed448.Ed448PrivateKey
    )

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
        elif isinstance(public, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            curve = "Ed25519" if isinstance(public, ed25519.Ed25519PublicKey) else "Ed448"
            data = {"kty": "OKP", "crv": curve, "x": b64url(raw)}  # as Better Auth publishes
        else:
            point = public.public_numbers()
            data = {"kty": "EC", "crv": "P-256", "x": uint(point.x, 32), "y": uint(point.y, 32)}
        data.update({"kid": self.kid, "alg": self.algorithm, "use": "sig"}, **members)
        return {k: v for k, v in data.items() if v is not None}

    def sign(self, signing_input: bytes) -> bytes:
        if isinstance(self.private, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
            return self.private.sign(signing_input)
        if isinstance(self.private, rsa.RSAPrivateKey):
            return self.private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        r, s = decode_dss_signature(self.private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def rsa_key(kid: str) -> SigningKey:
    return SigningKey(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


def ec_key(kid: str) -> SigningKey:
    return SigningKey(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))


def ed_key(kid: str) -> SigningKey:
    """Better Auth's default: EdDSA with Ed25519."""
    return SigningKey(kid, "EdDSA", ed25519.Ed25519PrivateKey.generate())


def ed448_key(kid: str) -> SigningKey:
    return SigningKey(kid, "EdDSA", ed448.Ed448PrivateKey.generate())


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


@dataclass
class Keys:
    rsa: SigningKey
    ec: SigningKey
    rsa_impostor: SigningKey  # same kid as `rsa`, not in the set
    ec_impostor: SigningKey  # same kid as `ec`, not in the set
    rotated: SigningKey  # added to the set by the rotation tests
    ed: SigningKey  # Ed25519, in the set
    ed_impostor: SigningKey  # same kid as `ed`, not in the set


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


def closed_port_url() -> str:
    """A URL on which nothing listens."""
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as server:
        port = server.server_address[1]
    return f"http://127.0.0.1:{port}/api/auth/jwks"


MakeClient = Callable[..., AbstractContextManager[TestClient]]


def get_tasks(client: TestClient, token: str, user: str = "alice") -> Any:
    return client.get(f"/api/{user}/tasks", headers=bearer(token))
