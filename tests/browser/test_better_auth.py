"""The API with a real Better Auth server (`make browser-test`: it needs node_modules).

Better Auth (better_auth_server.mjs: the jwt() plugin with its defaults, EdDSA) signs a user
up; the session cookie gets a JWT from /api/auth/token; the API, configured as docs/frontends.md
says (JWT_JWKS_URL = <baseURL>/api/auth/jwks, JWT_ISSUER = JWT_AUDIENCE = baseURL), accepts
it for the user's tasks and profile, and at /mcp."""

import base64
import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp_types import CallToolResult

from tests.databases import fresh_database
from tests.live_server import ROOT, live_server, stop
from tests.mcp.helpers import mcp_client, run

SERVER = Path(__file__).resolve().parent / "better_auth_server.mjs"


def _json_part(segment: str) -> dict[str, Any]:
    padded = segment + "=" * (-len(segment) % 4)
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
    return decoded


@pytest.fixture
def better_auth() -> Iterator[str]:
    """The baseURL of a running Better Auth server; stopped afterwards."""
    env = {
        **os.environ,
        "BETTER_AUTH_SECRET": secrets.token_urlsafe(48),
        "BETTER_AUTH_TELEMETRY": "0",
    }
    process = subprocess.Popen(
        ["node", SERVER], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:"), f"Better Auth did not start: {base_url!r}"
        yield base_url
    finally:
        stop(process)


def _sign_up_and_get_jwt(base_url: str) -> tuple[str, dict[str, Any]]:
    """What a Better Auth frontend does: sign up (a session cookie), then GET /api/auth/token.
    Better Auth checks the Origin of requests that carry a cookie: its own baseURL is
    trusted."""
    email = f"ada-{secrets.token_hex(4)}@example.com"
    with httpx.Client(base_url=f"{base_url}/api/auth", headers={"Origin": base_url}) as auth:
        signed_up = auth.post(
            "/sign-up/email",
            json={"email": email, "password": "correct horse battery staple", "name": "Ada"},
        )
        assert signed_up.status_code == 200, signed_up.text
        user = signed_up.json()["user"]
        assert user["email"] == email
        answer = auth.get("/token")  # the session cookie from the sign-up, kept by the client
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["token"]
    return token, user


async def _add_task_over_mcp(url: str, token: str, title: str) -> CallToolResult:
    async with mcp_client(url, token) as mcp:
        return await mcp.call_tool("add_task", {"title": title})


def test_better_auth_jwt_is_accepted(better_auth: str) -> None:
    token, user = _sign_up_and_get_jwt(better_auth)
    header, claims = (_json_part(part) for part in token.split(".")[:2])
    # Better Auth's defaults, as docs/frontends.md describes them.
    assert header["alg"] == "EdDSA"
    assert header["kid"]
    assert claims["sub"] == user["id"]
    assert claims["iss"] == claims["aud"] == better_auth
    assert claims["exp"] - claims["iat"] == 900

    settings = {
        "JWT_JWKS_URL": f"{better_auth}/api/auth/jwks",
        "JWT_ISSUER": better_auth,
        "JWT_AUDIENCE": better_auth,
    }
    with fresh_database() as database, live_server(database, **settings) as server:
        bearer = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=bearer) as api:
            me = api.get("/api/me")
            assert me.status_code == 200, me.text
            assert me.json()["id"] == user["id"]

            tasks = f"/api/{user['id']}/tasks"
            listed = api.get(tasks)
            assert listed.status_code == 200, listed.text
            assert listed.json()["total"] == 0

            created = api.post(tasks, json={"title": "Buy milk"})
            assert created.status_code == 201, created.text
            assert api.get(tasks).json()["total"] == 1

            # Another user's path with this token: 403, as for the API's own tokens.
            assert api.get("/api/someone-else/tasks").status_code == 403

            # The same token at /mcp (an AI agent's way in), verified with the same JWKS.
            added = run(_add_task_over_mcp(server.url, token, "Buy bread"))
            assert not added.is_error, added.content
            assert added.structured_content is not None
            assert added.structured_content["user_id"] == user["id"]
            assert api.get(tasks).json()["total"] == 2

        # A token whose signature does not verify against the JWKS: 401.
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        rejected = httpx.get(f"{server.url}/api/me", headers={"Authorization": f"Bearer {forged}"})
        assert rejected.status_code == 401
        tools_list = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        refused = httpx.post(
            f"{server.url}/mcp", json=tools_list, headers={"Authorization": f"Bearer {forged}"}
        )
        assert refused.status_code == 401
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]
