"""`make bench-abuse`: sign-in floods against another user's reads, on PostgreSQL.

A fresh database (created and dropped here), one uvicorn worker of ours with its defaults.
Two accounts sign up, and the second is locked (wrong passwords until 429); an ordinary
user creates 20 tasks. Then the ordinary user lists (GET /tasks?limit=20) sequentially:
BENCH_ABUSE_IDLE (10) seconds alone, then for BENCH_ABUSE_FLOOD (15) seconds during each
flood of POST /api/auth/sign-in over 16 connections (wrk), one after the other:

- the first account's right credentials, from one client;
- the locked account with a bogus (well-formed, unknown) device token, from one client;
- the same from a fresh client address with every request (many machines).

Each flood comes from its own client address (X-Forwarded-For, which the server believes
from 127.0.0.1 here), so no flood inherits another's per-client limits. Prints idle vs
flood p50/p95 of the ordinary user, each flood's answers per second by status, and the
server's CPU per answer (reports/bench-abuse.md). Target: every flood's p50 <= 2x idle,
and every flood gets 429s.
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
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
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
LOCKED = "locked@bench.example"
WRONG = "wrong guess 12345"
BOGUS_DEVICE_TOKEN = "A" * 43  # the shape of a device token, of no device
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Flood:
    name: str
    email: str
    password: str
    device_token: str  # "-": none
    client: str  # X-Forwarded-For: an address, or "random" (a new one per request)


FLOODS = (
    Flood("right credentials, one client", EMAIL, PASSWORD, "-", "198.51.100.1"),
    Flood(
        "bogus device token on a locked email, one client",
        LOCKED,
        WRONG,
        BOGUS_DEVICE_TOKEN,
        "198.51.100.2",
    ),
    Flood(
        "bogus device token on a locked email, a new client address per request",
        LOCKED,
        WRONG,
        BOGUS_DEVICE_TOKEN,
        "random",
    ),
)


def _post(
    url: str,
    path: str,
    body: dict[str, str],
    token: str | None = None,
    client: str | None = None,
) -> int:
    request = urllib.request.Request(  # noqa: S310 (http://127.0.0.1 only)
        url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"}
        | ({"Authorization": f"Bearer {token}"} if token else {})
        | ({"X-Forwarded-For": client} if client else {}),
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def _lock(url: str, email: str) -> None:
    """Wrong passwords for `email` from one client until the account's lockout answers."""
    for _ in range(20):
        if (
            _post(url, "/api/auth/sign-in", {"email": email, "password": WRONG}, None, "192.0.2.9")
            == 429
        ):
            return
    raise RuntimeError(f"{email} did not lock")


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


def _flood(url: str, flood: Flood, seconds: float) -> Counter[int]:
    command = ["wrk", "-t2", "-c16", f"-d{int(seconds)}s", "--timeout", "10s", "-s", str(LUA)]
    arguments = [flood.email, flood.password, flood.device_token, flood.client]
    done = subprocess.run(  # noqa: S603 (fixed arguments)
        [*command, url, "--", *arguments],
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


@dataclass
class Measured:
    flood: Flood
    latencies: list[float]
    counts: Counter[int]
    cpu_seconds: float


def _measure(server: Server, client: Client, reader: str, flood: Flood, seconds: float) -> Measured:
    cpu_before = process_cpu_ticks(server.process.pid)
    result: dict[str, Counter[int]] = {}
    thread = threading.Thread(
        target=lambda: result.update(counts=_flood(server.url, flood, seconds))
    )
    thread.start()
    time.sleep(1)
    during = _list_for(client, reader, seconds - 2)
    thread.join()
    cpu_seconds = (process_cpu_ticks(server.process.pid) - cpu_before) / TICKS
    return Measured(flood, during, result["counts"], cpu_seconds)


def _flood_row(measured: Measured, seconds: float) -> str:
    answers = ", ".join(
        f"{status}: {count} ({count / seconds:.1f}/s)"
        for status, count in sorted(measured.counts.items())
    )
    lists = len(measured.latencies)
    per_list = measured.cpu_seconds * 1000 / max(1, lists)
    cpu = measured.cpu_seconds
    return f"| {measured.flood.name} | {answers} | {cpu:.2f} s | {lists} | {per_list:.2f} ms |"


def main() -> int:
    idle_seconds = float(os.environ.get("BENCH_ABUSE_IDLE", "10"))
    flood_seconds = float(os.environ.get("BENCH_ABUSE_FLOOD", "15"))
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(fresh_database(pg_server()))
        migrate(url)
        secret = secrets.token_urlsafe(48)
        # Plain uvicorn believes X-Forwarded-For from 127.0.0.1 (FORWARDED_ALLOW_IPS);
        # `python -m backend serve` would need TRUSTED_PROXIES: both say the same here.
        env = server_env(url, secret, load_config({})) | {
            "TRUSTED_PROXIES": "127.0.0.1",
            "FORWARDED_ALLOW_IPS": "127.0.0.1",
        }
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="abuse_")))
        server = Server(ServerKind("abuse", "backend.main:app", "ours"), env, workdir)
        stack.callback(server.stop)
        server.wait_until_ready()
        for email in (EMAIL, LOCKED):
            body = {"email": email, "password": PASSWORD, "name": "F"}
            _post(server.url, "/api/auth/sign-up", body, None, "192.0.2.8")
        _lock(server.url, LOCKED)
        reader = "ordinary-reader"
        token = token_for(secret, url, reader)
        for number in range(20):
            _post(server.url, f"/api/{reader}/tasks", {"title": f"Task {number}"}, token)
        client = Client(server.port, token)
        stack.callback(client.close)
        _list_for(client, reader, 2)  # warm-up
        cpu_before = process_cpu_ticks(server.process.pid)
        idle = _list_for(client, reader, idle_seconds)
        cpu_idle = (process_cpu_ticks(server.process.pid) - cpu_before) / TICKS
        measured = []
        for flood in FLOODS:
            measured.append(_measure(server, client, reader, flood, flood_seconds))
            time.sleep(1)  # the tarpit's last answers drain
        problems = server.log_problems()
    idle_p50 = statistics.median(idle)
    ratios = [statistics.median(m.latencies) / idle_p50 for m in measured]
    argon2 = _argon2_cpu_ms()
    lines = [
        f"# bench-abuse ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        "PostgreSQL, one uvicorn worker with the default limits; each flood is"
        " POST /api/auth/sign-in over 16 connections (wrk -t2 -c16) for"
        f" {flood_seconds:.0f} s while another user lists (GET /tasks?limit=20, sequential).",
        "",
        "| ordinary user's list | requests | p50 ms | p95 ms | p50 / idle |",
        "|---|--:|--:|--:|--:|",
        f"| idle | {len(idle)} | {idle_p50:.1f} | {_p95(idle):.1f} | 1.00 |",
        *(
            f"| during: {m.flood.name} | {len(m.latencies)} |"
            f" {statistics.median(m.latencies):.1f} | {_p95(m.latencies):.1f} | **{ratio:.2f}x** |"
            for m, ratio in zip(measured, ratios, strict=True)
        ),
        "",
        "Target: every flood's p50 <= 2x idle.",
        "",
        "| flood | answers by status (per second) | server CPU | lists meanwhile |"
        " server CPU per list, flood included |",
        "|---|---|--:|--:|--:|",
        f"| (idle) | | {cpu_idle:.2f} s | {len(idle)} | {cpu_idle * 1000 / len(idle):.2f} ms |",
        *(_flood_row(m, flood_seconds) for m in measured),
        "",
        "The worker serves the reader's lists and the flood: what the flood costs is the"
        " growth of the CPU per list over idle (process CPU time, so less noisy than latency"
        " on a shared machine).",
        "",
        f"argon2id verification alone: {argon2:.1f} ms of CPU per sign-in (this machine).",
        f"Server log lines naming an error: {len(problems)}.",
    ]
    report = "\n".join(lines) + "\n"
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(report)
    print(report)
    refused = all(m.counts.get(429, 0) > 0 for m in measured)
    return 0 if all(ratio <= 2 for ratio in ratios) and refused else 1


if __name__ == "__main__":
    sys.exit(main())
