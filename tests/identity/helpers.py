"""Helpers for the identity tests: hand-built token segments, the 401 of a token that
cannot be accepted, and clients of own accounts on other "machines". Tokens and headers
themselves: tests/helpers.py."""

import base64
import json
from typing import Any

import httpx

from tests.helpers import assert_problem

PASSWORD = "a long and unusual passphrase 42"


def client_at(base_url: str, address: str = "127.0.0.1") -> httpx.Client:
    """A client whose connections come from `address` (any of 127.0.0.0/8): another machine."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=base_url, transport=transport, timeout=30)


def sign_up(client: httpx.Client, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = client.post(
        "/api/auth/sign-up", json={"email": email, "password": password, "name": "Vic"}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def sign_in(client: httpx.Client, email: str, password: str, **extra: str) -> httpx.Response:
    return client.post("/api/auth/sign-in", json={"email": email, "password": password, **extra})


def b64url(data: bytes) -> str:
    """base64url without padding, as in a JWS compact serialisation."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(data: dict[str, Any]) -> str:
    """A JSON object as a token's header or payload segment."""
    return b64url(json.dumps(data).encode())


def assert_invalid_token(response: Any) -> str:
    """A 401 problem with the RFC 6750 invalid_token challenge; its detail."""
    body = assert_problem(response, 401)
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="tasks", error="invalid_token", error_description="')
    return body["detail"]
