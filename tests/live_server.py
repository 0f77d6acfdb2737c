"""A real uvicorn server in a subprocess, for tests that need one over TCP."""

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 30.0


@dataclass(frozen=True)
class LiveServer:
    url: str
    port: int
    pid: int
    env: dict[str, str]  # the server's settings, for commands that must agree with it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(database_url: str, **overrides: str) -> dict[str, str]:
    """The environment for the server and for commands that must share its secret.
    Set explicitly, so a developer's .env cannot change what the tests see."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "BETTER_AUTH_SECRET": secrets.token_urlsafe(48),
        "JWT_ISSUER": "",
        "JWT_AUDIENCE": "",
        "CORS_ORIGINS": "",
        "LOG_LEVEL": "warning",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        **overrides,
    }


@contextmanager
def live_server(database_url: str, **settings: str) -> Iterator[LiveServer]:
    """Migrate `database_url` (as `make run` does), serve backend.main:app on it on a free
    port, and stop the server afterwards, whatever happens. `settings` are extra environment
    variables for the server (e.g. SIGNUP_MAX_PER_WINDOW="1000")."""
    env = server_env(database_url, **settings)
    subprocess.run(
        [sys.executable, "-m", "backend", "migrate"], env=env, cwd=ROOT, check=True, timeout=60
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "uvicorn", "backend.main:app", "--port", str(port)]
    # Output is inherited: pytest shows it with a failing test, the contract run live.
    server = subprocess.Popen(
        [*command, "--log-level", "warning", "--no-access-log"], env=env, cwd=ROOT
    )
    try:
        _wait_until_ready(server, url)
        yield LiveServer(url=url, port=port, pid=server.pid, env=env)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def _wait_until_ready(server: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/health/ready", timeout=2):  # noqa: S310
                return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server on {url} did not become ready") from None
            time.sleep(0.1)
