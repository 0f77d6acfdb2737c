"""A real uvicorn server in a subprocess, for tests that need one over TCP."""

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.identity.tokens import TokenVerifier
from tests.helpers import ROOT, make_settings

__all__ = ["ROOT", "LiveServer", "backend", "free_port", "live_server", "server_env", "stop"]

STARTUP_SECONDS = 30.0


@dataclass(frozen=True)
class LiveServer:
    url: str
    port: int
    pid: int
    env: dict[str, str]  # the server's settings, for commands that must agree with it

    def token(self, sub: str) -> str:
        """A token the server accepts for `sub`, issued as the API issues its own."""
        settings = make_settings(
            self.env["DATABASE_URL"], better_auth_secret=self.env["BETTER_AUTH_SECRET"]
        )
        return TokenVerifier(settings).issue(sub)


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
        "TRUSTED_PROXIES": "",
        "LOG_LEVEL": "warning",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        **overrides,
    }


def backend(
    *args: str, env: dict[str, str], check: bool = True, timeout: float = 120
) -> "subprocess.CompletedProcess[str]":
    """`python -m backend ARGS` (migrate, token…) from the repository, with this environment
    (server_env's, so it shares the server's settings); its output captured as text. With
    check, a failure raises with what the command printed."""
    done = subprocess.run(
        [sys.executable, "-m", "backend", *args],
        env=env,
        cwd=ROOT,
        timeout=timeout,
        capture_output=True,
        text=True,
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"python -m backend {' '.join(args)} failed:\n{done.stderr}")
    return done


@contextmanager
def live_server(
    database_url: str,
    *,
    migrate: bool = True,
    ready: bool = True,
    serve_args: Sequence[str] = (),
    log: Path | None = None,
    preexec_fn: Callable[[], None] | None = None,
    **settings: str,
) -> Iterator[LiveServer]:
    """Migrate `database_url` (as `make run` does; not with migrate=False: a replica of a
    database migrated already), serve backend.main:app on it on a free port, and stop the
    server afterwards, whatever happens. `settings` are extra environment variables for the
    server (e.g. SIGNUP_MAX_PER_WINDOW="1000"); `serve_args` extra options of `python -m
    backend serve`; `log` a file for the server's output (else inherited); `preexec_fn` runs
    in the server process before it starts (e.g. to set a resource limit). With
    ready=False, the server only has to be alive, not its database."""
    env = server_env(database_url, **settings)
    if migrate:
        backend("migrate", env=env)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # As make run and make serve start it: X-Forwarded-For believed only from TRUSTED_PROXIES.
    command = [sys.executable, "-m", "backend", "serve", "--port", str(port), *serve_args]
    with ExitStack() as files:
        # Output is inherited unless `log` is given: pytest shows it with a failing test,
        # the contract run live.
        output = files.enter_context(log.open("ab")) if log is not None else None
        server = subprocess.Popen(
            command,
            env=env,
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
            preexec_fn=preexec_fn,
        )
        try:
            _wait_until_ready(server, url, database=ready)
            yield LiveServer(url=url, port=port, pid=server.pid, env=env)
        finally:
            stop(server)


def stop(process: subprocess.Popen[Any]) -> None:
    """Terminate a server process; kill it if it does not end within 10 seconds."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _wait_until_ready(server: subprocess.Popen[bytes], url: str, *, database: bool = True) -> None:
    """Until /api/health/ready answers 200 (database=False: /api/health, the process alone)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    probe = f"{url}/api/health/ready" if database else f"{url}/api/health"
    while True:
        try:
            with urllib.request.urlopen(probe, timeout=2):  # noqa: S310
                return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server on {url} did not become ready") from None
            time.sleep(0.1)
