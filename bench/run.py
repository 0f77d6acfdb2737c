"""`make bench`: throughput and latency of our API against two references, in one run.

Creates a fresh PostgreSQL database, migrates and seeds it, serves it four ways (ours on
psycopg2, ours on psycopg 3, the tutorial-style floor, the raw Starlette + psycopg2 ceiling:
one uvicorn worker each), drives every case with wrk, interleaved across the servers, and
prints a markdown table (also written to reports/bench.md). Servers and database are removed
whatever happens.

Environment: BENCH_SECONDS (15) per case run, BENCH_REPEATS (3), BENCH_WARMUP (5 seconds
per server), BENCH_CASES (comma-separated subset), BENCH_PG (the PostgreSQL server, default
postgresql://postgres@127.0.0.1:5432/postgres; a database of our own is created on it),
BENCH_POOL_SIZE / BENCH_POOL_OVERFLOW (5 / 10: every server's connection pool).
"""

import contextlib
import importlib.util
import json
import os
import platform
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg2
from psycopg2 import sql
from sqlalchemy.engine import make_url

from backend.config import Settings
from bench import seed as seeding
from bench.data import migrate as data_migrate

ROOT = Path(__file__).resolve().parent.parent
LUA_SCRIPT = ROOT / "bench" / "wrk.lua"
REPORT_MD = ROOT / "reports" / "bench.md"
REPORT_JSON = ROOT / "reports" / "bench.json"
LOG_DIR = ROOT / "reports" / "bench-logs"

CASES = ("list", "get", "create", "patch", "toggle", "mix")
WRITE_CASES = frozenset({"create", "patch", "toggle", "mix"})
CASE_LABELS = {
    "list": "list 20 (GET /api/{u}/tasks?limit=20)",
    "get": "get one (GET /api/{u}/tasks/{id})",
    "create": "create (POST /api/{u}/tasks)",
    "patch": "patch title (PATCH /api/{u}/tasks/{id})",
    "toggle": "toggle (PATCH /api/{u}/tasks/{id}/complete)",
    "mix": "mix 70/10/10/5/5",
}
TARGET_CASES = ("list", "create")
TARGET_VS_FLOOR = 2.0
TARGET_VS_CEILING = 0.8
TARGET_P99_OVER_P50 = 3.0
USERS = 1_000
TASKS = 200_000
TOKEN_USERS = 200
TASKS_PER_TOKEN_USER = 32
THREADS = 2
CONNECTIONS = 16
STARTUP_SECONDS = 30.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PACKAGES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "pydantic",
    "sqlalchemy",
    "sqlmodel",
    "psycopg2-binary",
    "psycopg",
    "psycopg-binary",
    "python-jose",
)


@dataclass(frozen=True)
class Config:
    seconds: int
    repeats: int
    warmup: int
    cases: tuple[str, ...]
    pg_server: str
    pool_size: int
    pool_overflow: int


def load_config(environ: Mapping[str, str] = os.environ) -> Config:
    def positive(name: str, default: int) -> int:
        value = int(environ.get(name, default))
        if value < 1:
            raise SystemExit(f"error: {name} must be at least 1")
        return value

    cases = tuple(c.strip() for c in environ.get("BENCH_CASES", ",".join(CASES)).split(","))
    unknown = set(cases) - set(CASES)
    if unknown or not cases:
        raise SystemExit(f"error: BENCH_CASES: unknown {sorted(unknown)}; known: {CASES}")
    return Config(
        seconds=positive("BENCH_SECONDS", 15),
        repeats=positive("BENCH_REPEATS", 3),
        warmup=int(environ.get("BENCH_WARMUP", 5)),
        cases=cases,
        pg_server=environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres"),
        pool_size=positive("BENCH_POOL_SIZE", 5),
        pool_overflow=int(environ.get("BENCH_POOL_OVERFLOW", 10)),
    )


@dataclass(frozen=True)
class ServerKind:
    name: str
    app: str
    what: str
    workers: int = 1
    ours: bool = False  # a variant of our app: given as ratios to the floor and the ceiling
    # SQLAlchemy driver name to spell in DATABASE_URL (None: the URL as created, which our
    # normalise_url maps to psycopg2).
    driver: str | None = None
    settings: tuple[tuple[str, str], ...] = ()  # environment of this variant's own

    def env(self, env: Mapping[str, str]) -> dict[str, str]:
        env = {**env, **dict(self.settings)}
        if self.driver is None:
            return env
        url = make_url(env["DATABASE_URL"]).set(drivername=self.driver)
        return {**env, "DATABASE_URL": url.render_as_string(hide_password=False)}


STANDARD_SERVERS = (
    ServerKind(
        "ours",
        "backend.main:app",
        "uvicorn backend.main:app, DATABASE_URL postgresql://… (psycopg2, as deployed)",
        ours=True,
    ),
    # The same app on psycopg 3 (SQLAlchemy's postgresql+psycopg dialect), for the driver
    # decision: the project stays on psycopg2 unless these rows say otherwise.
    ServerKind(
        "ours (psycopg 3)",
        "backend.main:app",
        "uvicorn backend.main:app, DATABASE_URL postgresql+psycopg://… (psycopg 3, binary)",
        ours=True,
        driver="postgresql+psycopg",
    ),
    ServerKind(
        "floor",
        "bench.floor_app:app",
        "bench/floor_app.py: tutorial-style FastAPI, sync endpoints, SQLModel session dependency",
    ),
    ServerKind(
        "ceiling",
        "bench.ceiling_app:app",
        "bench/ceiling_app.py: bare Starlette, raw psycopg2, stdlib json, no validation/auth",
    ),
)
# Variants measured on request, BENCH_EXTRA=no-timeout: ours without the per-transaction
# statement timeout, for what SET LOCAL costs (it rides in the first statement's round trip).
EXTRA_SERVERS = {
    "no-timeout": ServerKind(
        "ours (no statement timeout)",
        "backend.main:app",
        "ours with DB_STATEMENT_TIMEOUT_MS=0: no SET LOCAL in front of each transaction",
        ours=True,
        settings=(("DB_STATEMENT_TIMEOUT_MS", "0"),),
    ),
}
SERVERS = STANDARD_SERVERS + tuple(
    EXTRA_SERVERS[name.strip()]
    for name in os.environ.get("BENCH_EXTRA", "").split(",")
    if name.strip()
)
# The mix again, on ours with two worker processes behind one port (make serve's shape).
OURS_TWO_WORKERS = ServerKind(
    "ours, 2 workers",
    "backend.main:app",
    "uvicorn backend.main:app --workers 2",
    workers=2,
    ours=True,
)


@dataclass
class Run:
    """One wrk run of one case against one server."""

    case: str
    server: str
    repeat: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    statuses: dict[str, int]
    cpu_ms_per_request: float
    db_cpu_ms_per_request: float
    host_busy_percent: float
    db_sessions_opened: int


@dataclass
class Summary:
    case: str
    server: str
    rps: float
    rps_min: float
    rps_max: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    cpu_ms_per_request: float
    db_cpu_ms_per_request: float
    host_busy_percent: float
    db_sessions_opened: float
    statuses: dict[str, int] = field(default_factory=dict)


# --- processes and the machine ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_cpu_ticks(pid: int) -> int:
    """utime + stime of the process (all its threads), in clock ticks."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)


def postgres_cpu_ticks() -> int:
    """PostgreSQL's CPU on this machine, in clock ticks: every live postgres process's
    utime + stime, plus what its exited ones used (their parent's cutime + cstime: the
    backends of closed connections). Other databases' idle sessions add next to nothing."""
    total = 0
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = path.read_text()
        except OSError:  # ended while we looked
            continue
        if stat[stat.index("(") + 1 : stat.rindex(")")] != "postgres":
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += sum(int(value) for value in fields[11:15])  # fields 14-17 of proc(5)
    return total


def host_cpu() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # user nice system idle iowait irq softirq steal
    return total - idle, total


def children_of(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            children += [int(c) for c in (task / "children").read_text().split()]
    return children


class Server:
    def __init__(self, kind: ServerKind, env: Mapping[str, str], cwd: Path) -> None:
        self.kind = kind
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = LOG_DIR / f"{re.sub(r'[^a-z0-9]+', '-', kind.name.lower()).strip('-')}.log"
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            kind.app,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-access-log",
            "--log-level",
            "warning",
            *(["--workers", str(kind.workers)] if kind.workers > 1 else []),
        ]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
                command, env=kind.env(env), cwd=cwd, stdout=log, stderr=subprocess.STDOUT
            )

    @property
    def name(self) -> str:
        return self.kind.name

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/api/health/ready", timeout=2):  # noqa: S310 (http://127.0.0.1 only)
                    break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    tail = self.log_path.read_text(errors="replace")[-3000:]
                    raise RuntimeError(
                        f"{self.name} did not start on {self.url}:\n{tail}"
                    ) from None
                time.sleep(0.1)
        children = children_of(self.process.pid)
        if children and self.kind.workers == 1:  # CPU is read from this one process
            raise RuntimeError(f"{self.name} runs child processes {children}: not one worker")

    def cpu_ticks(self) -> int:
        if self.kind.workers == 1:
            return process_cpu_ticks(self.process.pid)
        # Several workers: the supervisor and its (live) worker processes together.
        pids = [self.process.pid, *children_of(self.process.pid)]
        return sum(process_cpu_ticks(pid) for pid in pids)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def log_problems(self) -> list[str]:
        lines = self.log_path.read_text(errors="replace").splitlines()
        words = ("error", "exception", "traceback", "critical")
        return [line for line in lines if any(word in line.lower() for word in words)]


# --- the database -----------------------------------------------------------------------


@contextlib.contextmanager
def fresh_database(pg_server: str) -> Iterator[str]:
    """A new database on `pg_server` for this run; dropped afterwards, whatever happens."""
    name = f"bench_{secrets.token_hex(6)}"
    admin = psycopg2.connect(pg_server)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield make_url(pg_server).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.cursor() as cur:
                drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                cur.execute(drop.format(sql.Identifier(name)))
            print(f"dropped database {name}", flush=True)
    finally:
        admin.close()


class SessionCounter:
    """New connections to the database (pg_stat_database.sessions), read on a connection
    held open for the whole run. The statistics are flushed by each backend at most once a
    second, hence the pause before reading after a run."""

    def __init__(self, database_url: str) -> None:
        self._conn = psycopg2.connect(database_url)
        self._conn.autocommit = True  # every read is a new transaction: fresh statistics

    def read(self) -> int:
        with self._conn.cursor() as cur:
            cur.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
            row = cur.fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self._conn.close()


def server_env(database_url: str, secret: str, config: Config) -> dict[str, str]:
    """Every setting spelled out, so neither .env nor the caller's environment changes it."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "BETTER_AUTH_SECRET": secret,
        "JWT_ISSUER": "",
        "JWT_AUDIENCE": "",
        "JWT_JWKS_URL": "",
        "CORS_ORIGINS": "",
        "LOG_LEVEL": "warning",
        "DB_POOL_SIZE": str(config.pool_size),  # ours; the floor and the ceiling read these too
        "DB_MAX_OVERFLOW": str(config.pool_overflow),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }


# --- wrk ----------------------------------------------------------------------------------


def run_wrk(server: Server, case: str, seconds: int, data_file: Path) -> dict[str, Any]:
    command = [
        "wrk",
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_SCRIPT),
        server.url,
        "--",
        str(data_file),
        case,
    ]
    done = subprocess.run(  # noqa: S603 (fixed arguments)
        command, capture_output=True, text=True, timeout=seconds + 120, check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            result: dict[str, Any] = json.loads(line.removeprefix("BENCH_RESULT "))
            return result
    raise RuntimeError(f"wrk gave no result (exit {done.returncode}):\n{done.stdout}{done.stderr}")


def measure(
    server: Server,
    case: str,
    repeat: int,
    seconds: int,
    data_file: Path,
    sessions: SessionCounter,
) -> Run:
    sessions0 = sessions.read()
    busy0, total0 = host_cpu()
    cpu0, db_cpu0 = server.cpu_ticks(), postgres_cpu_ticks()
    result = run_wrk(server, case, seconds, data_file)
    cpu1, db_cpu1 = server.cpu_ticks(), postgres_cpu_ticks()
    busy1, total1 = host_cpu()
    time.sleep(1.2)  # let the backends flush their statistics
    sessions1 = sessions.read()
    requests = int(result["requests"])
    statuses = {str(k): int(v) for k, v in result["statuses"].items()}
    errors = result["errors"]
    duration = result["duration_us"] / 1e6
    return Run(
        case=case,
        server=server.name,
        repeat=repeat,
        requests=requests,
        seconds=duration,
        rps=requests / duration,
        p50_ms=result["p50_us"] / 1000,
        p90_ms=result["p90_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        max_ms=result["max_us"] / 1000,
        non_2xx=sum(n for status, n in statuses.items() if not status.startswith("2")),
        socket_errors=errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        statuses=statuses,
        cpu_ms_per_request=(cpu1 - cpu0) * 1000 / CLOCK_TICKS / max(requests, 1),
        db_cpu_ms_per_request=(db_cpu1 - db_cpu0) * 1000 / CLOCK_TICKS / max(requests, 1),
        host_busy_percent=100 * (busy1 - busy0) / max(total1 - total0, 1),
        db_sessions_opened=sessions1 - sessions0,
    )


# --- a functional check before measuring ------------------------------------------------------


def http(url: str, method: str, token: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (http://127.0.0.1 only)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (as above)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def check_servers(servers: Sequence[Server], user: seeding.BenchUser) -> None:
    """Every case answers 2xx with the same JSON shape on every server, and the same
    seeded data reads the same everywhere. Fails fast instead of after a quarter hour."""
    base = f"/api/{user.id}/tasks"
    task_path = f"{base}/{user.task_ids[0]}"
    first: dict[str, Any] = {}

    def same(server: Server, what: str, value: Any) -> None:
        expected = first.setdefault(what, value)
        if value != expected:
            raise RuntimeError(f"{server.name}: {what} {value!r}, ours {expected!r}")

    def call(server: Server, method: str, path: str, body: Any, expected: int) -> Any:
        status, payload = http(server.url + path, method, user.token, body)
        if status != expected:
            raise RuntimeError(
                f"{server.name} {method} {path}: {status} (not {expected}) {payload}"
            )
        return payload

    for server in servers:  # reads first, so that every server reads the same rows
        page = call(server, "GET", f"{base}?limit=20", None, 200)
        same(server, "page keys", sorted(page))
        same(server, "page", (page["total"], [task["id"] for task in page["items"]]))
        same(server, "task keys", sorted(page["items"][0]))
        same(server, "task", call(server, "GET", task_path, None, 200))
    for server in servers:
        writes = [
            call(server, "POST", base, {"title": "Check the harness"}, 201),
            call(server, "PATCH", task_path, {"title": f"Checked by {server.name}"}, 200),
            call(server, "PATCH", f"{task_path}/complete", None, 200),
        ]
        for task in writes:
            same(server, "task keys", sorted(task))
        if writes[1]["title"] != f"Checked by {server.name}":
            raise RuntimeError(f"{server.name}: PATCH did not change the title: {writes[1]}")
        if writes[2]["completed"] == writes[1]["completed"]:
            raise RuntimeError(f"{server.name}: PATCH …/complete did not toggle: {writes[2]}")


# --- the report ---------------------------------------------------------------------------


def summarise(runs: Sequence[Run], case: str, server: str) -> Summary:
    mine = [r for r in runs if r.case == case and r.server == server]
    statuses: dict[str, int] = {}
    for run in mine:
        for status, n in run.statuses.items():
            statuses[status] = statuses.get(status, 0) + n
    return Summary(
        case=case,
        server=server,
        rps=statistics.median(r.rps for r in mine),
        rps_min=min(r.rps for r in mine),
        rps_max=max(r.rps for r in mine),
        p50_ms=statistics.median(r.p50_ms for r in mine),
        p99_ms=statistics.median(r.p99_ms for r in mine),
        non_2xx=sum(r.non_2xx for r in mine),
        socket_errors=sum(r.socket_errors for r in mine),
        cpu_ms_per_request=statistics.median(r.cpu_ms_per_request for r in mine),
        db_cpu_ms_per_request=statistics.median(r.db_cpu_ms_per_request for r in mine),
        host_busy_percent=statistics.median(r.host_busy_percent for r in mine),
        db_sessions_opened=statistics.median(r.db_sessions_opened for r in mine),
        statuses=statuses,
    )


def machine_lines(database_url: str) -> list[str]:
    cpu_model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT current_setting('server_version'), current_setting('shared_buffers'),"
            " current_setting('synchronous_commit'), current_setting('max_connections')"
        )
        pg_version, shared_buffers, synchronous_commit, max_connections = cur.fetchone() or ()
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)  # noqa: S607 (wrk from PATH, as make installs it)
    wrk_version = (wrk.stdout or wrk.stderr).splitlines()[0].split("Copyright")[0].strip()
    versions = ", ".join(f"{p} {package_version(p)}" for p in PACKAGES)
    return [
        f"- machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu_model},"
        f" {memory_kb // 1024} MiB RAM, Linux {platform.release()},"
        f" load average at start {os.getloadavg()[0]:.2f}",
        f"- versions: Python {platform.python_version()}, {versions}; {wrk_version}",
        f"- PostgreSQL {pg_version} on 127.0.0.1 (shared_buffers {shared_buffers},"
        f" synchronous_commit {synchronous_commit}, max_connections {max_connections})",
        f"- code: {git_describe()}",
    ]


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def git_describe() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(  # noqa: S603 (fixed arguments)
            ["git", *args],  # noqa: S607 (git from PATH)
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "backend", "generated")
    return f"commit {commit}" + (
        " + uncommitted changes in backend/ or generated/ (measured as they were)" if dirty else ""
    )


def server_stack() -> str:
    """What uvicorn picks by itself (--http auto, --loop auto) in this environment."""
    if importlib.util.find_spec("httptools") and importlib.util.find_spec("uvloop"):
        return "httptools on uvloop"
    return "h11 on asyncio"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def render(
    config: Config, header: Sequence[str], runs: Sequence[Run], log_problems: Mapping[str, int]
) -> str:
    names = [s.name for s in SERVERS]
    ours_names = [s.name for s in SERVERS if s.ours]
    summaries = {(c, s): summarise(runs, c, s) for c in config.cases for s in names}
    lines = [
        f"# make bench — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        *header,
        f"- data: {TASKS:,} tasks over {USERS:,} users; requests rotate over {TOKEN_USERS}"
        f" users with real tokens, {TASKS_PER_TOKEN_USER} of their own task ids each",
        f"- load: wrk -t{THREADS} -c{CONNECTIONS}, {config.warmup} s warm-up per server (mix),"
        f" then {config.seconds} s per case x {config.repeats} repeats, interleaved across"
        " servers (server order rotated each round); rows written by a case are removed and"
        " the table vacuumed after it",
        f"- servers: one uvicorn worker each, the same server stack for all ({server_stack()}),"
        f" `--no-access-log`, log level warning, pool {config.pool_size}+{config.pool_overflow}"
        " connections, same database",
    ]
    lines += [f"  - {kind.name}: {kind.what}" for kind in SERVERS]
    lines += [
        "",
        "Medians of the repeats (req/s range: min-max). CPU ms/req: the server process's"
        " utime+stime over the run ÷ requests; DB CPU ms/req: PostgreSQL's processes' (the"
        " ones of closed connections included), likewise. Host CPU: all cores busy, server +"
        " PostgreSQL + wrk. Non-2xx: summed over all repeats. New DB conns: connections the"
        " server opened during one run (pg_stat_database.sessions: with more clients than"
        " pooled connections, overflow connections are closed on return and opened again).",
        "",
        "| case | server | req/s | req/s range | p50 ms | p99 ms | non-2xx | CPU ms/req |"
        " DB CPU ms/req | host CPU | new DB conns | vs floor | vs ceiling |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for case in config.cases:
        floor, ceiling = summaries[(case, "floor")], summaries[(case, "ceiling")]
        for name in names:
            s = summaries[(case, name)]
            versus = (
                (ratio(s.rps, floor.rps), ratio(s.rps, ceiling.rps))
                if name in ours_names
                else ("", "")
            )
            errors = f"{s.non_2xx}" + (f" (+{s.socket_errors} socket)" if s.socket_errors else "")
            lines.append(
                f"| {CASE_LABELS[case] if name == names[0] else ''} | {name} | {s.rps:,.0f} |"
                f" {s.rps_min:,.0f}-{s.rps_max:,.0f} | {s.p50_ms:.1f} | {s.p99_ms:.1f} | {errors} |"
                f" {s.cpu_ms_per_request:.2f} | {s.db_cpu_ms_per_request:.2f} |"
                f" {s.host_busy_percent:.0f}% |"
                f" {s.db_sessions_opened:.0f} | {versus[0]} |"
                f" {versus[1]} |"
            )
    lines += [
        "",
        "Ours as a ratio to the references, a row per variant of ours (req/s: higher is"
        " better for ours; CPU ms/req and p99: lower is better for ours).",
        "",
        "| case | ours | req/s ours/floor | req/s ours/ceiling | CPU/req ours/floor |"
        " CPU/req ours/ceiling | p99 ours/floor | p99 ours/ceiling | target |",
        "|---|---|--:|--:|--:|--:|--:|--:|---|",
    ]
    for case in config.cases:
        floor, ceiling = summaries[(case, "floor")], summaries[(case, "ceiling")]
        for name in ours_names:
            ours = summaries[(case, name)]
            target = "—"
            if case in TARGET_CASES:
                met = (
                    ours.rps >= TARGET_VS_FLOOR * floor.rps
                    and ours.rps >= TARGET_VS_CEILING * ceiling.rps
                    and ours.p99_ms <= TARGET_P99_OVER_P50 * ours.p50_ms
                    and ours.non_2xx == 0
                    and ours.socket_errors == 0
                )
                target = (
                    f"{'met' if met else 'NOT met'} (≥{TARGET_VS_FLOOR}x floor,"
                    f" ≥{TARGET_VS_CEILING}x ceiling, p99 ≤{TARGET_P99_OVER_P50}x p50, 0 non-2xx)"
                )
            lines.append(
                f"| {case if name == ours_names[0] else ''} | {name} |"
                f" {ratio(ours.rps, floor.rps)} | {ratio(ours.rps, ceiling.rps)} |"
                f" {ratio(ours.cpu_ms_per_request, floor.cpu_ms_per_request)} |"
                f" {ratio(ours.cpu_ms_per_request, ceiling.cpu_ms_per_request)} |"
                f" {ratio(ours.p99_ms, floor.p99_ms)} | {ratio(ours.p99_ms, ceiling.p99_ms)} |"
                f" {target} |"
            )
    odd = [s for s in summaries.values() if s.non_2xx or s.socket_errors]
    lines += ["", "Non-2xx responses and socket errors:" if odd else "No non-2xx responses."]
    lines += [
        f"- {s.case} on {s.server}: statuses {s.statuses}, socket errors {s.socket_errors}"
        for s in odd
    ]
    lines += [
        "",
        "Server logs (reports/bench-logs/), lines naming an error, exception or traceback: "
        + ", ".join(f"{name} {count}" for name, count in log_problems.items())
        + ".",
    ]
    return "\n".join(lines) + "\n"


# --- the run ------------------------------------------------------------------------------


def _raise_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def rotated(items: Sequence[ServerKind], by: int) -> list[ServerKind]:
    by %= len(items)
    return [*items[by:], *items[:by]]


def print_run(number: int, total: int, run: Run) -> None:
    print(
        f"[{number:>2}/{total}] {run.case:<6} {run.server:<16} {run.rps:8,.0f} req/s"
        f"  p50 {run.p50_ms:6.1f} ms  p99 {run.p99_ms:6.1f} ms  non-2xx {run.non_2xx}"
        f"  CPU {run.cpu_ms_per_request:.2f} ms/req  DB CPU {run.db_cpu_ms_per_request:.2f}"
        f" ms/req  host {run.host_busy_percent:.0f}%"
        f"  new DB conns {run.db_sessions_opened}",
        flush=True,
    )


def benchmark(config: Config, stack: contextlib.ExitStack) -> str:
    rng = random.Random(20261127)  # noqa: S311 (test data, not secrets)
    secret = secrets.token_urlsafe(48)
    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench_")))
    LOG_DIR.mkdir(parents=True, exist_ok=True)

    database_url = stack.enter_context(fresh_database(config.pg_server))
    print(f"database: {database_url}", flush=True)
    header = machine_lines(database_url)
    print("\n".join(header), flush=True)
    env = server_env(database_url, secret, config)
    data_migrate(database_url)  # as `make migrate` applies them
    started = time.monotonic()
    data = seeding.seed(database_url, USERS, TASKS, rng)
    print(f"seeded {TASKS:,} tasks over {USERS:,} users in {time.monotonic() - started:.1f} s")
    settings = Settings(  # the server's settings, so its verifier accepts the tokens
        _env_file=None,
        database_url=database_url,
        better_auth_secret=secret,
        jwt_issuer=None,
        jwt_audience=None,
    )
    users = seeding.bench_users(data, settings, TOKEN_USERS, TASKS_PER_TOKEN_USER, rng)
    data_file = workdir / "data.lua"
    seeding.write_lua_data(data_file, users)

    servers = {kind.name: Server(kind, env, workdir) for kind in SERVERS}
    for server in servers.values():
        stack.callback(server.stop)
    for server in servers.values():
        server.wait_until_ready()
    print("servers: " + ", ".join(f"{s.name} {s.url}" for s in servers.values()), flush=True)
    check_servers(list(servers.values()), users[0])
    seeding.reset(database_url, data)

    if config.warmup > 0:
        for server in servers.values():
            run_wrk(server, "mix", config.warmup, data_file)
            print(f"warmed up {server.name} ({config.warmup} s mix)", flush=True)
        seeding.reset(database_url, data)

    sessions = SessionCounter(database_url)
    stack.callback(sessions.close)
    runs: list[Run] = []
    total = config.repeats * len(config.cases) * len(SERVERS)
    for repeat in range(config.repeats):
        for case in config.cases:
            for kind in rotated(SERVERS, repeat):
                server = servers[kind.name]
                run = measure(server, case, repeat, config.seconds, data_file, sessions)
                runs.append(run)
                print_run(len(runs), total, run)
                if case in WRITE_CASES:
                    seeding.reset(database_url, data)

    for server in servers.values():
        server.stop()
    log_problems = {name: len(s.log_problems()) for name, s in servers.items()}
    worker_runs = measure_two_workers(
        config, env, workdir, stack, data_file, sessions, lambda: seeding.reset(database_url, data)
    )
    REPORT_JSON.write_text(json.dumps([asdict(r) for r in runs + worker_runs], indent=1) + "\n")
    return render(config, header, runs, log_problems) + render_workers(runs, worker_runs)


def measure_two_workers(
    config: Config,
    env: Mapping[str, str],
    workdir: Path,
    stack: contextlib.ExitStack,
    data_file: Path,
    sessions: SessionCounter,
    reset: Callable[[], None],
) -> list[Run]:
    """The mix on ours with two workers, after the main table (only when mix was run)."""
    if "mix" not in config.cases:
        return []
    server = Server(OURS_TWO_WORKERS, env, workdir)
    stack.callback(server.stop)
    server.wait_until_ready()
    if config.warmup > 0:
        run_wrk(server, "mix", config.warmup, data_file)
    runs = []
    for repeat in range(config.repeats):
        run = measure(server, "mix", repeat, config.seconds, data_file, sessions)
        runs.append(run)
        print_run(repeat + 1, config.repeats, run)
        reset()
    server.stop()
    return runs


def render_workers(runs: Sequence[Run], worker_runs: Sequence[Run]) -> str:
    if not worker_runs:
        return ""
    one = summarise(runs, "mix", "ours")
    two = summarise(worker_runs, "mix", OURS_TWO_WORKERS.name)
    lines = [
        "",
        "Mix at 1 and 2 workers (ours; CPU ms/req of the 2-worker server: supervisor and"
        " workers together).",
        "",
        "| workers | req/s | req/s range | p50 ms | p99 ms | non-2xx | CPU ms/req | vs 1 worker |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for workers, summary in ((1, one), (2, two)):
        lines.append(
            f"| {workers} | {summary.rps:,.0f} | {summary.rps_min:,.0f}-{summary.rps_max:,.0f}"
            f" | {summary.p50_ms:.1f} | {summary.p99_ms:.1f} | {summary.non_2xx}"
            f" | {summary.cpu_ms_per_request:.2f} | {summary.rps / one.rps:.2f}x |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    config = load_config()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_on_signal)
    started = time.monotonic()
    try:
        with contextlib.ExitStack() as stack:  # servers, database, temporary files
            try:
                report = benchmark(config, stack)
            finally:
                _ignore_signals()  # a second Ctrl-C must not cut the cleanup short
    except KeyboardInterrupt:
        print("interrupted: servers stopped, database dropped", file=sys.stderr, flush=True)
        return 130
    elapsed = time.monotonic() - started
    report += f"\nTotal runtime {elapsed / 60:.1f} min ({elapsed:.0f} s).\n"
    REPORT_MD.parent.mkdir(parents=True, exist_ok=True)
    REPORT_MD.write_text(report)
    print("\n" + report, flush=True)
    print(f"written to {REPORT_MD.relative_to(ROOT)} and {REPORT_JSON.relative_to(ROOT)}")
    return 0


def _ignore_signals() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)


if __name__ == "__main__":
    sys.exit(main())
