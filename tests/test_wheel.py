"""The wheel, installed on its own, migrates and serves the contract from outside the tree.

`pip wheel --no-deps` builds it from a copy of the project (so no build/ or egg-info lands
in the tree, and no stale build/lib can leak into it). A fresh venv gets the runtime lock
(requirements/runtime.txt, hash-checked) and the wheel (--no-deps); from a temporary
directory, with no PYTHONPATH, it migrates a new SQLite database and serves backend.main:app
with uvicorn, and GET /openapi.yaml must be the repository's openapi.yaml byte for byte.

Needs what pip needs: the runtime dependencies and setuptools (build isolation) come from
the index or pip's cache. About 30-60 s: marked slow, and in the normal suite
(`pytest -m "not slow"` leaves it out).
"""

import os
import secrets
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live_server import free_port, stop

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"
PIP = ("-m", "pip", "--disable-pip-version-check")
INSTALL_SECONDS = 600
STARTUP_SECONDS = 30.0
# Not copied for the build: the repository's own state, caches and outputs.
TOP_LEVEL_SKIP = {".git", "node_modules", "build", "dist", "data", "reports", ".schemathesis"}


def _skip(directory: str, names: list[str]) -> set[str]:
    skipped = {n for n in names if n == "__pycache__" or n.endswith((".egg-info", "_cache"))}
    if Path(directory) == ROOT:
        skipped |= {n for n in names if n in TOP_LEVEL_SKIP or n.startswith(".venv")}
    return skipped


def _run(command: list[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        check=False,
        **kwargs,
    )
    assert result.returncode == 0, (
        f"{command} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    return result


def _sources(root: Path, package: str) -> set[str]:
    return {
        path.relative_to(root).as_posix()
        for path in (root / package).rglob("*.py")
        if "__pycache__" not in path.parts
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=_skip)
    assert (source / "backend" / "openapi.yaml").is_symlink()  # built as the repository has it
    wheelhouse = base / "wheelhouse"
    _run(
        [sys.executable, *PIP, "wheel", "--no-deps", "--quiet", "-w", wheelhouse, source],
        timeout=INSTALL_SECONDS,
    )
    (built,) = wheelhouse.glob("task_api-*.whl")
    return built


def test_wheel_contents(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        entries = {info.filename: info for info in archive.infolist()}
        contract = entries["backend/openapi.yaml"]
        assert stat.S_ISREG(contract.external_attr >> 16), "openapi.yaml must be a file, no link"
        assert archive.read(contract) == (ROOT / "openapi.yaml").read_bytes()
    for name in ("alembic.ini", "script.py.mako", "env.py"):
        assert f"backend/migrations/{name}" in entries
    # Every module of the tree ships: the migration scripts, generated/, the packages.
    modules = _sources(ROOT, "backend") | _sources(ROOT, "generated")
    assert any(m.startswith("backend/migrations/versions/") for m in modules)
    assert "generated/models.py" in modules
    assert modules - entries.keys() == set()


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the runtime lock and the wheel, nothing else."""
    directory = tmp_path_factory.mktemp("venv") / "venv"
    _run([sys.executable, "-m", "venv", directory], timeout=INSTALL_SECONDS)
    python = directory / "bin" / "python"
    # Two calls: --require-hashes refuses the wheel (no hash) in the same call.
    install = [python, *PIP, "install", "--quiet"]
    _run([*install, "--require-hashes", "-r", RUNTIME_LOCK], timeout=INSTALL_SECONDS)
    _run([*install, "--no-deps", wheel], timeout=INSTALL_SECONDS)
    _run([python, *PIP, "check"], timeout=60)  # the runtime lock covers the wheel's requirements
    return directory


def _env(database_url: str) -> dict[str, str]:
    """Explicit settings, and nothing that could import the repository's tree."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV"}
    }
    return {
        **env,
        "DATABASE_URL": database_url,
        "BETTER_AUTH_SECRET": secrets.token_urlsafe(48),
        "JWT_ISSUER": "",
        "JWT_AUDIENCE": "",
        "JWT_JWKS_URL": "",
        "CORS_ORIGINS": "",
        "LOG_LEVEL": "warning",
    }


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310  (our local server)
        return response.status, response.read()


@pytest.fixture
def server(venv: Path, tmp_path: Path) -> Iterator[str]:
    """Migrate and serve from a working directory outside the repository; always stopped."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    python = venv / "bin" / "python"
    env = _env(f"sqlite:///{tmp_path}/wheel.db")

    imported = _run(
        [python, "-c", "import backend, generated; print(backend.__file__, generated.__file__)"],
        cwd=workdir,
        env=env,
        timeout=60,
    )
    for module_file in imported.stdout.split():
        assert Path(module_file).resolve().is_relative_to(venv.resolve()), imported.stdout

    _run([python, "-m", "backend", "migrate"], cwd=workdir, env=env, timeout=120)
    with sqlite3.connect(tmp_path / "wheel.db") as db:
        assert db.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "server.log"
    command = [python, "-m", "uvicorn", "backend.main:app", "--host", "127.0.0.1", "--port"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, str(port), "--log-level", "warning"],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                _get(f"{url}/api/health/ready")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the server did not become ready:\n{log_path.read_text()}")
                time.sleep(0.1)
        yield url
    finally:
        stop(process)


def test_installed_wheel_serves_the_contract(server: str) -> None:
    assert _get(f"{server}/openapi.yaml") == (200, (ROOT / "openapi.yaml").read_bytes())
    status, _ = _get(f"{server}/api/health")
    assert status == 200
