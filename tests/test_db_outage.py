"""The API survives a real PostgreSQL outage: a throwaway cluster of the test's own is stopped
and started again under a client that keeps calling the API (a real uvicorn process).

While PostgreSQL is down, every call that needs it is a quick 503 problem+json with
Retry-After, liveness stays 200; once it is back, the same server process serves again within
seconds, and no write it acknowledged with 201 is lost.

Needs PostgreSQL's server binaries (initdb, pg_ctl: /usr/lib/postgresql/<version>/bin, as in
CI); it fails, rather than skips, without them. Independent of TEST_DATABASE_URL.
"""

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from backend.database.engine import normalise_url
from backend.migrate import upgrade
from tests.helpers import bearer
from tests.live_server import free_port, live_server

PG_ROOT = Path("/usr/lib/postgresql")
PG_USER = "postgres"
DATABASE = "outage"
USER_ID = "outage-user"
TASKS = f"/api/{USER_ID}/tasks"

BOUND_SECONDS = 5.0  # each call in the outage, and the recovery, must take less than this
CLIENT_TIMEOUT = 15.0  # longer than the bound, so a slow answer is measured, not cut off
PHASE_TIMEOUT = 30.0  # at most this long for each phase to reach its quota of requests
CREATES_BEFORE = 5  # tasks acknowledged before the outage
OUTAGE_MIN_SECONDS = 3.0  # keep PostgreSQL down at least this long...
OUTAGE_REQUESTS_PER_KIND = 3  # ...and until each kind of request was answered this often
CREATES_AFTER = 5  # tasks acknowledged after the recovery

# Requests the client loop sends in turn; all but "health" need the database.
KINDS = ("create", "list", "ready", "health")
DATABASE_KINDS = ("create", "list", "ready")


# --- the cluster -------------------------------------------------------------------------


def postgres_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin with initdb and pg_ctl, else fail."""
    candidates: list[tuple[int, Path]] = []
    if PG_ROOT.is_dir():
        for version in PG_ROOT.iterdir():
            bin_dir = version / "bin"
            if (bin_dir / "initdb").is_file() and (bin_dir / "pg_ctl").is_file():
                number = int(version.name) if version.name.isdigit() else -1
                candidates.append((number, bin_dir))
    if not candidates:
        on_path = shutil.which("initdb")
        if on_path and (Path(on_path).parent / "pg_ctl").is_file():
            return Path(on_path).parent
        pytest.fail(
            f"PostgreSQL server binaries not found: no {PG_ROOT}/<version>/bin/initdb and "
            "pg_ctl, and no initdb on PATH. Install them (Debian: apt-get install "
            "postgresql) — this test needs a PostgreSQL cluster of its own.",
            pytrace=False,
        )
    return max(candidates)[1]


@dataclass
class Cluster:
    bin_dir: Path
    directory: Path  # owned by the postgres user: data, socket and log live here
    port: int

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def log(self) -> Path:
        return self.directory / "postgres.log"

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def run(self, program: str, *args: str, timeout: float = 60.0) -> None:
        """Run a PostgreSQL program as the postgres user (initdb refuses root)."""
        as_postgres = ["runuser", "-u", PG_USER, "--"] if os.geteuid() == 0 else []
        # No PG* variables of the caller's (PGDATA, PGPORT, …) change what the cluster does.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        result = subprocess.run(
            [*as_postgres, str(self.bin_dir / program), *args],
            cwd=self.directory,  # the postgres user may not be allowed into ours
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{program} {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}\n--- server log ---\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    def initdb(self) -> None:
        self.run(
            "initdb",
            "--pgdata",
            str(self.data),
            "--username",
            PG_USER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-instructions",
        )
        # In the configuration file, so a restart listens exactly where the first start did.
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.directory}'",
            "max_connections": "50",
            "shared_buffers": "16MB",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# test_db_outage\n")
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    def start(self) -> None:
        """Start and wait until the server accepts connections."""
        self.run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.log))

    def stop(self, mode: str) -> None:
        self.run("pg_ctl", "stop", "-w", "-t", "60", "-m", mode, "-D", str(self.data))

    def postmaster_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int((self.data / "postmaster.pid").read_text().splitlines()[0])
        return None

    def destroy(self) -> None:
        """Stop the server whatever state it is in, and remove every file of the cluster."""
        pid = self.postmaster_pid()
        if pid is not None:
            try:
                self.stop("immediate")
            except (RuntimeError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)  # our own postmaster, by its pid
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    """A started PostgreSQL cluster in a temporary directory, with a migrated database."""
    # libpq in this process and in the server subprocess reads PG* variables (PGSSLMODE, …).
    for name in [k for k in os.environ if k.startswith("PG")]:
        monkeypatch.delenv(name)
    bin_dir = postgres_bin_dir()
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam(PG_USER)
        except KeyError:
            pytest.fail(f"running as root, but there is no {PG_USER!r} user to run initdb as")
        if shutil.which("runuser") is None:
            pytest.fail("running as root, but runuser (util-linux) is not installed")
    # Under /tmp, not pytest's tmp_path: the postgres user must be able to reach it.
    directory = Path(tempfile.mkdtemp(prefix="pg_outage_", dir="/tmp"))
    if os.geteuid() == 0:
        os.chown(directory, owner.pw_uid, owner.pw_gid)
    instance = Cluster(bin_dir=bin_dir, directory=directory, port=free_port())
    try:
        instance.initdb()
        instance.start()
        admin = create_engine(normalise_url(instance.url("postgres")), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{DATABASE}"'))
        finally:
            admin.dispose()
        upgrade(instance.url())
        yield instance
    finally:
        instance.destroy()


# --- the client --------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    kind: str
    started: float  # time.monotonic()
    ended: float
    status: int | None  # None: no HTTP answer at all (timeout, connection refused)
    content_type: str = ""
    retry_after: str | None = None
    task_id: int | None = None
    error: str = ""  # the exception, or the body of an unexpected answer

    @property
    def latency(self) -> float:
        return self.ended - self.started

    @property
    def ok(self) -> bool:
        return self.status == (201 if self.kind == "create" else 200)

    def describe(self, origin: float) -> str:
        return (
            f"{self.kind} at {self.started - origin:+.3f}s: {self.status} in "
            f"{self.latency:.3f}s ({self.content_type}, Retry-After={self.retry_after}) "
            f"{self.error[:300]}"
        )


@dataclass
class ClientLoop:
    """Sequential requests in a thread, every one recorded."""

    base_url: str
    token: str
    calls: list[Call] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> "ClientLoop":
        self._thread = threading.Thread(target=self._run, name="outage-client", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=CLIENT_TIMEOUT + 5)
        assert not self._thread.is_alive(), "the client loop did not stop"

    def _run(self) -> None:
        headers = bearer(self.token)
        with httpx.Client(base_url=self.base_url, headers=headers, timeout=CLIENT_TIMEOUT) as http:
            number = 0
            while not self._stop.is_set():
                kind = KINDS[number % len(KINDS)]
                number += 1
                self.calls.append(self._call(http, kind, number))
                time.sleep(0.02)

    @staticmethod
    def _call(http: httpx.Client, kind: str, number: int) -> Call:
        started = time.monotonic()
        try:
            if kind == "create":
                response = http.post(TASKS, json={"title": f"outage task {number}"})
            elif kind == "list":
                response = http.get(TASKS, params={"limit": 5})
            elif kind == "ready":
                response = http.get("/api/health/ready")
            else:
                response = http.get("/api/health")
        except httpx.HTTPError as error:
            return Call(kind, started, time.monotonic(), None, error=repr(error))
        ended = time.monotonic()
        task_id = (
            response.json()["id"] if kind == "create" and response.status_code == 201 else None
        )
        expected = response.status_code in (200, 201, 503)
        return Call(
            kind,
            started,
            ended,
            response.status_code,
            content_type=response.headers.get("content-type", ""),
            retry_after=response.headers.get("retry-after"),
            task_id=task_id,
            error="" if expected and response.status_code != 503 else response.text,
        )

    def snapshot(self) -> list[Call]:
        return list(self.calls)

    def wait_for(self, what: str, done: Callable[[list[Call]], bool]) -> None:
        deadline = time.monotonic() + PHASE_TIMEOUT
        while not done(self.snapshot()):
            if time.monotonic() > deadline:
                last = self.snapshot()[-20:]
                calls = "\n".join(c.describe(last[0].started) for c in last) if last else "none"
                pytest.fail(f"timed out waiting for {what}; the last calls:\n{calls}")
            time.sleep(0.05)


def _process_state(pid: int) -> tuple[str, int]:
    """(state, start time in clock ticks since boot) of a process, from /proc/<pid>/stat.
    The start time tells a process from a later one that got the same pid."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def _server_pid(port: int) -> int:
    """The server child of this process that serves `port` (tests.live_server starts it with
    `python -m backend serve`)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            serving = b"serve" in argv and b"backend" in argv
            if ppid == os.getpid() and serving and str(port).encode() in argv:
                found.append(int(entry.name))
    assert len(found) == 1, f"expected one server child on port {port}, found {found}"
    return found[0]


# --- the test ----------------------------------------------------------------------------


def test_api_survives_a_postgresql_outage(cluster: Cluster) -> None:
    url = cluster.url()
    with live_server(url, DB_POOL_TIMEOUT="2", DB_CONNECT_TIMEOUT="2") as server:
        pid = _server_pid(server.port)
        assert getattr(server, "pid", pid) == pid  # when LiveServer tells its pid, it agrees
        _, started_at = _process_state(pid)
        token = server.token(USER_ID)

        with ClientLoop(server.url, token) as client:
            # 1. PostgreSQL up: tasks are created.
            client.wait_for(
                f"{CREATES_BEFORE} tasks created",
                lambda calls: sum(c.kind == "create" and c.ok for c in calls) >= CREATES_BEFORE,
            )

            # 2. The outage.
            stop_started = time.monotonic()
            cluster.stop("immediate")
            stop_done = time.monotonic()

            def outage_answered(calls: list[Call]) -> bool:
                inside = [c for c in calls if c.started >= stop_done]
                return time.monotonic() - stop_done >= OUTAGE_MIN_SECONDS and all(
                    sum(c.kind == kind for c in inside) >= OUTAGE_REQUESTS_PER_KIND
                    for kind in KINDS
                )

            client.wait_for("requests answered during the outage", outage_answered)

            # 3. PostgreSQL back: the same server process serves again.
            start_started = time.monotonic()
            cluster.start()
            start_done = time.monotonic()  # pg_ctl -w: accepting connections now

            def recovered(calls: list[Call]) -> bool:
                after = [c for c in calls if c.started >= start_done]
                return sum(c.kind == "create" and c.ok for c in after) >= CREATES_AFTER

            client.wait_for(f"{CREATES_AFTER} tasks created after the outage", recovered)

        calls = client.snapshot()
        # Not restarted: the same process (not reaped yet, so it would be a zombie had it
        # exited) answered throughout; a dead server would have left calls unanswered.
        state, still_started_at = _process_state(pid)
        assert still_started_at == started_at, "the server process was replaced"
        assert state not in ("Z", "X"), f"the server process exited (state {state})"
        assert _server_pid(server.port) == pid

        _check_calls(calls, stop_started, stop_done, start_started, start_done)

        # 4. Every acknowledged write is there, through the API and in the database.
        acknowledged = {c.task_id for c in calls if c.task_id is not None}
        listed = _list_all_task_ids(server.url, token)
        assert acknowledged <= listed, f"acknowledged but not listed: {acknowledged - listed}"

    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as connection:
            stored = set(
                connection.execute(
                    text("SELECT id FROM tasks WHERE user_id = :user"), {"user": USER_ID}
                ).scalars()
            )
    finally:
        engine.dispose()
    assert acknowledged <= stored, f"acknowledged but not stored: {acknowledged - stored}"
    assert listed == stored


def _check_calls(
    calls: list[Call],
    stop_started: float,
    stop_done: float,
    start_started: float,
    start_done: float,
) -> None:
    timeline = (
        f"times relative to the stop: stop done at {stop_done - stop_started:+.3f}s, start "
        f"at {start_started - stop_started:+.3f}s, accepting connections at "
        f"{start_done - stop_started:+.3f}s"
    )

    def expect(condition: Callable[[Call], bool], selected: list[Call], what: str) -> None:
        bad = [c.describe(stop_started) for c in selected if not condition(c)]
        assert not bad, f"{what}: {len(bad)} of {len(selected)} calls do not\n" + "\n".join(
            [timeline, *bad]
        )

    expect(lambda c: c.status in (200, 201, 503), calls, "answered 200, 201 or 503")
    health = [c for c in calls if c.kind == "health"]
    expect(lambda c: c.status == 200, health, "liveness is 200 throughout")
    expect(
        lambda c: c.content_type == "application/problem+json" and c.retry_after is not None,
        [c for c in calls if c.status == 503],
        "a 503 is problem+json with Retry-After",
    )
    before = [c for c in calls if c.ended < stop_started]
    expect(lambda c: c.ok, before, "succeed while PostgreSQL is up")

    # A call that raced the stop or the start may have succeeded; every call that needs the
    # database and ran wholly between the stop and the start is a 503.
    outage = [
        c
        for c in calls
        if c.kind in DATABASE_KINDS and c.started >= stop_done and c.ended <= start_started
    ]
    assert len(outage) >= OUTAGE_REQUESTS_PER_KIND * len(DATABASE_KINDS), timeline
    expect(lambda c: c.status == 503, outage, "503 during the outage")

    # Recovery: a success within the bound after PostgreSQL accepts connections (possibly
    # a little before pg_ctl noticed), and from then on nothing but successes.
    needing_db = [c for c in calls if c.kind in DATABASE_KINDS and c.started >= stop_done]
    first_ok = next((c for c in needing_db if c.ok), None)
    assert first_ok is not None, f"no success after the outage; {timeline}"
    recovery = first_ok.ended - start_done
    assert recovery < BOUND_SECONDS, f"first success {recovery:.3f}s after the restart"
    after = [c for c in needing_db if c.started >= first_ok.ended]
    expect(lambda c: c.ok, after, "succeed after the recovery")

    # From the stop until the recovery, every call (liveness included) is answered in time.
    around = [c for c in calls if stop_started <= c.ended and c.started <= first_ok.ended]
    expect(lambda c: c.latency < BOUND_SECONDS, around, f"answered within {BOUND_SECONDS}s")

    longest = max(around, key=lambda c: c.latency)
    print(  # shown with -s / -rP: what the outage looked like
        f"\n{len(calls)} calls, {len(outage)} needing the database wholly within the outage, "
        f"all 503; slowest call from the stop to the recovery: "
        f"{longest.describe(stop_started)}\n{timeline}; "
        f"first success at {first_ok.ended - stop_started:+.3f}s, i.e. {recovery:+.3f}s after "
        f"pg_ctl start returned, {first_ok.ended - start_started:+.3f}s after it was run"
    )


def _list_all_task_ids(base_url: str, token: str) -> set[int]:
    ids: set[int] = set()
    headers = bearer(token)
    with httpx.Client(base_url=base_url, headers=headers, timeout=CLIENT_TIMEOUT) as http:
        offset = 0
        while True:
            response = http.get(TASKS, params={"limit": 100, "offset": offset})
            assert response.status_code == 200, response.text
            page = response.json()
            ids.update(task["id"] for task in page["items"])
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                break
    return ids
