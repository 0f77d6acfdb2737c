"""`make bench-abuse`: a sign-in flood against another user's reads, on PostgreSQL.

A fresh database (created and dropped here), one uvicorn worker of ours with its defaults.
One account signs up; an ordinary user creates 20 tasks. Then the ordinary user lists
(GET /tasks?limit=20) sequentially: BENCH_ABUSE_IDLE (10) seconds alone, then for
BENCH_ABUSE_FLOOD (15) seconds while one client floods POST /api/auth/sign-in with the
account's right credentials over 16 connections (wrk). Prints idle vs flood p50/p95 of the
ordinary user, the flood's answers per second by status, and the server's CPU per sign-in
that reached password verification (reports/bench-abuse.md). Target: flood p50 <= 2x idle,
and the flood gets 429s.
"""

import contextlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from bench.data import migrate, pg_server
from bench.queries import Client, token_for
from bench.run import (
    LOG_DIR,
    ROOT,
    Server,
    ServerKind,
    fresh_database,
    load_config,
    process_cpu_ticks,
    server_env,
)

REPORT = ROOT / "reports" / "bench-abuse.md"
LUA = ROOT / "bench" / "signin_flood.lua"
EMAIL, PASSWORD = "flood@bench.example", "a long and unusual passphrase 42"
TICKS = os.sysconf("SC_CLK_TCK")


def _post(url: str, path: str, body: dict[str, str], token: str | None = None) -> int:
    request = urllib.request.Request(  # noqa: S310 (http://127.0.0.1 only)
        url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"}
        | ({"Authorization": f"Bearer {token}"} if token else {}),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return int(response.status)


def _list_for(client: Client, user_id: str, seconds: float) -> list[float]:
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, _, elapsed = client.get(f"/api/{user_id}/tasks?limit=20")
        if status != 200:
            raise RuntimeError(f"the ordinary user's list answered {status}")
        latencies.append(elapsed)
    return latencies


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def _flood(url: str, seconds: float) -> Counter[int]:
    command = ["wrk", "-t2", "-c16", f"-d{int(seconds)}s", "--timeout", "10s", "-s", str(LUA)]
    done = subprocess.run(  # noqa: S603 (fixed arguments)
        [*command, url, "--", EMAIL, PASSWORD],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    counts: Counter[int] = Counter()
    for line in done.stdout.splitlines():
        if line.startswith("STATUS "):
            _, status, count = line.split()
            counts[int(status)] += int(count)
    return counts


def _argon2_cpu_ms(rounds: int = 20) -> float:
    """CPU of one password verification, as the server does it, measured here."""
    from backend.identity.passwords import hash_password, verify_password

    stored = hash_password(PASSWORD)
    started = time.process_time()
    for _ in range(rounds):
        verify_password(PASSWORD, stored)
    return (time.process_time() - started) * 1000 / rounds


def main() -> int:
    idle_seconds = float(os.environ.get("BENCH_ABUSE_IDLE", "10"))
    flood_seconds = float(os.environ.get("BENCH_ABUSE_FLOOD", "15"))
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(fresh_database(pg_server()))
        migrate(url)
        secret = secrets.token_urlsafe(48)
        env = server_env(url, secret, load_config({}))
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="abuse_")))
        server = Server(ServerKind("abuse", "backend.main:app", "ours"), env, workdir)
        stack.callback(server.stop)
        server.wait_until_ready()
        _post(server.url, "/api/auth/sign-up", {"email": EMAIL, "password": PASSWORD, "name": "F"})
        reader = "ordinary-reader"
        token = token_for(secret, url, reader)
        for number in range(20):
            _post(server.url, f"/api/{reader}/tasks", {"title": f"Task {number}"}, token)
        client = Client(server.port, token)
        stack.callback(client.close)
        _list_for(client, reader, 2)  # warm-up
        idle = _list_for(client, reader, idle_seconds)
        cpu_before = process_cpu_ticks(server.process.pid)
        result: dict[str, Counter[int]] = {}
        flood = threading.Thread(
            target=lambda: result.update(counts=_flood(server.url, flood_seconds))
        )
        flood.start()
        time.sleep(1)
        during = _list_for(client, reader, flood_seconds - 2)
        flood.join()
        cpu_seconds = (process_cpu_ticks(server.process.pid) - cpu_before) / TICKS
        problems = server.log_problems()
    counts = result["counts"]
    verified = counts.get(200, 0) + counts.get(401, 0)
    ratio = statistics.median(during) / statistics.median(idle)
    each = f" ({cpu_seconds * 1000 / verified:.0f} ms each, all work included)" if verified else ""
    argon2 = _argon2_cpu_ms()
    lines = [
        f"# bench-abuse ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        "PostgreSQL, one uvicorn worker with the default limits; one client floods"
        " POST /api/auth/sign-in with right credentials (wrk -t2 -c16); another user lists.",
        "",
        "| ordinary user's list | requests | p50 ms | p95 ms |",
        "|---|--:|--:|--:|",
        f"| idle | {len(idle)} | {statistics.median(idle):.1f} | {_p95(idle):.1f} |",
        f"| during the flood | {len(during)} | {statistics.median(during):.1f} |"
        f" {_p95(during):.1f} |",
        "",
        f"p50 during the flood / idle: **{ratio:.2f}x** (target <= 2x).",
        "",
        "| flood answers | count | per second |",
        "|---|--:|--:|",
        *(
            f"| {status} | {count} | {count / flood_seconds:.1f} |"
            for status, count in sorted(counts.items())
        ),
        "",
        f"Server CPU during the flood: {cpu_seconds:.2f} s, for {verified} sign-ins that"
        f" reached password verification{each}.",
        f"argon2id verification alone: {argon2:.1f} ms of CPU per sign-in (this machine).",
        f"Server log lines naming an error: {len(problems)}.",
    ]
    report = "\n".join(lines) + "\n"
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(report)
    print(report)
    return 0 if ratio <= 2 and counts.get(429, 0) > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
