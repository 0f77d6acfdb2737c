"""Bearer token → authenticated identity.

One verifier for every token, whoever issued it (the frontend's Better Auth server or
`python -m backend token`), with one algorithm per key (RFC 8725):

* HS256, signed with BETTER_AUTH_SECRET; HS* tokens are never checked against any other key.
* With JWT_JWKS_URL set, also RS256 / ES256, signed with the JWKS key named by the header's
  `kid`; the key's type (and its JWK `alg`, when present) must match the header's `alg`.

Every token then passes the same claim checks (exp required, nbf/iat with leeway, iss/aud
when configured, sub).
"""

import re
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from jose import ExpiredSignatureError, JWTError, jwt
from jose.backends.base import Key
from jose.exceptions import JWTClaimsError

from backend.config import Settings
from backend.identity.errors import KeysUnavailable, Unauthorized
from backend.identity.jwks import JwksCache, JwksUnavailable

ALGORITHM = "HS256"  # the shared-secret algorithm, and the one this API issues
JWKS_ALGORITHMS = ("RS256", "ES256")
# python-jose cannot verify EdDSA, Better Auth's default: say how to configure it instead.
EDDSA_ALGORITHMS = ("EdDSA", "Ed25519", "Ed448")
EDDSA_DETAIL = (
    "The token is signed with EdDSA, which this API cannot verify: configure Better Auth's "
    'JWT plugin with jwt({ jwks: { keyPairConfig: { alg: "ES256" } } }) (or "RS256").'
)
LEEWAY_SECONDS = 30
VERIFIED_CACHE_SIZE = 10_000  # tokens, each a few hundred bytes
# `sub` becomes users.id: bounded, printable, no control characters.
_SUBJECT = re.compile(r"^[^\x00-\x1f\x7f]{1,255}$")
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")  # RFC 6750 b64token


@dataclass(frozen=True, slots=True)
class Identity:
    user_id: str
    email: str | None = None
    name: str | None = None
    issued_at: float | None = None  # the token's iat, for revocation (identity.users)


def _optional_text(value: Any, max_length: int) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= max_length and _SUBJECT.match(value):
        return value
    return None


class TokenVerifier:
    def __init__(self, settings: Settings) -> None:
        self._key = settings.better_auth_secret.get_secret_value()
        self._verified: OrderedDict[str, tuple[Identity, float]] = OrderedDict()
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._jwks = (
            JwksCache(
                settings.jwt_jwks_url,
                cache_seconds=settings.jwt_jwks_cache_seconds,
                min_refetch_seconds=settings.jwt_jwks_min_refetch_seconds,
            )
            if settings.jwt_jwks_url
            else None
        )

    async def verify(self, token: str) -> Identity:
        cached = self._verified.get(token)
        if cached is not None:
            identity, expires_at = cached
            if time.time() <= expires_at + LEEWAY_SECONDS:
                return identity
            del self._verified[token]
        identity, expires_at = await self._verify(token)
        # A client sends the same token with every request: verifying it once saves the
        # signature and claim checks (most of the cost of authentication) until it expires.
        # Revocation is not affected: it is checked against the database on every request.
        self._verified[token] = (identity, expires_at)
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return identity

    async def _verify(self, token: str) -> tuple[Identity, float]:
        try:
            header = jwt.get_unverified_header(token)
        except JWTError:
            raise Unauthorized("The token is malformed.") from None
        if "crit" in header:  # extensions this API does not understand (RFC 7515 §4.1.11)
            raise Unauthorized("The token's header has critical parameters this API rejects.")
        algorithm = header.get("alg")
        key: str | Key
        if algorithm == ALGORITHM:
            key = self._key
        elif self._jwks is None:
            raise Unauthorized(f"The token must be signed with {ALGORITHM}.")
        elif algorithm in EDDSA_ALGORITHMS:
            raise Unauthorized(EDDSA_DETAIL)
        elif algorithm in JWKS_ALGORITHMS:
            key = await self._jwks_key(self._jwks, header, algorithm)
        else:
            allowed = ", ".join((ALGORITHM, *JWKS_ALGORITHMS))
            raise Unauthorized(f"The token must be signed with one of {allowed}.")
        claims = self._decode(token, key, algorithm)
        return self._identity(claims), float(claims["exp"])

    @staticmethod
    async def _jwks_key(jwks: JwksCache, header: dict[str, Any], algorithm: str) -> Key:
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized(f"A {algorithm} token must name its signing key (kid).")
        try:
            found = await jwks.get(kid)
        except JwksUnavailable as error:
            raise KeysUnavailable(error.retry_after) from None
        if found is None:
            raise Unauthorized("The token's signing key (kid) is not in the auth server's JWKS.")
        if found.algorithm != algorithm:
            raise Unauthorized(
                f"The token's alg {algorithm} does not match its key, a {found.algorithm} key."
            )
        return found.key

    def _decode(self, token: str, key: str | Key, algorithm: str) -> dict[str, Any]:
        """Signature with exactly one algorithm, then the registered claims."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
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
            return claims
        except ExpiredSignatureError:
            raise Unauthorized("The token has expired.") from None
        except JWTClaimsError as error:
            raise Unauthorized(f"The token's claims are invalid: {error}.") from None
        except (JWTError, ValueError, TypeError, KeyError):
            raise Unauthorized("The token's signature or format is invalid.") from None

    @staticmethod
    def _identity(claims: dict[str, Any]) -> Identity:
        subject = claims.get("sub")
        if not isinstance(subject, str) or not _SUBJECT.match(subject):
            raise Unauthorized("The token's sub claim must be a non-empty user id.")
        issued_at = claims.get("iat")
        if issued_at is not None and (
            not isinstance(issued_at, int | float) or issued_at > time.time() + LEEWAY_SECONDS
        ):
            raise Unauthorized("The token's iat claim is invalid or in the future.")
        return Identity(
            user_id=subject,
            email=_optional_text(claims.get("email"), 320),
            name=_optional_text(claims.get("name"), 255),
            issued_at=issued_at,
        )

    def issue(
        self,
        subject: str,
        *,
        ttl_seconds: int = 3600,
        email: str | None = None,
        name: str | None = None,
    ) -> str:
        # A fractional iat (RFC 7519 NumericDate) orders a token after a password change
        # made earlier in the same second.
        now = time.time()
        claims: dict[str, Any] = {
            "sub": subject,
            "iat": round(now, 6),
            "exp": int(now) + ttl_seconds,
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
        token: str = jwt.encode(claims, self._key, algorithm=ALGORITHM)
        return token


def bearer_token(authorization: str | None) -> str:
    """The token of an Authorization header (RFC 6750), or 401 saying what is wrong."""
    if not authorization:
        raise Unauthorized(
            "Authentication required: send Authorization: Bearer <token>.", token_sent=False
        )
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthorized("The Authorization scheme must be Bearer.", token_sent=False)
    token = token.strip()
    if not token or not _TOKEN_CHARS.match(token):
        raise Unauthorized("The token is malformed.")
    return token
