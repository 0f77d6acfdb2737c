"""Bearer token → authenticated identity.

One verifier for every token, whoever issued it (the frontend's Better Auth server or
`python -m backend token`), with one algorithm per key (RFC 8725):

* HS256, signed with BETTER_AUTH_SECRET; HS* tokens are never checked against any other key.
* With JWT_JWKS_URL set, also EdDSA (Ed25519, Better Auth's default), RS256 and ES256,
  signed with the JWKS key named by the header's `kid`; the key's type and curve (and its
  JWK `alg`, when present) must match the header's `alg`. python-jose verifies RS256/ES256
  but has no EdDSA: there `cryptography` checks the Ed25519 signature, and python-jose
  the claims exactly as for the others.

Every token then passes the same claim checks (exp required, nbf/iat with leeway, iss/aud
when configured, sub). A refusal says which check failed and what would pass (python-jose's
exceptions do not: a missing claim and a bad signature are both a JWTError), without
secrets, and with any value taken from the token bounded and reduced to printable ASCII.
"""

import math
import re
import time
import unicodedata
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from jose import ExpiredSignatureError, JWSError, JWTError, jws, jwt
from jose.backends.base import Key
from jose.exceptions import JWTClaimsError

from backend.config import Settings
from backend.identity.errors import KeysUnavailable, Unauthorized
from backend.identity.jwks import (
    EDDSA,
    UNSUPPORTED_ED448,
    JwksCache,
    JwksUnavailable,
    b64url_bytes,
)

ALGORITHM = "HS256"  # the shared-secret algorithm, and the one this API issues
JWKS_ALGORITHMS = (EDDSA, "RS256", "ES256")
# RFC 9864's fully-specified name of EdDSA with Ed25519, treated as EdDSA.
ED25519_ALIAS = "Ed25519"
ED25519_SIGNATURE_BYTES = 64
NO_JWKS_DETAIL = (
    "The token is signed with {alg}, which needs the auth server's public keys: set "
    "JWT_JWKS_URL (e.g. http://localhost:3000/api/auth/jwks); without it only HS256 tokens "
    "signed with BETTER_AUTH_SECRET are accepted."
)
LEEWAY_SECONDS = 30
SHOWN_VALUE_MAX = 80  # characters of a claim's value quoted in a refusal
MAX_TIMESTAMP = 253402300800  # 10000-01-01T00:00:00Z: no date-time goes further
VERIFIED_CACHE_SIZE = 10_000  # tokens, each a few hundred bytes
SUBJECT_MAX = 255
# `sub` becomes users.id and appears in paths, logs and UIs; the email and name claims are
# shown too. None may hold a character that is invisible or moves text around, or "alice"
# and "alice\u200b" would be two accounts that look the same everywhere: by Unicode general
# category (unicodedata, so new characters are covered with Python's Unicode version).
_UNSAFE_CATEGORIES = {
    "Cc": "a control character",  # C0, DEL, C1
    "Cf": "a format character",  # zero-width, soft hyphen, BOM, bidirectional controls, tags
    "Cs": "a lone surrogate",
    "Zl": "a line separator",  # U+2028
    "Zp": "a paragraph separator",  # U+2029
}
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")  # RFC 6750 b64token


@dataclass(frozen=True, slots=True)
class Identity:
    user_id: str
    email: str | None = None
    name: str | None = None
    issued_at: float | None = None  # the token's iat, for revocation (identity.users)


def _finite_number(value: Any) -> bool:
    """A JSON number a timestamp can be: 1e400 parses as infinity, 10**400 overflows."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value) and abs(value) < MAX_TIMESTAMP
    except OverflowError:
        return False


def unsafe_character(text: str) -> str | None:
    """What is wrong with `text` for an id or a name shown to people ("U+200B, a format
    character"), or None when every character is safe."""
    for character in text:
        kind = _UNSAFE_CATEGORIES.get(unicodedata.category(character))
        if kind is not None:
            return f"U+{ord(character):04X}, {kind}"
    return None


def _optional_text(value: Any, max_length: int) -> str | None:
    """An email or name claim, kept only when it is safe text (it is optional: dropped,
    not refused)."""
    if isinstance(value, str) and 0 < len(value) <= max_length and not unsafe_character(value):
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
                deadline_seconds=settings.jwt_jwks_fetch_deadline_seconds,
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
        except (JWTError, RecursionError, OverflowError):
            raise Unauthorized("The token is malformed.") from None
        if "crit" in header:  # extensions this API does not understand (RFC 7515 §4.1.11)
            raise Unauthorized("The token's header has critical parameters this API rejects.")
        algorithm = header.get("alg")
        if algorithm == ED25519_ALIAS:
            algorithm = EDDSA
        if algorithm == ALGORITHM:
            claims = self._decode(token, self._key, algorithm)
        elif algorithm == UNSUPPORTED_ED448:
            raise Unauthorized("The token is signed with Ed448; EdDSA tokens must use Ed25519.")
        elif algorithm not in JWKS_ALGORITHMS:
            raise Unauthorized(self._algorithm_refused(algorithm))
        elif self._jwks is None:
            raise Unauthorized(NO_JWKS_DETAIL.format(alg=algorithm))
        else:
            key = await self._jwks_key(self._jwks, header, algorithm)
            if isinstance(key, Ed25519PublicKey):
                _verify_ed25519(token, key)
                claims = self._decode(token, "", algorithm, signature_checked=True)
            else:
                claims = self._decode(token, key, algorithm)
        return self._identity(claims), float(claims["exp"])

    def _algorithm_refused(self, algorithm: Any) -> str:
        signed = (
            "The token's header names no algorithm (alg)"
            if algorithm is None
            else f"The token is signed with {_shown(algorithm)}, which this API does not accept"
        )
        jwks_algorithms = ", ".join(JWKS_ALGORITHMS)
        if self._jwks is None:
            accepted = f"{ALGORITHM} (and {jwks_algorithms} once JWT_JWKS_URL is set)"
        else:
            accepted = f"{ALGORITHM}, {jwks_algorithms}"
        return f"{signed}; accepted: {accepted}."

    async def aclose(self) -> None:
        if self._jwks is not None:
            await self._jwks.aclose()

    @staticmethod
    async def _jwks_key(
        jwks: JwksCache, header: dict[str, Any], algorithm: str
    ) -> Key | Ed25519PublicKey:
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized(f"A {algorithm} token must name its signing key (kid).")
        try:
            found = await jwks.get(kid)
        except JwksUnavailable as error:
            raise KeysUnavailable(error.retry_after) from None
        if found is None:
            raise Unauthorized("The token's signing key (kid) is not in the auth server's JWKS.")
        if found.algorithm == UNSUPPORTED_ED448:
            raise Unauthorized("The token's key is an Ed448 key; EdDSA tokens must use Ed25519.")
        if found.algorithm != algorithm or found.key is None:
            raise Unauthorized(
                f"The token's alg {algorithm} does not match its key, a {found.algorithm} key."
            )
        return found.key

    def _decode(
        self, token: str, key: str | Key, algorithm: str, *, signature_checked: bool = False
    ) -> dict[str, Any]:
        """Signature with exactly one algorithm (unless already checked), then the
        registered claims, by python-jose; a refusal names the check that failed."""
        try:
            # Out-of-range numbers (1e400) and absurd nesting fail inside python-jose.
            unverified = jwt.get_unverified_claims(token)
        except (JWTError, ValueError, TypeError, OverflowError, RecursionError):
            raise Unauthorized(
                "The token is malformed: its payload is not a base64url-encoded JSON object."
            ) from None
        if not signature_checked:
            try:
                jws.verify(token, key, algorithms=[algorithm])
            except (JWSError, ValueError, TypeError, KeyError, OverflowError, RecursionError):
                raise Unauthorized(_signature_refused(algorithm)) from None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                "",  # the signature was verified above, with exactly this algorithm
                algorithms=[algorithm],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "verify_signature": False,
                    "require_exp": True,
                    "require_sub": True,
                    "verify_aud": self._audience is not None,
                    "require_aud": self._audience is not None,
                    "require_iss": self._issuer is not None,
                    "leeway": LEEWAY_SECONDS,
                },
            )
            return claims
        except (JWTError, ValueError, TypeError, KeyError, OverflowError, RecursionError) as error:
            raise Unauthorized(self._claims_refused(unverified, error)) from None

    def _claims_refused(self, claims: dict[str, Any], error: Exception) -> str:
        """Why python-jose refused claims under a valid signature, in words a client can act
        on; python-jose's own message when no rule of ours says more."""
        problem = self._claims_problem(claims)
        if problem is not None:
            return problem
        try:
            self._identity(claims)
        except Unauthorized as refused:
            return refused.detail
        if isinstance(error, ExpiredSignatureError):
            return "The token has expired; get a new one from the auth server."
        if isinstance(error, JWTClaimsError):
            return f"The token's claims are invalid: {error}."
        return "The token's claims are invalid."

    def _claims_problem(self, claims: dict[str, Any]) -> str | None:
        """The first of the registered claims that python-jose would refuse, explained."""
        now = time.time()
        if "exp" not in claims:
            return "The token has no exp claim; every token must say when it expires."
        if not _finite_number(claims["exp"]):
            return "The token's exp claim must be a finite number (seconds since 1970)."
        if "sub" not in claims:
            return "The token has no sub claim; it must carry the user id."
        if self._issuer is not None:
            if "iss" not in claims:
                return (
                    f"The token has no iss claim, and JWT_ISSUER requires {_shown(self._issuer)}; "
                    "the auth server must put that issuer in every token."
                )
            if claims["iss"] != self._issuer:
                return (
                    f"The token's issuer (iss) is {_shown(claims['iss'])}, but JWT_ISSUER "
                    f"expects {_shown(self._issuer)}."
                )
        if self._audience is not None:
            if "aud" not in claims:
                return (
                    f"The token has no aud claim, and JWT_AUDIENCE requires "
                    f"{_shown(self._audience)}; the auth server must put that audience in "
                    "every token."
                )
            audience = claims["aud"]
            audiences = [audience] if isinstance(audience, str) else audience
            if not (
                isinstance(audiences, list)
                and all(isinstance(a, str) for a in audiences)
                and self._audience in audiences
            ):
                return (
                    f"The token's audience (aud) is {_shown(audience)}, but JWT_AUDIENCE "
                    f"expects {_shown(self._audience)}."
                )
        if now - claims["exp"] > LEEWAY_SECONDS:
            ago = _duration(now - claims["exp"])
            return f"The token expired {ago} ago; get a new one from the auth server."
        for name in ("nbf", "iat"):
            if name in claims and not _finite_number(claims[name]):
                return f"The token's {name} claim must be a finite number (seconds since 1970)."
        if "nbf" in claims and claims["nbf"] - now > LEEWAY_SECONDS:
            ahead = _duration(claims["nbf"] - now)
            return (
                f"The token is not valid for another {ahead} (nbf); are the auth server's "
                "and this API's clocks in step?"
            )
        return None

    @staticmethod
    def _identity(claims: dict[str, Any]) -> Identity:
        subject = claims.get("sub")
        if not isinstance(subject, str) or not 0 < len(subject) <= SUBJECT_MAX:
            raise Unauthorized(
                f"The token's sub claim must be a user id of 1 to {SUBJECT_MAX} characters."
            )
        unsafe = unsafe_character(subject)
        if unsafe is not None:
            raise Unauthorized(
                f"The token's sub claim contains {unsafe}: a user id must not hold control, "
                "format (zero-width, byte-order mark, bidirectional) or line and paragraph "
                "separator characters."
            )
        if not _finite_number(claims.get("exp")):
            raise Unauthorized("The token's exp claim must be a finite number.")
        issued_at = claims.get("iat")
        if issued_at is not None and (
            not _finite_number(issued_at) or issued_at > time.time() + LEEWAY_SECONDS
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


def _verify_ed25519(token: str, key: Ed25519PublicKey) -> None:
    """The Ed25519 signature over `header.payload` (RFC 8037), by cryptography."""
    signing_input, _, signature = token.rpartition(".")
    try:
        raw = b64url_bytes(signature)
    except ValueError:
        raw = b""
    if len(raw) != ED25519_SIGNATURE_BYTES:
        raise Unauthorized(
            f"The token's signature is not an Ed25519 signature ({ED25519_SIGNATURE_BYTES} "
            "bytes, base64url-encoded)."
        )
    try:
        key.verify(raw, signing_input.encode("ascii"))
    except (InvalidSignature, ValueError):
        raise Unauthorized(_signature_refused(EDDSA)) from None


def _signature_refused(algorithm: str) -> str:
    if algorithm == ALGORITHM:
        return (
            "The token's signature does not match: HS256 tokens must be signed with "
            "BETTER_AUTH_SECRET, the same secret as the frontend's auth server."
        )
    return (
        f"The token's {algorithm} signature does not match the auth server's key that its "
        "kid names."
    )


def _shown(value: Any) -> str:
    """A value from a token (or a setting) quoted in a refusal: strings as printable ASCII
    without quotes or backslashes (the detail is repeated in WWW-Authenticate), at most
    SHOWN_VALUE_MAX characters; other JSON values by their type."""
    if isinstance(value, str):
        text = "".join(c for c in value if " " <= c <= "~" and c not in '"\\')
        if len(text) > SHOWN_VALUE_MAX:
            text = text[: SHOWN_VALUE_MAX - 3] + "..."
        return f"'{text}'"
    if isinstance(value, list):
        shown = [_shown(item) for item in value[:3]]
        return "[" + ", ".join(shown + (["..."] if len(value) > 3 else [])) + "]"
    if value is None:
        return "null"
    kinds = {bool: "a boolean", int: "a number", float: "a number", dict: "an object"}
    return kinds.get(type(value), "a value")


def _duration(seconds: float) -> str:
    """In the largest whole unit: 3 days, 5 hours, 1 minute, 40 seconds."""
    whole = int(seconds)
    unit, size = next(((unit, size) for unit, size in _UNITS if whole >= size), _UNITS[-1])
    count = whole // size
    return f"{count} {unit}{'' if count == 1 else 's'}"


_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


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
