"""`make contract-test`: Schemathesis fuzzes a live server against openapi.yaml.

Starts uvicorn on a free port against a fresh database (PostgreSQL when TEST_DATABASE_URL
is set, a temporary SQLite file otherwise), mints a token for a user that exists, and runs
`schemathesis run` with schemathesis.toml. The server is stopped and the database dropped
whatever happens (failure, Ctrl-C, SIGTERM). Fails when Schemathesis fails or when the
stateful phase did not cover every OpenAPI link.
"""

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from types import FrameType

from backend.auth import TokenVerifier
from backend.config import Settings
from tests.databases import fresh_database
from tests.live_server import ROOT, live_server

USER = "contract-user"


def _sigterm(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds the context managers below


def main() -> int:
    signal.signal(signal.SIGTERM, _sigterm)
    seed = int(os.environ.get("CONTRACT_SEED") or secrets.randbelow(2**31))
    print(f"contract test seed: {seed} (reproduce: CONTRACT_SEED={seed} make contract-test)")
    reports = ROOT / "reports"
    reports.mkdir(exist_ok=True)
    with fresh_database("tasks_contract") as database_url, live_server(database_url) as server:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            database_url=database_url,
            better_auth_secret=server.env["BETTER_AUTH_SECRET"],
        )
        token = TokenVerifier(settings).issue(USER, ttl_seconds=3600, name="Contract test")
        _create_user(server.url, token)
        command = [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            "openapi.yaml",
            "--url",
            server.url,
            "--seed",
            str(seed),
            "--checks",
            "all",
            "--report",
            "junit",
            "--report-dir",
            str(reports),
        ]
        env = {**os.environ, "ST_TOKEN": token, "ST_USER": USER}
        status, output = _run_and_echo(command, env)
    links = re.search(r"API Links:\s+(\d+) covered / (\d+) selected", output)
    if links is None or links[1] != links[2]:
        print("contract test: stateful testing did not cover every OpenAPI link", file=sys.stderr)
        return status or 1
    return status


def _run_and_echo(command: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run Schemathesis, streaming its output and keeping it for the link check."""
    lines = []
    with subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append(line)
    return process.returncode, "".join(lines)


def _create_user(base_url: str, token: str) -> None:
    """The first authenticated request creates the user record."""
    request = urllib.request.Request(  # noqa: S310  (our own local server)
        f"{base_url}/api/{USER}/tasks", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        assert json.load(response)["total"] == 0


if __name__ == "__main__":
    sys.exit(main())
