"""Helpers for the identity tests: hand-built token segments and the 401 of a token that
cannot be accepted. Tokens and headers themselves: tests/helpers.py."""

import base64
import json
from typing import Any

from tests.helpers import assert_problem


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
