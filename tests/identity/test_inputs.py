"""Weak passwords, unsafe token subjects, what the throttle tables keep, and files the API
creates with secrets or data in them."""

import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from backend.clock import utcnow
from backend.database.engine import create_db_engine
from tests.helpers import assert_problem, auth, count_rows, make_settings

PASSWORD = "a long and unusual passphrase 42"


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("12345678", "most common passwords"),
        ("password1", "most common passwords"),
        ("        ", "only spaces"),
        ("ada.lovelace@example.com", "email address"),
        ("ADA.LOVELACE", "email address"),
        ("aaaaaaaaaa", "different characters"),
        ("abababababab", "different characters"),
    ],
)
def test_weak_passwords_are_refused_without_being_echoed(
    client: TestClient, engine: Engine, password: str, reason: str
) -> None:
    response = client.post(
        "/api/auth/sign-up",
        json={"email": "Ada.Lovelace@example.com", "password": password, "name": "Ada"},
    )
    body = assert_problem(response, 422)
    assert body["errors"][0]["pointer"] == "/password"
    assert reason in body["errors"][0]["message"]
    if password.strip():
        assert password not in response.text
    assert count_rows(engine, "users") == 0


def test_a_new_password_follows_the_same_rules(client: TestClient) -> None:
    signed_up = client.post(
        "/api/auth/sign-up", json={"email": "ada@example.com", "password": PASSWORD, "name": "A"}
    )
    token = signed_up.json()["access_token"]
    response = client.patch(
        "/api/me",
        json={"current_password": PASSWORD, "password": "qwertyuiop"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert "most common passwords" in assert_problem(response, 422)["errors"][0]["message"]


@pytest.mark.parametrize(
    ("subject", "why"),
    [
        ("eve\n", "U+000A, a control character"),
        ("eve\r", "U+000D, a control character"),
        ("e\u0085ve", "U+0085, a control character"),
        ("e\x7fve", "U+007F, a control character"),
        ("eve\u202e", "U+202E, a format character"),  # right-to-left override
        ("\u2066eve", "U+2066, a format character"),  # left-to-right isolate
        ("x" * 256, "1 to 255 characters"),
    ],
)
def test_unsafe_subjects_are_refused(client: TestClient, subject: str, why: str) -> None:
    response = client.get("/api/me", headers=auth(subject))
    body = assert_problem(response, 401)
    assert why in body["detail"]


@pytest.mark.parametrize(
    ("subject", "why"),
    [
        ("alice\u200b", "U+200B, a format character"),  # zero-width space
        ("\ufeffalice", "U+FEFF, a format character"),  # byte-order mark
        ("ali\u00adce", "U+00AD, a format character"),  # soft hyphen
        ("alice\u2060", "U+2060, a format character"),  # word joiner
        ("alice\U000e0041", "U+E0041, a format character"),  # tag latin capital A
        ("alice\u2028", "U+2028, a line separator"),
        ("alice\u2029", "U+2029, a paragraph separator"),
    ],
)
def test_subjects_that_look_like_another_are_refused_saying_why(
    client: TestClient, engine: Engine, subject: str, why: str
) -> None:
    response = client.get("/api/me", headers=auth(subject))
    body = assert_problem(response, 401)
    assert why in body["detail"]
    assert count_rows(engine, "users") == 0


def test_claim_text_with_format_characters_is_not_kept(client: TestClient) -> None:
    headers = auth("alice", email="alice\u200b@example.com", name="Alice\u2028Admin")
    profile = client.get("/api/me", headers=headers)
    assert profile.status_code == 200, profile.text
    assert profile.json()["email"] is None
    assert profile.json()["name"] is None


def test_throttle_keys_hold_no_email(client: TestClient, engine: Engine) -> None:
    client.post(
        "/api/auth/sign-in", json={"email": "secret.person@example.com", "password": "wrong one!"}
    )
    with engine.connect() as connection:
        keys = connection.execute(text("SELECT key FROM rate_limits")).scalars().all()
    assert keys
    assert all("secret" not in key and "@" not in key for key in keys), keys


def test_ended_windows_and_expired_devices_are_purged(
    client: TestClient, app: FastAPI, engine: Engine
) -> None:
    client.post(
        "/api/auth/sign-up", json={"email": "a@example.com", "password": PASSWORD, "name": "A"}
    )
    long_ago = utcnow() - timedelta(days=400)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO rate_limits (key, window_started_at, count, expires_at)"
                " VALUES ('signin:client:192.0.2.1', :at, 3, :at)"
            ),
            {"at": long_ago},
        )
        connection.execute(text("UPDATE device_tokens SET expires_at = :at"), {"at": long_ago})
    assert count_rows(engine, "rate_limits", "key = 'signin:client:192.0.2.1'") == 1
    purged = client.portal.call(app.state.services.accounts.purge_expired)  # type: ignore[union-attr]
    assert purged >= 2
    assert count_rows(engine, "rate_limits", "key = 'signin:client:192.0.2.1'") == 0
    assert count_rows(engine, "device_tokens") == 0
    assert count_rows(engine, "rate_limits") >= 1  # the sign-up's own window is still open


def test_the_sqlite_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    database = tmp_path / "new" / "tasks.db"
    engine = create_db_engine(make_settings(f"sqlite:///{database}"))
    with engine.connect() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    engine.dispose()
    assert stat.S_IMODE(os.stat(database).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(database.parent).st_mode) == 0o700
