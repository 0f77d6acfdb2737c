"""`make bench-fairness`: heavy accounts' expensive requests against an ordinary user's plain
listing, on PostgreSQL, served two ways.

Loads a database of its own (BENCH_FAIRNESS_DB, default bench_fairness; dropped afterwards)
with BENCH_FAIRNESS_ACCOUNTS (3) heavy accounts of BENCH_FAIRNESS_HEAVY (200,000) tasks each
and 200 ordinary users of 100, then serves it

- "one worker": one uvicorn worker of ours, straight on PostgreSQL (our defaults: pool 5 +
  10, 2 units of work in flight per user, half the pool for heavy work);
- "2 replicas": nginx round robin → two replicas → PgBouncer in transaction mode →
  PostgreSQL (tests/deploy/stack.py; needs `make deploy-tools`).

In each, for each attack: the ordinary user lists (GET /tasks?limit=20) sequentially for
BENCH_FAIRNESS_IDLE (10) seconds alone, then for BENCH_FAIRNESS_ATTACK (20) seconds under it:

- "searches": every heavy account runs 2 clients back to back, cycling through a common
  word with its total, a 200-character text, a 2-character text and a wildcard-only text
  (both refused by the contract), and tags?limit=1000;
- "feed flood": 16 connections of one heavy account read the changes feed with limit=500.

Prints idle vs under-attack p50/p95 of the ordinary user, their errors and the attackers'
outcomes by status (reports/bench-fairness.md). Target: p50 under attack <= 2x idle and no
error for the ordinary user, in every row. BENCH_FAIRNESS_MODES picks modes ("one worker",
"2 replicas", and "one worker, SQLite": the same data copied into a SQLite file;
comma-separated: one,replicas,sqlite; the default is one,replicas); BENCH_FAIRNESS_ATTACKS
picks attacks (comma-separated: searches,feed flood).
"""

import contextlib
import json
import multiprocessing
import multiprocessing.synchronize
import os
import secrets
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2

from bench import data
from bench.queries import LONG_TEXT, Client, token_for
from bench.run import LOG_DIR, ROOT, Server, ServerKind, load_config, server_env
from tests.deploy.stack import available, stack

REPORT = ROOT / "reports" / "bench-fairness.md"
SEARCHES = (
    "q=milk",  # common: thousands of matches, counted for `total`
    urllib.parse.urlencode({"q": LONG_TEXT}),
    "q=zq",  # refused (422): the trigram index cannot serve it
    "q=%25_%25_%25_%25_%25_",  # refused (422)
)
CLIENTS_PER_ACCOUNT = 2
FEED_CONNECTIONS = 16


@dataclass
class Row:
    mode: str
    attack: str
    idle: list[float]
    attacked: list[float]
    ordinary_errors: int
    outcomes: Counter[int] = field(default_factory=Counter)

    @property
    def ratio(self) -> float:
        return statistics.median(self.attacked) / statistics.median(self.idle)


def _p(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _list_for(client: Client, user_id: str, seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, _, elapsed = client.get(f"/api/{user_id}/tasks?limit=20")
        if status == 200:
            latencies.append(elapsed)
        else:
            errors += 1
    return latencies, errors


def _attacker(
    port: int,
    token: str,
    paths: list[str],
    stop: "multiprocessing.synchronize.Event",
    out: Counter[int],
) -> None:
    client = Client(port, token)
    try:
        number = 0
        while not stop.is_set():
            status, _, _ = client.get(paths[number % len(paths)])
            number += 1
            out[status] += 1
    finally:
        client.close()


def _attack(
    port: int,
    clients: list[tuple[str, list[str]]],
    stop: "multiprocessing.synchronize.Event",
    results: "multiprocessing.Queue[Counter[int]]",
) -> None:
    """An attack's clients, a thread each, until `stop`; their answers by status."""
    outcomes: Counter[int] = Counter()
    threads = [
        threading.Thread(target=_attacker, args=(port, token, paths, stop, outcomes))
        for token, paths in clients
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    results.put(outcomes)


# An attack: (token, the paths its client cycles through) per attacking client.
Attack = Callable[[dict[str, tuple[str, str]]], list[tuple[str, list[str]]]]


def searches(heavy: dict[str, tuple[str, str]]) -> list[tuple[str, list[str]]]:
    clients = []
    for user_id, token in heavy.values():
        paths = [f"/api/{user_id}/tasks?{query}&limit=20" for query in SEARCHES]
        paths.append(f"/api/{user_id}/tags?limit=1000")
        clients += [(token, paths)] * CLIENTS_PER_ACCOUNT
    return clients


def feed_flood(heavy: dict[str, tuple[str, str]]) -> list[tuple[str, list[str]]]:
    user_id, token = next(iter(heavy.values()))
    return [(token, [f"/api/{user_id}/tasks/changes?limit=500"])] * FEED_CONNECTIONS


ATTACKS: dict[str, Attack] = {"searches": searches, "feed flood": feed_flood}


def measure(
    mode: str, port: int, ordinary: tuple[str, str], heavy: dict[str, tuple[str, str]]
) -> list[Row]:
    idle_seconds = float(os.environ.get("BENCH_FAIRNESS_IDLE", "10"))
    attack_seconds = float(os.environ.get("BENCH_FAIRNESS_ATTACK", "20"))
    user_id, token = ordinary
    rows = []
    client = Client(port, token)
    try:
        _list_for(client, user_id, 2)  # warm-up
        chosen = os.environ.get("BENCH_FAIRNESS_ATTACKS", ",".join(ATTACKS)).split(",")
        for name, attack in ((n.strip(), ATTACKS[n.strip()]) for n in chosen):
            idle, idle_errors = _list_for(client, user_id, idle_seconds)
            # The attackers in a process of their own, as other machines would be: their
            # threads must not slow the measuring client down inside one interpreter.
            stop, results = multiprocessing.Event(), multiprocessing.Queue()
            attackers = multiprocessing.Process(
                target=_attack, args=(port, attack(heavy), stop, results)
            )
            attackers.start()
            time.sleep(1)  # the attack is in full swing before measuring
            attacked, attacked_errors = _list_for(client, user_id, attack_seconds)
            stop.set()
            outcomes: Counter[int] = results.get(timeout=120)
            attackers.join(timeout=60)
            rows.append(Row(mode, name, idle, attacked, idle_errors + attacked_errors, outcomes))
            print(f"{mode}, {name}: {rows[-1].ratio:.2f}x", flush=True)
    finally:
        client.close()
    return rows


def _users(url: str, emails: list[str]) -> list[str]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT email, id FROM users WHERE email = ANY(%s)", (emails,))
        found = dict(cur.fetchall())
    missing = [email for email in emails if email not in found]
    if missing:
        raise SystemExit(f"error: no users {missing}")
    return [str(found[email]) for email in emails]


@contextlib.contextmanager
def one_worker(url: str, workdir: Path) -> Iterator[tuple[int, str]]:
    secret = secrets.token_urlsafe(48)
    server = Server(
        ServerKind("fairness", "backend.main:app", "ours"),
        server_env(url, secret, load_config({})),
        workdir,
    )
    try:
        server.wait_until_ready()
        yield server.port, secret
    finally:
        server.stop()


@contextlib.contextmanager
def replicas(url: str, _workdir: Path) -> Iterator[tuple[int, str]]:
    if not available():
        raise SystemExit("error: 2 replicas need pgbouncer and nginx: make deploy-tools")
    with stack(url, replicas=2, log_dir=LOG_DIR, LOG_LEVEL="warning") as running:
        port = urlsplit(running.balancer.url).port
        assert port is not None
        yield port, running.secret


# The tables the API reads, copied into SQLite in this order (parents first).
SQLITE_TABLES = ("users", "tags", "tasks", "task_tags")


@contextlib.contextmanager
def sqlite_worker(url: str, workdir: Path) -> Iterator[tuple[int, str]]:
    """One worker on SQLite: the same data, copied from PostgreSQL into a migrated file."""
    sqlite_url = f"sqlite:///{workdir}/fairness.db"
    data.migrate(sqlite_url)
    with (
        contextlib.closing(psycopg2.connect(url)) as source,
        contextlib.closing(sqlite3.connect(f"{workdir}/fairness.db")) as target,
    ):
        for table in SQLITE_TABLES:
            with source.cursor(name=f"copy_{table}") as rows:  # server-side: not all in memory
                rows.itersize = 20_000
                rows.execute(f"SELECT * FROM {table}")  # noqa: S608  (fixed names)
                first = rows.fetchmany(1)
                if not first:
                    continue
                marks = ",".join("?" * len(first[0]))
                insert = f"INSERT INTO {table} VALUES ({marks})"  # noqa: S608
                target.executemany(insert, [_sqlite_row(row) for row in first])
                while batch := rows.fetchmany(20_000):
                    target.executemany(insert, [_sqlite_row(row) for row in batch])
            target.commit()
    with one_worker(sqlite_url, workdir) as served:
        yield served


def _sqlite_row(row: tuple[object, ...]) -> tuple[object, ...]:
    """PostgreSQL's values as the API stores them in SQLite (JSON as text, UTC naive)."""
    return tuple(
        json.dumps(value)
        if isinstance(value, list)
        else value.astimezone(UTC).replace(tzinfo=None)
        if isinstance(value, datetime)
        else value
        for value in row
    )


MODES = {
    "one": ("one worker", one_worker),
    "replicas": ("2 replicas", replicas),
    "sqlite": ("one worker, SQLite", sqlite_worker),
}


def main() -> int:
    heavy_tasks = int(os.environ.get("BENCH_FAIRNESS_HEAVY", "200000"))
    accounts = int(os.environ.get("BENCH_FAIRNESS_ACCOUNTS", "3"))
    modes = [m.strip() for m in os.environ.get("BENCH_FAIRNESS_MODES", "one,replicas").split(",")]
    size = data.Size(
        "fairness",
        os.environ.get("BENCH_FAIRNESS_DB", "bench_fairness"),
        200,
        100,
        heavy_tasks,
        heavy_users=accounts,
    )
    server_url = data.pg_server()
    data.load(size, server_url, data.anchor())
    url = data.database_url(server_url, size.database)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    emails = [data.heavy_email(n) for n in range(accounts)]
    ordinary_id, *heavy_ids = _users(url, ["user1@bench.example", *emails])
    rows: list[Row] = []
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(_drop, server_url, size.database)
        workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="fairness_")))
        for mode in modes:
            label, serve = MODES[mode]
            with serve(url, workdir) as (port, secret):
                tokens = {user: token_for(secret, url, user) for user in heavy_ids}
                heavy = {user: (user, tokens[user]) for user in heavy_ids}
                ordinary = (ordinary_id, token_for(secret, url, ordinary_id))
                rows += measure(label, port, ordinary, heavy)
    report = _render(heavy_tasks, accounts, rows)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(report)
    print(report)
    failed = [row for row in rows if row.ratio > 2 or row.ordinary_errors]
    return 1 if failed else 0


def _drop(server_url: str, name: str) -> None:
    conn = psycopg2.connect(data.database_url(server_url, "postgres"))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()


def _render(heavy_tasks: int, accounts: int, rows: list[Row]) -> str:
    lines = [
        f"# bench-fairness ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"PostgreSQL; {accounts} heavy accounts with {heavy_tasks:,} tasks each. Attacks:"
        f" searches ({CLIENTS_PER_ACCOUNT} clients per account: common word, 200-character"
        " text, two texts the contract refuses, tags?limit=1000) and a feed flood"
        f" ({FEED_CONNECTIONS} connections, changes?limit=500). The ordinary user (100 tasks)"
        " lists sequentially.",
        "",
        "| served by | attack | idle p50 ms | idle p95 ms | attacked p50 ms | attacked p95 ms"
        " | ratio p50 | ordinary non-200 | attackers' answers |",
        "|---|---|--:|--:|--:|--:|--:|--:|---|",
    ]
    for row in rows:
        outcomes = ", ".join(f"{status}: {n}" for status, n in sorted(row.outcomes.items()))
        lines.append(
            f"| {row.mode} | {row.attack} | {statistics.median(row.idle):.1f}"
            f" | {_p(row.idle, 95):.1f} | {statistics.median(row.attacked):.1f}"
            f" | {_p(row.attacked, 95):.1f} | **{row.ratio:.2f}x** | {row.ordinary_errors}"
            f" | {outcomes} |"
        )
    lines += [
        "",
        "Target: ratio <= 2x and no error for the ordinary user in every row. Attackers'"
        " answers: 200 served, 422 searches the contract refuses, 429 beyond the user's share,"
        " 503 statement timeout or busy.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
