"""The auth server's public signing keys (a JWKS, e.g. Better Auth's `/api/auth/jwks`).

Fetched asynchronously with one shared httpx client, each fetch bounded by an overall
deadline (`jwt_jwks_fetch_deadline_seconds`: a server dripping bytes cannot hold a request
longer), and cached for `jwt_jwks_cache_seconds`. A token naming an
unknown `kid` triggers a fetch, but fetches (successful or not) are at most one per
`jwt_jwks_min_refetch_seconds`, and requests that waited for a fetch in progress use its
result instead of fetching again: a flood of bogus kids cannot hammer the auth server.
When a fetch fails, the last key set fetched successfully stays in use (the failure is
logged once per attempt); with no key set at all, `JwksUnavailable` is raised.

Only keys this API can verify are kept, each with the one algorithm allowed for it:
RSA (at least 2048 bits) → RS256, EC P-256 → ES256, OKP Ed25519 → EdDSA (Better Auth's
default). A JWK's own `alg`, when present, must be that algorithm; keys for other uses
(`use` other than `sig`) are skipped. Ed448 keys are kept as unsupported, so that a token
naming one gets a 401 that says so.
"""

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from jose import jwk
from jose.backends.base import Key

from backend import base64url

logger = logging.getLogger("backend.jwks")

MAX_JWKS_BYTES = 256 * 1024
MIN_RSA_BITS = 2048
ED25519_KEY_BYTES = 32
EDDSA = "EdDSA"
UNSUPPORTED_ED448 = "Ed448"  # the algorithm of a kept Ed448 key: never verifies
# The public members of each supported key type: private members are never passed on.
_PUBLIC_MEMBERS = {"RSA": ("kty", "n", "e"), "EC": ("kty", "crv", "x", "y")}


@dataclass(frozen=True, slots=True)
class VerificationKey:
    kid: str
    algorithm: str  # the only algorithm a token signed with this key may use
    # python-jose's key for RS256/ES256; cryptography's for EdDSA (python-jose has none).
    key: Key | Ed25519PublicKey | None


class JwksUnavailable(Exception):
    """No key set could be fetched yet; `retry_after` seconds until the next attempt."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("the JWKS could not be fetched")
        self.retry_after = retry_after


class _FetchError(Exception):
    pass


def b64url_bytes(value: Any) -> bytes:
    """A JWK member's or a JWT segment's bytes (ValueError for anything but base64url)."""
    if not isinstance(value, str) or not value:
        raise ValueError("not a base64url string")
    return base64url.decode(value)


def _b64url_int(value: Any) -> int:
    return int.from_bytes(b64url_bytes(value), "big")


def _algorithm_for(data: Mapping[str, Any]) -> str:
    """The algorithm allowed for this JWK; ValueError when it is not usable here."""
    kty = data.get("kty")
    if kty == "RSA":
        algorithm = "RS256"
        if _b64url_int(data.get("n")).bit_length() < MIN_RSA_BITS:
            raise ValueError(f"RSA key shorter than {MIN_RSA_BITS} bits")
    elif kty == "EC":
        algorithm = "ES256"
        if data.get("crv") != "P-256":
            raise ValueError(f"EC curve {data.get('crv')!r} is not P-256")
    elif kty == "OKP":
        algorithm = EDDSA
        if data.get("crv") == "Ed448":
            return UNSUPPORTED_ED448
        if data.get("crv") != "Ed25519":
            raise ValueError(f"OKP curve {data.get('crv')!r} is not Ed25519")
    else:
        raise ValueError(f"key type {kty!r} is not supported")
    if "alg" in data and data["alg"] != algorithm:
        raise ValueError(f"alg {data['alg']!r} is not {algorithm} for a {kty} key")
    if "use" in data and data["use"] != "sig":
        raise ValueError(f"use {data['use']!r} is not sig")
    key_ops = data.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        raise ValueError("key_ops does not allow verify")
    return algorithm


def parse_jwks(body: bytes) -> dict[str, VerificationKey]:
    """A JWKS document → usable keys by kid. _FetchError when it is not a JWKS at all."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _FetchError("the response is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise _FetchError("the response is not a JWKS (no keys array)")
    keys: dict[str, VerificationKey] = {}
    for data in document["keys"]:
        kid = data.get("kid") if isinstance(data, dict) else None
        if not isinstance(kid, str) or not kid:
            logger.warning("JWKS: skipped a key without a kid")
            continue
        if kid in keys:
            logger.warning("JWKS: skipped a second key with kid %r", kid)
            continue
        try:
            algorithm = _algorithm_for(data)
            key = _public_key(data, algorithm)
        except Exception as error:  # malformed members make jose raise almost anything
            reason = str(error) if isinstance(error, ValueError) else type(error).__name__
            logger.warning("JWKS: skipped key %r: %s", kid, reason)
            continue
        keys[kid] = VerificationKey(kid=kid, algorithm=algorithm, key=key)
    if not keys:
        logger.warning("JWKS: no usable key (RS256, ES256 or EdDSA) in the key set")
    return keys


def _public_key(data: Mapping[str, Any], algorithm: str) -> Key | Ed25519PublicKey | None:
    if algorithm == UNSUPPORTED_ED448:
        return None
    if algorithm == EDDSA:
        raw = b64url_bytes(data.get("x"))
        if len(raw) != ED25519_KEY_BYTES:
            raise ValueError(f"an Ed25519 key is {ED25519_KEY_BYTES} bytes, not {len(raw)}")
        return Ed25519PublicKey.from_public_bytes(raw)
    public = {name: data[name] for name in _PUBLIC_MEMBERS[data["kty"]]}
    key: Key = jwk.construct(public, algorithm)
    return key


class JwksCache:
    def __init__(
        self,
        url: str,
        *,
        cache_seconds: float,
        min_refetch_seconds: float,
        deadline_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._cache_seconds = cache_seconds
        self._min_refetch_seconds = min_refetch_seconds
        self._deadline = deadline_seconds
        self._clock = clock
        self._keys: dict[str, VerificationKey] | None = None  # None: never fetched
        self._fetched_at = -math.inf  # last successful fetch
        self._attempted_at = -math.inf  # end of the last attempt, successful or not
        self._attempts = 0  # attempts completed
        self._lock = asyncio.Lock()
        # One client for every fetch (its TLS context and settings). No kept-alive
        # connections: fetches are at least min_refetch_seconds apart, and a pooled
        # connection would be tied to the event loop that opened it.
        self._client = httpx.AsyncClient(
            timeout=deadline_seconds,
            follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0),
            headers={"Accept": "application/json"},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get(self, kid: str) -> VerificationKey | None:
        """The key named `kid`, or None when the key set does not have it. Waits at most
        the fetch deadline, also behind another request's fetch; then JwksUnavailable."""
        keys = self._keys
        if keys is not None and kid in keys and (self._fresh() or self._lock.locked()):
            return keys[kid]  # fresh, or being refreshed: a known key does not wait for it
        attempts_seen = self._attempts
        timed_out = False
        try:
            async with asyncio.timeout(self._deadline), self._lock:
                # Requests that queued behind a fetch use its result rather than fetching.
                if self._attempts == attempts_seen and self._should_fetch(kid):
                    await self._refresh()
        except TimeoutError:
            timed_out = True
            logger.warning("JWKS fetch from %s: over the %s s deadline", self._url, self._deadline)
        if self._keys is None or (timed_out and kid not in self._keys):
            wait = self._min_refetch_seconds - (self._clock() - self._attempted_at)
            raise JwksUnavailable(retry_after=max(1, math.ceil(wait)))
        return self._keys.get(kid)

    def _fresh(self) -> bool:
        return self._clock() - self._fetched_at < self._cache_seconds

    def _should_fetch(self, kid: str) -> bool:
        if self._keys is not None and kid in self._keys and self._fresh():
            return False
        # Expired, never fetched or unknown kid: fetch, but not more often than allowed.
        return self._clock() - self._attempted_at >= self._min_refetch_seconds

    async def _refresh(self) -> None:
        try:
            keys = parse_jwks(await self._download())
        except _FetchError as error:
            stale = "keeping the previous key set" if self._keys is not None else "no key set"
            logger.warning("JWKS fetch from %s failed (%s): %s", self._url, error, stale)
            return
        finally:
            # Counted when it ends (a deadline included): requests that arrived while it
            # ran use its result.
            self._attempts += 1
            self._attempted_at = self._clock()
        self._keys = keys
        self._fetched_at = self._clock()
        logger.info("JWKS fetched from %s: %d usable key(s)", self._url, len(keys))

    async def _download(self) -> bytes:
        try:
            async with self._client.stream("GET", self._url) as reply:
                if reply.status_code != 200:
                    raise _FetchError(f"HTTP {reply.status_code}")
                body = bytearray()
                async for chunk in reply.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise _FetchError(f"the response is larger than {MAX_JWKS_BYTES} bytes")
                return bytes(body)
        except _FetchError:
            raise
        except Exception as error:  # network, TLS, URL: whatever it is, it is not a 500
            raise _FetchError(f"{type(error).__name__}: {error}".rstrip(": ")) from None
