"""Configuration, start-up refusal, database URLs, CORS and the token command."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from jose import jwt

from backend.app import create_app
from backend.database.engine import is_sqlite, normalise_url
from tests.helpers import ROOT, SECRET, auth, make_settings


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BETTER_AUTH", "JWT_"))}
    clean["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, *args],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "BETTER_AUTH_SECRET is not set"),
        ({"BETTER_AUTH_SECRET": "too-short"}, "BETTER_AUTH_SECRET"),
        ({"BETTER_AUTH_SECRET": "x" * 31}, "at least 32 bytes"),
        ({"BETTER_AUTH_SECRET": "a" * 32}, "too predictable"),
        ({"BETTER_AUTH_SECRET": "ab" * 40}, "too predictable"),
        (
            {"BETTER_AUTH_SECRET": "change-me-to-a-long-random-string-of-32-bytes-or-more"},
            "placeholder from .env.example",
        ),
    ],
)
def test_app_refuses_to_start_without_a_strong_secret(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    result = _run(["-c", "import backend.main"], env, tmp_path)  # tmp_path: no .env there
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert lines[0].startswith("error: invalid configuration")


def test_app_reads_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"BETTER_AUTH_SECRET={SECRET}\nDATABASE_URL=sqlite:///x.db\n")
    code = "from backend.config import load_settings; print(load_settings().database_url)"
    result = _run(["-c", code], {}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "sqlite:///x.db"


def test_token_command_prints_a_working_token(tmp_path: Path) -> None:
    result = _run(
        ["-m", "backend", "token", "--sub", "alice", "--email", "a@example.com"],
        {"BETTER_AUTH_SECRET": SECRET},
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["sub"] == "alice"
    assert claims["email"] == "a@example.com"
    assert 3599 < claims["exp"] - claims["iat"] <= 3600
    assert claims["jti"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:p@h/db", "postgresql+psycopg2://u:p@h/db"),
        ("postgresql://u:p@h/db?sslmode=require", "postgresql+psycopg2://u:p@h/db?sslmode=require"),
        (
            "postgresql://u:p@ep-x.neon.tech/db?sslmode=require&channel_binding=require",
            "postgresql+psycopg2://u:p@ep-x.neon.tech/db?sslmode=require&channel_binding=require",
        ),
        ("postgresql+psycopg2://u@h/db", "postgresql+psycopg2://u@h/db"),
        ("sqlite:///./data/tasks.db", "sqlite:///./data/tasks.db"),
    ],
)
def test_database_urls_are_normalised_to_the_installed_driver(url: str, expected: str) -> None:
    assert normalise_url(url) == expected
    assert is_sqlite(url) == url.startswith("sqlite")


def test_default_database_is_an_sqlite_file_under_data() -> None:
    settings = make_settings("sqlite:///./data/tasks.db")
    assert settings.database_url == "sqlite:///./data/tasks.db"
    fields = type(settings).model_fields
    assert fields["database_url"].default == "sqlite:///./data/tasks.db"


def test_cors_allows_configured_origins_with_authorization(database_url: str) -> None:
    settings = make_settings(
        database_url, cors_origins="http://localhost:3000, https://app.example.com"
    )
    assert settings.cors_origins == ["http://localhost:3000", "https://app.example.com"]
    app = create_app(settings)
    with TestClient(app) as client:
        preflight = client.options(
            "/api/alice/tasks",
            headers={
                "Origin": "https://app.example.com",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        response = client.get(
            "/api/alice/tasks", headers={**auth("alice"), "Origin": "http://localhost:3000"}
        )
        assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
        other = client.get(
            "/api/alice/tasks", headers={**auth("alice"), "Origin": "https://evil.example.com"}
        )
        assert "access-control-allow-origin" not in other.headers
    app.state.services.db.dispose()


def test_cors_allows_idempotency_keys_and_exposes_replays(database_url: str) -> None:
    """A browser may send Idempotency-Key (a header parameter of the contract) and its
    scripts may read Idempotent-Replayed (a documented response header)."""
    app = create_app(make_settings(database_url, cors_origins="http://localhost:3000"))
    origin = {"Origin": "http://localhost:3000"}
    with TestClient(app) as client:
        preflight = client.options(
            "/api/alice/tasks",
            headers={
                **origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
            },
        )
        assert preflight.status_code == 200
        allowed = preflight.headers["access-control-allow-headers"].lower()
        assert "idempotency-key" in allowed
        key = {"Idempotency-Key": str(uuid.uuid4()), **origin, **auth("alice")}
        first = client.post("/api/alice/tasks", json={"title": "x"}, headers=key)
        again = client.post("/api/alice/tasks", json={"title": "x"}, headers=key)
        assert again.headers["idempotent-replayed"] == "true"
        for response in (first, again):
            exposed = response.headers["access-control-expose-headers"].lower().split(", ")
            assert {"idempotent-replayed", "etag", "location", "retry-after"} <= set(exposed)
    app.state.services.db.dispose()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://tasks.example.com", "https://tasks.example.com"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("  ", None),
    ],
)
def test_public_url_is_an_origin(value: str, expected: str | None) -> None:
    assert make_settings("sqlite://", public_url=value).public_url == expected


@pytest.mark.parametrize(
    "value", ["https://tasks.example.com/", "tasks.example.com", "https://x/api"]
)
def test_public_url_with_a_path_or_no_scheme_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="scheme://host"):
        make_settings("sqlite://", public_url=value)
