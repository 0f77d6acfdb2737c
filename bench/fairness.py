"""`make bench-fairness`: one heavy user's expensive searches against an ordinary user's
plain listing, on PostgreSQL.

Loads a database of its own (BENCH_FAIRNESS_DB, default bench_fairness; dropped afterwards)
with one heavy user of BENCH_FAIRNESS_HEAVY (200,000) tasks and 200 ordinary users of 100,
serves it with one uvicorn worker (our defaults: pool 5 + 10, 2 units of work in flight per
user), then:

1. idle: the ordinary user lists (GET /tasks?limit=20) sequentially for BENCH_FAIRNESS_IDLE
   (10) seconds;
2. attack: 6 threads of the heavy user send expensive searches back to back (a common word
   with its total, a 200-character text, a 2-character text and a wildcard-only text,
   which the contract refuses) for BENCH_FAIRNESS_ATTACK (20) seconds, while the ordinary
   user lists sequentially as before.

Prints idle vs under-attack p50/p95 of the ordinary user, their errors, and the heavy
user's outcomes by status (reports/bench-fairness.md). Target: p50 under attack <= 2x idle,
no error for the ordinary user.
"""

import contextlib
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import psycopg2

from bench import data
from bench.queries import LONG_TEXT, Client, token_for
from bench.run import LOG_DIR, ROOT, Server, ServerKind, load_config, server_env

REPORT = ROOT / "reports" / "bench-fairness.md"
SEARCHES = (
    ("q", "milk"),  # common: thousands of matches, counted for `total`
    ("q", LONG_TEXT),
    ("q", "zq"),  # refused (422): the trigram index cannot serve it
    ("q", "%_%_%_%_%_"),  # refused (422)
)
ATTACKERS = 6


def _p(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _list_for(client: Client, user_id: str, seconds: float) -> tuple[list[float], Counter[int]]:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, _, elapsed = client.get(f"/api/{user_id}/tasks?limit=20")
        statuses[status] += 1
        if status == 200:
            latencies.append(elapsed)
    return latencies, statuses


def _attack(port: int, token: str, user_id: str, stop: threading.Event, out: Counter[int]) -> None:
    client = Client(port, token)
    try:
        number = 0
        while not stop.is_set():
            key, value = SEARCHES[number % len(SEARCHES)]
            number += 1
            query = urllib.parse.urlencode({key: value, "limit": 20})
            status, _, _ = client.get(f"/api/{user_id}/tasks?{query}")
            out[status] += 1
    finally:
        client.close()


def _user(url: str, email: str) -> str:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM users WHERE email = %s", (email,))
        row = cur.fetchone()
    if row is None:
        raise SystemExit(f"error: no user {email}")
    return str(row[0])


def main() -> int:
    heavy_tasks = int(os.environ.get("BENCH_FAIRNESS_HEAVY", "200000"))
    idle_seconds = float(os.environ.get("BENCH_FAIRNESS_IDLE", "10"))
    attack_seconds = float(os.environ.get("BENCH_FAIRNESS_ATTACK", "20"))
    size = data.Size(
        "fairness", os.environ.get("BENCH_FAIRNESS_DB", "bench_fairness"), 200, 100, heavy_tasks
    )
    server_url = data.pg_server()
    data.load(size, server_url, data.anchor())
    url = data.database_url(server_url, size.database)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        stack.callback(_drop, server_url, size.database)
        secret = secrets.token_urlsafe(48)
        env = server_env(url, secret, load_config({}))
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fairness_")))
        server = Server(ServerKind("fairness", "backend.main:app", "ours"), env, workdir)
        stack.callback(server.stop)
        server.wait_until_ready()
        heavy = _user(url, "heavy@bench.example")
        ordinary = _user(url, "user1@bench.example")
        heavy_token = token_for(secret, url, heavy)
        client = Client(server.port, token_for(secret, url, ordinary))
        stack.callback(client.close)
        _list_for(client, ordinary, 2)  # warm-up
        idle, idle_statuses = _list_for(client, ordinary, idle_seconds)
        stop, outcomes = threading.Event(), Counter[int]()
        attackers = [
            threading.Thread(target=_attack, args=(server.port, heavy_token, heavy, stop, outcomes))
            for _ in range(ATTACKERS)
        ]
        for thread in attackers:
            thread.start()
        time.sleep(1)  # the attack is in full swing before measuring
        attacked, attacked_statuses = _list_for(client, ordinary, attack_seconds)
        stop.set()
        for thread in attackers:
            thread.join(timeout=60)
        problems = server.log_problems()
    report = _render(
        heavy_tasks, idle, idle_statuses, attacked, attacked_statuses, outcomes, problems
    )
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(report)
    print(report)
    ratio = statistics.median(attacked) / statistics.median(idle)
    ordinary_errors = sum(n for s, n in (idle_statuses + attacked_statuses).items() if s != 200)
    return 0 if ratio <= 2 and ordinary_errors == 0 else 1


def _drop(server_url: str, name: str) -> None:
    conn = psycopg2.connect(data.database_url(server_url, "postgres"))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()


def _render(
    heavy_tasks: int,
    idle: list[float],
    idle_statuses: Counter[int],
    attacked: list[float],
    attacked_statuses: Counter[int],
    outcomes: Counter[int],
    problems: list[str],
) -> str:
    ratio = statistics.median(attacked) / statistics.median(idle)
    lines = [
        f"# bench-fairness ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"PostgreSQL, one uvicorn worker; heavy user with {heavy_tasks:,} tasks, {ATTACKERS}"
        " threads of expensive searches; the ordinary user (100 tasks) lists sequentially.",
        "",
        "| ordinary user's list | requests | p50 ms | p95 ms | non-200 |",
        "|---|--:|--:|--:|--:|",
        f"| idle | {len(idle)} | {statistics.median(idle):.1f} | {_p(idle, 95):.1f} |"
        f" {sum(n for s, n in idle_statuses.items() if s != 200)} |",
        f"| under attack | {len(attacked)} | {statistics.median(attacked):.1f} |"
        f" {_p(attacked, 95):.1f} | {sum(n for s, n in attacked_statuses.items() if s != 200)} |",
        "",
        f"p50 under attack / idle: **{ratio:.2f}x** (target <= 2x).",
        "",
        "Heavy user's outcomes: "
        + ", ".join(f"{status}: {count}" for status, count in sorted(outcomes.items()))
        + " (200 answered, 422 searches the contract refuses, 429 beyond the user's share,"
        " 503 statement timeout).",
        f"Server log lines naming an error: {len(problems)}.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
