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


@dataclass(frozen=True)
class LiveServer:
    url: str
    port: int
    env: dict[str, str]  # the server's settings, for commands that must agree with it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(database_url: str, port: int | None = None) -> Iterator[LiveServer]:
    """Migrate `database_url`, serve backend.main:app on it, stop it afterwards."""
    port = port or free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("JWT_", "CORS_"))},
        "DATABASE_URL": database_url,
        "BETTER_AUTH_SECRET": secrets.token_urlsafe(48),
        "LOG_LEVEL": "warning",
    }
    subprocess.run(
        [sys.executable, "-m", "backend", "migrate"], env=env, cwd=ROOT, check=True, timeout=60
    )
    command = [sys.executable, "-m", "uvicorn", "backend.main:app", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--log-level", "warning", "--no-access-log"],
        env=env,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/health/ready", timeout=2):  # noqa: S310
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not become ready") from None
                time.sleep(0.1)
        yield LiveServer(url=url, port=port, env=env)
    finally:
        server.terminate()
        server.wait(timeout=10)
