"""Bearer token → authenticated identity, and the path-user guard.

One verifier for every token, whoever issued it (the frontend's Better Auth server or
`python -m backend token`): HS256 only, signed with BETTER_AUTH_SECRET (RFC 8725).
"""

import re
import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from jose import ExpiredSignatureError, JWTError, jwt
from jose.exceptions import JWTClaimsError

from backend.config import Settings
from backend.errors import ApiError

ALGORITHM = "HS256"
LEEWAY_SECONDS = 30
# `sub` becomes users.id: bounded, printable, no control characters.
_SUBJECT = re.compile(r"^[^\x00-\x1f\x7f]{1,255}$")
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")  # RFC 6750 b64token


@dataclass(frozen=True, slots=True)
class Identity:
    user_id: str
    email: str | None = None
    name: str | None = None


def _challenge(description: str | None = None) -> dict[str, str]:
    if description is None:  # no credentials at all: no error code (RFC 6750 §3.1)
        return {"WWW-Authenticate": 'Bearer realm="tasks"'}
    # error_description is a quoted-string of printable ASCII without quote or backslash.
    safe = "".join(c for c in description if " " <= c <= "~" and c not in '"\\')
    return {
        "WWW-Authenticate": (
            f'Bearer realm="tasks", error="invalid_token", error_description="{safe}"'
        )
    }


def _unauthorized(detail: str, *, token_sent: bool = True) -> ApiError:
    return ApiError(401, detail, headers=_challenge(detail.rstrip(".") if token_sent else None))


def _optional_text(value: Any, max_length: int) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= max_length and _SUBJECT.match(value):
        return value
    return None


class TokenVerifier:
    def __init__(self, settings: Settings) -> None:
        self._key = settings.better_auth_secret.get_secret_value()
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience

    def verify(self, token: str) -> Identity:
        try:
            header = jwt.get_unverified_header(token)
        except JWTError:
            raise _unauthorized("The token is malformed.") from None
        if header.get("alg") != ALGORITHM:
            raise _unauthorized(f"The token must be signed with {ALGORITHM}.")
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require_exp": True,
                    "require_sub": True,
                    "verify_aud": self._audience is not None,
                    "require_aud": self._audience is not None,
                    "require_iss": self._issuer is not None,
                    "leeway": LEEWAY_SECONDS,
                },
            )
        except ExpiredSignatureError:
            raise _unauthorized("The token has expired.") from None
        except JWTClaimsError as error:
            raise _unauthorized(f"The token's claims are invalid: {error}.") from None
        except (JWTError, ValueError, TypeError, KeyError):
            raise _unauthorized("The token's signature or format is invalid.") from None
        return self._identity(claims)

    @staticmethod
    def _identity(claims: dict[str, Any]) -> Identity:
        subject = claims.get("sub")
        if not isinstance(subject, str) or not _SUBJECT.match(subject):
            raise _unauthorized("The token's sub claim must be a non-empty user id.")
        issued_at = claims.get("iat")
        if issued_at is not None and (
            not isinstance(issued_at, int | float) or issued_at > time.time() + LEEWAY_SECONDS
        ):
            raise _unauthorized("The token's iat claim is invalid or in the future.")
        return Identity(
            user_id=subject,
            email=_optional_text(claims.get("email"), 320),
            name=_optional_text(claims.get("name"), 255),
        )

    def issue(
        self,
        subject: str,
        *,
        ttl_seconds: int = 3600,
        email: str | None = None,
        name: str | None = None,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": subject,
            "iat": now,
            "exp": now + ttl_seconds,
            "jti": uuid.uuid4().hex,
        }
        if email:
            claims["email"] = email
        if name:
            claims["name"] = name
        if self._issuer:
            claims["iss"] = self._issuer
        if self._audience:
            claims["aud"] = self._audience
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)


async def authenticate(request: Request) -> Identity:
    """Async, so no threadpool hop. Runs before any body is read: a request without a
    token is 401 whatever its body."""
    authorization = request.headers.get("authorization")
    if not authorization:
        raise _unauthorized(
            "Authentication required: send Authorization: Bearer <token>.", token_sent=False
        )
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        raise _unauthorized("The Authorization scheme must be Bearer.", token_sent=False)
    token = token.strip()
    if not token or not _TOKEN_CHARS.match(token):
        raise _unauthorized("The token is malformed.")
    verifier: TokenVerifier = request.app.state.token_verifier
    return verifier.verify(token)


async def path_user(user_id: str, identity: Annotated[Identity, Depends(authenticate)]) -> Identity:
    """The path's user_id must be the token's subject."""
    if user_id != identity.user_id:
        raise ApiError(403, "The token does not grant access to another user's tasks.")
    return identity


CurrentUser = Annotated[Identity, Depends(path_user)]
