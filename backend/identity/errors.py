"""What identity refuses, as named problems (backend.http.problems renders them)."""

from backend.errors import ProblemError, ServiceUnavailable


def _challenge(description: str | None) -> dict[str, str]:
    if description is None:  # no credentials at all: no error code (RFC 6750 §3.1)
        return {"WWW-Authenticate": 'Bearer realm="tasks"'}
    # error_description is a quoted-string of printable ASCII without quote or backslash.
    safe = "".join(c for c in description if " " <= c <= "~" and c not in '"\\')
    return {
        "WWW-Authenticate": (
            f'Bearer realm="tasks", error="invalid_token", error_description="{safe}"'
        )
    }


class Unauthorized(ProblemError):
    """401 with a bearer challenge: no token, or one that cannot be accepted (RFC 6750)."""

    status = 401

    def __init__(self, detail: str, *, token_sent: bool = True) -> None:
        super().__init__(detail, headers=_challenge(detail.rstrip(".") if token_sent else None))


class TokenRevoked(Unauthorized):
    """A token issued before its user's password change or account deletion."""

    def __init__(self) -> None:
        super().__init__(
            "The token was issued before the account's password changed or the account was "
            "deleted; sign in again."
        )


class NotYourTasks(ProblemError):
    """The path's user is not the token's subject."""

    status = 403

    def __init__(self) -> None:
        super().__init__("The token does not grant access to another user's tasks.")


class KeysUnavailable(ServiceUnavailable):
    """The auth server's signing keys (JWKS) cannot be fetched yet."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "The auth server's signing keys (JWKS) cannot be fetched; retry later.",
            retry_after,
            reason="JWKS unavailable",
        )


class InvalidCredentials(ProblemError):
    status = 401

    def __init__(self) -> None:
        super().__init__("The email or password is incorrect.")


class EmailTaken(ProblemError):
    status = 409

    def __init__(self) -> None:
        super().__init__("An account with this email already exists.")


class WrongPassword(ProblemError):
    status = 403

    def __init__(self) -> None:
        super().__init__("The current password is incorrect.")


class NoPassword(ProblemError):
    status = 409

    def __init__(self) -> None:
        super().__init__("This account signs in through the auth server; it has no password here.")


class TooManyAttempts(ProblemError):
    status = 429

    def __init__(self, retry_after: int, key: str = "") -> None:
        super().__init__(
            f"Too many attempts; retry in {retry_after} seconds.",
            headers={"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after
        self.key = key  # the throttle that refused
