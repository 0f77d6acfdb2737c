"""backend.identity.tokens.bearer_token, reading the Authorization header (RFC 6750): no
HTTP, no database (the same rules through the API: test_auth.py)."""

import pytest

from backend.identity.errors import Unauthorized
from backend.identity.tokens import bearer_token

NO_CREDENTIALS = 'Bearer realm="tasks"'
INVALID_TOKEN = 'Bearer realm="tasks", error="invalid_token", error_description="'


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc", "abc"),
        ("BEARER abc", "abc"),
        ("Bearer   abc  ", "abc"),
        ("Bearer A-Za-z0-9-._~+/", "A-Za-z0-9-._~+/"),
        ("Bearer abc==", "abc=="),
    ],
)
def test_the_token_of_a_bearer_header(header: str, token: str) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize("header", [None, ""])
def test_no_header_is_401_without_an_error_code(header: str | None) -> None:
    with pytest.raises(Unauthorized) as refused:
        bearer_token(header)
    assert refused.value.status == 401
    assert refused.value.headers == {"WWW-Authenticate": NO_CREDENTIALS}
    assert "Authorization: Bearer" in refused.value.detail


@pytest.mark.parametrize("header", ["Basic YWxpY2U6c2VjcmV0", "Token abc", "Bearer\tabc", "abc"])
def test_another_scheme_is_401_without_an_error_code(header: str) -> None:
    with pytest.raises(Unauthorized) as refused:
        bearer_token(header)
    assert refused.value.headers == {"WWW-Authenticate": NO_CREDENTIALS}
    assert "Bearer" in refused.value.detail


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "bearer  ", "Bearer a b", "Bearer a=b", "Bearer =abc", "Bearer ab\u00e7"],
)
def test_a_malformed_token_is_401_invalid_token(header: str) -> None:
    with pytest.raises(Unauthorized) as refused:
        bearer_token(header)
    assert refused.value.status == 401
    assert refused.value.headers["WWW-Authenticate"].startswith(INVALID_TOKEN)
    assert refused.value.detail == "The token is malformed."
