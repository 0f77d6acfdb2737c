"""`make bench-mcp`: what a task created through MCP costs beside one created over REST,
measured in one run against one server (so both see the same machine).

Serves the API on a fresh database (SQLite, or PostgreSQL with TEST_DATABASE_URL) with one
uvicorn worker, warms up, then sends BENCH_MCP_CALLS (300) of each, interleaved one by one
from one client with keep-alive:

* REST:      POST /api/alice/tasks
* tools/call: the JSON-RPC request an MCP client sends for add_task (POST /mcp), answered
             by the same route run in-process (backend/mcp/dispatch.py)
* SDK:       the official SDK's client, `call_tool("add_task")`: the above plus the
             client's own work (framing, validating the result against the output schema)

Prints p50/p95/mean latency per kind and the ratio to REST (reports/bench-mcp.md). On a
shared machine the absolute figures are noisy; the interleaving keeps the comparison fair.
"""

import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.databases import fresh_database
from tests.live_server import live_server

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "reports" / "bench-mcp.md"
CALLS = int(os.environ.get("BENCH_MCP_CALLS", "300"))
WARM_UP = 30
Call = Callable[[int], Awaitable[None]]


def _row(name: str, samples: list[float], rest_p50: float) -> str:
    p50 = statistics.median(samples)
    p95 = statistics.quantiles(samples, n=20, method="inclusive")[18]
    mean = statistics.fmean(samples)
    return f"| {name} | {p50:.2f} | {p95:.2f} | {mean:.2f} | {p50 / rest_p50:.2f}x |"


async def _measure(url: str, token: str) -> dict[str, list[float]]:
    headers = {"Authorization": f"Bearer {token}"}
    rpc_headers = {**headers, "Accept": "application/json, text/event-stream"}
    async with (
        httpx.AsyncClient(base_url=url, headers=headers) as http,
        httpx2.AsyncClient(headers=headers) as sdk_http,
        Client(streamable_http_client(f"{url}/mcp", http_client=sdk_http)) as sdk,
    ):

        async def rest(n: int) -> None:
            answer = await http.post("/api/alice/tasks", json={"title": f"REST {n}"})
            assert answer.status_code == 201, answer.text

        async def tools_call(n: int) -> None:
            message = {
                "jsonrpc": "2.0",
                "id": n,
                "method": "tools/call",
                "params": {"name": "add_task", "arguments": {"title": f"MCP {n}"}},
            }
            answer = await http.post("/mcp", json=message, headers=rpc_headers)
            assert answer.status_code == 200, answer.text
            assert '"isError":false' in answer.text, answer.text

        async def sdk_call(n: int) -> None:
            result = await sdk.call_tool("add_task", {"title": f"SDK {n}"})
            assert not result.is_error, result.content

        kinds: dict[str, Call] = {
            "REST POST /tasks": rest,
            "MCP tools/call add_task": tools_call,
            "MCP SDK call_tool add_task": sdk_call,
        }
        samples: dict[str, list[float]] = {name: [] for name in kinds}
        for n in range(WARM_UP + CALLS):
            for name, call in kinds.items():
                started = time.perf_counter()
                await call(n)
                if n >= WARM_UP:
                    samples[name].append((time.perf_counter() - started) * 1000)
        return samples


def main() -> int:
    database = "PostgreSQL" if os.environ.get("TEST_DATABASE_URL") else "SQLite"
    # Generous quotas and shares: what is measured is the path, not the limits.
    limits = {"MAX_TASKS_PER_USER": "1000000", "USER_MAX_IN_FLIGHT": "50"}
    with fresh_database("bench_mcp") as url, live_server(url, **limits) as server:
        samples = asyncio.run(_measure(server.url, server.token("alice")))
    rest_p50 = statistics.median(samples["REST POST /tasks"])
    lines = [
        f"# MCP vs REST: creating a task ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"{CALLS} calls of each, interleaved, one client with keep-alive, one uvicorn worker,",
        f"{database}, {os.cpu_count()} CPUs (shared: absolute figures are noisy).",
        "",
        "| kind | p50 ms | p95 ms | mean ms | p50 vs REST |",
        "|---|---|---|---|---|",
        *(_row(name, values, rest_p50) for name, values in samples.items()),
        "",
    ]
    report = "\n".join(lines)
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(report)
    sys.stdout.write(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
