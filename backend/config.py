"""Settings: the only place that reads the environment (and `.env`)."""

from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIN_SECRET_BYTES = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = "sqlite:///./data/tasks.db"
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
    # Lifetime of the tokens this API issues itself (sign-up / sign-in), in seconds.
    access_token_ttl: int = Field(default=3600, ge=60, le=30 * 24 * 3600)
    # Brute-force protection, counted in the database so it holds across workers/instances:
    # this many failed sign-ins for one email, or from one client address (higher: many
    # people may share an office's address), within the window → 429.
    signin_max_failures: int = Field(default=5, ge=1)
    signin_max_failures_per_client: int = Field(default=20, ge=1)
    signin_window_seconds: int = Field(default=900, ge=1)
    # Sign-ups per client address within the window.
    signup_max_per_window: int = Field(default=10, ge=1)
    signup_window_seconds: int = Field(default=3600, ge=1)
    # Comma-separated in the environment: CORS_ORIGINS=http://localhost:3000,https://app.example.com
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
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
    # Milliseconds any PostgreSQL statement may run (0: no limit). Sent as a startup
    # option, which Neon's pooled (-pooler) endpoint rejects: use 0 there, or the direct one.
    db_statement_timeout_ms: int = Field(default=5000, ge=0)
    # Seconds a request waits for its whole unit of work before answering 503, whatever
    # the database does (a frozen server never applies statement_timeout itself).
    db_request_deadline_seconds: float = Field(default=10.0, gt=0)

    @field_validator("better_auth_secret")
    @classmethod
    def _secret_long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"must be at least {MIN_SECRET_BYTES} bytes long")
        return value

    @field_validator("jwt_issuer", "jwt_audience", "jwt_jwks_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value


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
            problems.append(f"{name} {reason}")
        raise ConfigurationError("invalid configuration: " + "; ".join(problems)) from None
