"""Settings: the only place that reads the environment (and `.env`)."""

import json
import re
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIN_SECRET_BYTES = 32
# A random 32-byte secret in base64 has ~25 distinct characters; "aaaa…" or "abab…" 1 or 2.
MIN_SECRET_DISTINCT_CHARACTERS = 12
EXAMPLE_SECRET = "change-me-to-a-long-random-string-of-32-bytes-or-more"  # noqa: S105  (.env.example)
GENERATE_SECRET = "generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"  # noqa: S105
_ORIGIN = re.compile(
    r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?"
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = "sqlite:///./data/tasks.db"
    # The unpooled URL of the same database (Neon and Prisma call it DIRECT_URL), for
    # migrations only when set: DATABASE_URL may point at a transaction-mode pooler.
    direct_url: str | None = None
    better_auth_secret: SecretStr
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    # Better Auth's JWT plugin publishes asymmetric keys here (…/api/auth/jwks); unset: HS256 only.
    jwt_jwks_url: str | None = None
    # Seconds a fetched JWKS is trusted before it is fetched again.
    jwt_jwks_cache_seconds: float = Field(default=300.0, gt=0)
    # At most one fetch per this many seconds on an unknown `kid`, so a flood of bogus
    # kids cannot hammer the auth server.
    jwt_jwks_min_refetch_seconds: float = Field(default=30.0, ge=0)
    # Overall deadline of one JWKS fetch (connect, headers and body): a request waiting for
    # the keys never waits longer; then 503 with Retry-After.
    jwt_jwks_fetch_deadline_seconds: float = Field(default=3.0, gt=0, le=60)
    # Lifetime of the tokens this API issues itself (sign-up / sign-in), in seconds.
    access_token_ttl: int = Field(default=3600, ge=60, le=30 * 24 * 3600)
    # Brute-force protection, counted in the database so it holds across workers/instances.
    # Failed sign-ins (and wrong current passwords) per account email within the window,
    # from devices without a device token; with a valid one, per device instead → 429.
    signin_max_failures: int = Field(default=5, ge=1)
    signin_window_seconds: int = Field(default=900, ge=1)
    # …and per account email per day, from all devices without a device token.
    signin_max_failures_per_day: int = Field(default=50, ge=1)
    # Failed sign-ins from one client address (higher: an office may share one address).
    signin_max_failures_per_client: int = Field(default=20, ge=1)
    # Every sign-in attempt, right or wrong, per client address per minute: hashing is
    # expensive, so a flood of correct sign-ins is bounded too.
    signin_max_per_client_per_minute: int = Field(default=20, ge=1)
    # Sign-ups per client address within the window.
    signup_max_per_window: int = Field(default=10, ge=1)
    signup_window_seconds: int = Field(default=3600, ge=1)
    # Lifetime of a device token (sign-in response), in seconds: 90 days.
    device_token_ttl: int = Field(default=90 * 24 * 3600, ge=3600)
    # Proxies whose X-Forwarded-For is believed (comma-separated addresses, "*" for any);
    # none by default, so the client address is the socket peer. `python -m backend serve`
    # (make run, make serve) hands it to uvicorn's --forwarded-allow-ips.
    trusted_proxies: str = ""
    # Password hashes computed at once per worker process (argon2id: ~20 ms of CPU each),
    # on an executor of their own: a sign-in flood queues there, not in front of other
    # requests' database work.
    password_hash_workers: int = Field(default=1, ge=1, le=16)
    # Slow and idle clients, per worker (backend/http/connections.py; a fronting proxy should
    # set its own, see docs/operations.md). Connections a worker keeps open at once: past it, the
    # one that has waited longest for its request's headers (half-sent or idle) is closed
    # to make room. Lowered at start to what the open-file limit leaves after the database
    # connections and files.
    http_max_connections: int = Field(default=1000, ge=1)
    # Seconds a connection has to send a complete request line and headers (from
    # connecting, or from its first byte after a keep-alive pause); then it is closed.
    http_header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # Bytes of request line and headers (431 past it; h11 answers 400). Bounds what one
    # connection can make a worker hold while its headers are incomplete.
    http_max_header_bytes: int = Field(default=32 * 1024, ge=4096, le=1024 * 1024)
    # Seconds an idle keep-alive connection is kept between requests (uvicorn's default).
    # Behind a load balancer that reuses connections, set it above the balancer's idle
    # timeout (e.g. 65 behind AWS ALB's 60), or it may send a request into a closing one.
    http_keepalive_timeout_seconds: int = Field(default=5, ge=1, le=3600)
    # Browser origins allowed to call the API (CORS): comma-separated or a JSON list,
    # CORS_ORIGINS=http://localhost:3000,https://app.example.com; "*" for any origin.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The API's public base URL as clients reach it: scheme, host and port, no path
    # (https://tasks.example.com). It names the MCP endpoint (PUBLIC_URL/mcp) as an OAuth
    # protected resource (RFC 9728 metadata, 401 challenges); unset, each request's scheme
    # and Host header do.
    public_url: str | None = None
    log_level: str = "info"
    # "json" for one JSON object per log line (make serve), "text" for people.
    log_format: Literal["text", "json"] = "text"
    # GET /metrics (Prometheus), outside /api and the contract; off unless enabled.
    metrics_enabled: bool = False
    db_pool_size: int = Field(default=5, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    # Seconds: how long a request may wait for a pooled connection / a new connection
    # before the API answers 503 instead of hanging.
    db_pool_timeout: float = Field(default=5.0, gt=0)
    db_connect_timeout: int = Field(default=3, ge=1)
    # Milliseconds any PostgreSQL statement may run (0: no limit). Applied per transaction
    # (SET LOCAL, in the same round trip as its first statement), so it holds through
    # transaction-mode poolers (PgBouncer, Neon's pooled endpoint) too.
    db_statement_timeout_ms: int = Field(default=5000, ge=0)
    # Seconds a request waits for its whole unit of work before answering 503, whatever
    # the database does (a frozen server never applies statement_timeout itself).
    db_request_deadline_seconds: float = Field(default=10.0, gt=0)
    # Each user's share of the database per worker: this many units of work at once; more
    # wait up to USER_WAIT_SECONDS for one to end, then 429 (backend/database/admission.py).
    user_max_in_flight: int = Field(default=2, ge=1)
    # Of a worker's DB_POOL_SIZE connections, at most this many serve heavy work at once (a
    # search, a long page, or anything of a user whose recent requests were slow), so the
    # rest stay free for everyone else; 0: half the pool (at least 1).
    db_heavy_slots: int = Field(default=0, ge=0)
    # A user whose recent units of work took longer than this on average (milliseconds)
    # is served in the heavy lane until they are fast again.
    heavy_unit_ms: float = Field(default=50.0, gt=0)
    # Days the changes feed keeps deletions; an older cursor is 410 (sync from scratch).
    feed_retention_days: int = Field(default=30, ge=1)
    # Quotas: tasks and distinct tags per user (409 beyond them).
    max_tasks_per_user: int = Field(default=250_000, ge=1)
    max_tags_per_user: int = Field(default=1_000, ge=1)
    user_wait_seconds: float = Field(default=1.0, ge=0)
    # Seconds the answer to a task write with an Idempotency-Key is kept for its retries
    # (backend.idempotency); after that the key is new again, and purged.
    idempotency_key_ttl_seconds: int = Field(default=24 * 3600, ge=60, le=365 * 24 * 3600)
    # Answers kept per user at once (unexpired keys); a new key past it is 429 until the
    # oldest expires. Bounds what one user can store: this many answers of at most one task.
    idempotency_max_keys_per_user: int = Field(default=1_000, ge=1)

    @field_validator("better_auth_secret")
    @classmethod
    def _secret_strong_enough(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"must be at least {MIN_SECRET_BYTES} bytes long; {GENERATE_SECRET}")
        if secret == EXAMPLE_SECRET or "change-me" in secret.lower():
            raise ValueError(f"is the placeholder from .env.example; {GENERATE_SECRET}")
        if len(set(secret)) < MIN_SECRET_DISTINCT_CHARACTERS:
            raise ValueError(f"is too predictable (too few distinct characters); {GENERATE_SECRET}")
        return value

    @field_validator(
        "jwt_issuer", "jwt_audience", "jwt_jwks_url", "direct_url", "public_url", mode="before"
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("public_url")
    @classmethod
    def _public_url_is_an_origin(cls, url: str | None) -> str | None:
        if url is not None and not _ORIGIN.fullmatch(url):
            raise ValueError(
                f"{url!r} must be scheme://host[:port] without a path or trailing slash "
                "(e.g. https://tasks.example.com)"
            )
        return url

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    return json.loads(text)
                except ValueError:
                    raise ValueError("is neither a JSON list nor comma-separated origins") from None
            return [origin.strip() for origin in text.split(",") if origin.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins_are_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{origin!r} is not an origin: scheme://host[:port], no path or trailing "
                    "slash (e.g. http://localhost:3000)"
                )
        return origins

    @property
    def heavy_slots(self) -> int:
        return self.db_heavy_slots or max(1, self.db_pool_size // 2)

    @property
    def migration_url(self) -> str:
        """Where migrations run: the direct URL when there is one."""
        return self.direct_url or self.database_url


class ConfigurationError(Exception):
    """Raised with a one-line message naming the offending variable(s)."""


def load_settings() -> Settings:
    try:
        return Settings()  # the environment (and .env) fill the required fields
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            name = str(error["loc"][0]).upper() if error["loc"] else "configuration"
            reason = "is not set" if error["type"] == "missing" else error["msg"]
            reason = reason.removeprefix("Value error, ")
            problems.append(f"{name} {reason}")
        raise ConfigurationError("invalid configuration: " + "; ".join(problems)) from None
