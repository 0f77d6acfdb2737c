"""`make bench-queries`: latency of every listing filter and sort, tags and stats, for a heavy
and a typical user, on the SMALL and the LARGE database of `make bench-data`.

For each database: start the API (uvicorn backend.main:app, one worker, a free port, a
fresh BETTER_AUTH_SECRET that also signs our tokens), pick the heavy user and a typical
one and their parameters from the data (most used tags, task counts), then send each case
sequentially over one keep-alive connection: BENCH_QUERY_WARMUP (5) warm-up requests, then
BENCH_QUERY_REQUESTS (40) measured ones; p50/p95 of the client-side latency. Every answer
must be 200; others are counted and reported. The table (stdout and reports/bench-queries.md)
sets small against large and flags a case when the heavy user's p50 at large is >= 50 ms or
p50 grows more than 2x from small to large.

Then EXPLAIN (ANALYZE, BUFFERS) of the statements the API runs for the heavy user on the
large database: the very statements the routes execute (backend.tasks.listing.statements,
stats.STATS, tags.PAGE / tags.COUNT) with each case's values bound. The indexes each plan
reads go into the report; full plans into reports/bench-queries-plans.txt
(and on stdout with --explain).

Usage: python -m bench.queries [--explain] [--explain-only]
Environment: BENCH_PG, BENCH_SMALL_DB, BENCH_LARGE_DB (as bench.data), BENCH_QUERY_REQUESTS,
BENCH_QUERY_WARMUP.
"""

import argparse
import base64
import contextlib
import dataclasses
import http.client
import json
import os
import platform
import re
import secrets
import signal
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2

from bench import data
from bench.run import ROOT, Server, ServerKind, git_describe, load_config, server_env

REPORT_MD = ROOT / "reports" / "bench-queries.md"
REPORT_PLANS = ROOT / "reports" / "bench-queries-plans.txt"
COMMON_WORD = "milk"
RARE_WORD = "zeppelin"
TYPICAL_OFFSET = 80
# Every sort and order, paged by cursor without the total: page 2 of each.
CURSOR_SORTS = (
    ("created_at", "desc"),
    ("created_at", "asc"),
    ("updated_at", "desc"),
    ("due_at", "asc"),
    ("due_at", "desc"),
    ("priority", "desc"),
    ("title", "asc"),
)
# A 200-character search (the contract's maximum) made of common words.
LONG_TEXT = ("buy milk and call the plumber about the kitchen sink " * 4)[:200]
SLOW_MS = 50.0
MAX_RATIO = 2.0
TYPICAL_EMAIL = "user1@bench.example"

Params = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Subject:
    """A user the cases run as, with the parameters picked from their data."""

    label: str  # "heavy" | "typical"
    id: str
    tasks: int
    top_tags: tuple[str, ...]  # display names, most used first


@dataclass(frozen=True)
class Case:
    name: str
    endpoint: str  # "tasks" | "tags" | "tasks/stats" | "tasks/changes"
    params: Params = ()
    expect: int = 200  # 422: a search the contract refuses (no 3 letters or digits in a row)
    cursor_page: bool = False  # the page after the first (its next_cursor), fetched first
    feed_middle: bool = False  # the feed page after the user's first half of changes

    def path(self, user_id: str) -> str:
        query = urllib.parse.urlencode(self.params)
        return f"/api/{urllib.parse.quote(user_id, safe='')}/{self.endpoint}" + (
            f"?{query}" if query else ""
        )

    def shown_params(self) -> str:
        return "&".join(f"{k}={v}" for k, v in self.params)


def _moment(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cases_for(subject: Subject, now: datetime) -> list[Case]:
    tag1, tag2 = (*subject.top_tags, "none", "none")[:2]
    deep = int(subject.tasks * 0.9) if subject.label == "heavy" else TYPICAL_OFFSET
    window = (("due_after", _moment(now - timedelta(days=30))),)
    window += (("due_before", _moment(now + timedelta(days=30))),)
    return [
        Case("list (created_at desc)", "tasks"),
        Case("status=pending", "tasks", (("status", "pending"),)),
        Case("priority=high", "tasks", (("priority", "high"),)),
        Case("tag (most used)", "tasks", (("tag", tag1),)),
        Case("two tags", "tasks", (("tag", tag1), ("tag", tag2))),
        Case("q=common word", "tasks", (("q", COMMON_WORD),)),
        Case("q=rare word", "tasks", (("q", RARE_WORD),)),
        Case("q=200 characters", "tasks", (("q", LONG_TEXT),)),
        Case("q=2 characters", "tasks", (("q", "zq"),), expect=422),
        Case("q=wildcards only", "tasks", (("q", "%_%_%_%_%_"),), expect=422),
        Case("due window ±30 d", "tasks", window),
        Case("overdue=true", "tasks", (("overdue", "true"),)),
        Case("sort=created_at asc", "tasks", (("sort", "created_at"), ("order", "asc"))),
        Case("sort=updated_at desc", "tasks", (("sort", "updated_at"), ("order", "desc"))),
        Case("sort=due_at asc", "tasks", (("sort", "due_at"), ("order", "asc"))),
        Case("sort=due_at desc", "tasks", (("sort", "due_at"), ("order", "desc"))),
        Case("sort=priority desc", "tasks", (("sort", "priority"), ("order", "desc"))),
        Case("sort=title asc", "tasks", (("sort", "title"), ("order", "asc"))),
        Case("deep offset", "tasks", (("offset", str(deep)),)),
        *(
            Case(
                f"cursor, sort={sort} {order}",
                "tasks",
                (("include_total", "false"), ("sort", sort), ("order", order)),
                cursor_page=True,
            )
            for sort, order in CURSOR_SORTS
        ),
        Case("feed, first page", "tasks/changes"),
        Case("feed, middle page", "tasks/changes", feed_middle=True),
        Case("GET tags", "tags"),
        Case("GET stats", "tasks/stats"),
    ]


# --- measuring ----------------------------------------------------------------------------


@dataclass
class Measurement:
    case: str
    user: str
    size: str
    params: str
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    expect: int = 200
    total: int | None = None  # the listing's `total` (or the tag count), from the API

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p95(self) -> float:
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0]
        return statistics.quantiles(self.latencies_ms, n=20, method="inclusive")[18]

    @property
    def non_200(self) -> int:
        """Answers other than the case's expected status (200, or a documented 422)."""
        return sum(n for status, n in self.statuses.items() if status != self.expect)


class Client:
    """Sequential requests over one keep-alive HTTP/1.1 connection."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def get(self, path: str) -> tuple[int, bytes, float]:
        for attempt in (1, 2):
            started = time.perf_counter()
            try:
                self.conn.request("GET", path, headers=self.headers)
                response = self.conn.getresponse()
                body = response.read()
                return response.status, body, (time.perf_counter() - started) * 1000
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()  # the server closed the connection: one retry on a new one
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


def measure(
    client: Client, subject: Subject, case: Case, size: str, warmup: int, requests: int
) -> Measurement:
    path = case.path(subject.id)
    if case.cursor_page:  # the second page: the first page's next_cursor
        _, first, _ = client.get(path)
        path += "&" + urllib.parse.urlencode({"cursor": json.loads(first)["next_cursor"]})
    result = Measurement(case.name, subject.label, size, case.shown_params(), expect=case.expect)
    for _ in range(warmup):
        client.get(path)
    for _ in range(requests):
        status, body, elapsed = client.get(path)
        result.statuses[status] = result.statuses.get(status, 0) + 1
        result.latencies_ms.append(elapsed)
        if status == 200 and result.total is None and case.endpoint != "tasks/stats":
            result.total = json.loads(body).get("total")
        elif status != case.expect and result.non_200 == 1:
            print(f"    {status} for {path}: {body[:300]!r}", flush=True)
    return result


def subjects(url: str) -> list[Subject]:
    """The heavy user and one typical user, with their task counts and most used tags."""
    found = []
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        for label, email in (("heavy", data.HEAVY_EMAIL), ("typical", TYPICAL_EMAIL)):
            cur.execute("SELECT id FROM users WHERE email = %s", (email,))
            row = cur.fetchone()
            if row is None:
                raise SystemExit(f"error: no user {email} in {url}: run `make bench-data` first")
            cur.execute("SELECT count(*) FROM tasks WHERE user_id = %s", (row[0],))
            count = cur.fetchone()
            cur.execute(
                "SELECT g.name FROM tags g JOIN task_tags tt ON tt.tag_id = g.id"
                " WHERE g.user_id = %s GROUP BY g.id, g.name ORDER BY count(*) DESC, g.id LIMIT 2",
                (row[0],),
            )
            top_tags = tuple(name for (name,) in cur.fetchall())
            found.append(Subject(label, row[0], int(count[0]) if count else 0, top_tags))
    return found


def middle_of_feed(url: str, secret: str, user_id: str) -> str:
    """A feed cursor half-way through the user's changes (as the server would make it)."""
    from backend.tasks.cursors import FeedCursors

    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM tasks WHERE user_id = %s", (user_id,))
        count = cur.fetchone()
        cur.execute(
            "SELECT change_seq FROM tasks WHERE user_id = %s ORDER BY change_seq OFFSET %s LIMIT 1",
            (user_id, (int(count[0]) if count else 0) // 2),
        )
        row = cur.fetchone()
    return FeedCursors(secret.encode()).encode(user_id, int(row[0]) if row else 0)


def token_for(secret: str, url: str, user_id: str) -> str:
    from backend.config import Settings
    from backend.identity.tokens import TokenVerifier

    settings = Settings(  # the server's settings, so its verifier accepts the token
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        better_auth_secret=secret,  # type: ignore[arg-type]
        jwt_issuer=None,
        jwt_audience=None,
    )
    return TokenVerifier(settings).issue(user_id, ttl_seconds=4 * 3600)


def run_size(
    size: data.Size, server_url: str, warmup: int, requests: int, stack: contextlib.ExitStack
) -> tuple[list[Measurement], list[Subject]]:
    url = data.database_url(server_url, size.database)
    people = subjects(url)
    secret = secrets.token_urlsafe(48)
    env = server_env(url, secret, load_config({}))
    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench_queries_")))
    (ROOT / "reports" / "bench-logs").mkdir(parents=True, exist_ok=True)
    server = Server(ServerKind(f"queries-{size.name}", "backend.main:app", "ours"), env, workdir)
    stack.callback(server.stop)
    server.wait_until_ready()
    print(f"{size.name}: {size.database}, server {server.url}", flush=True)
    now = datetime.now(UTC)
    results = []
    for subject in people:
        client = Client(server.port, token_for(secret, url, subject.id))
        try:
            for case in cases_for(subject, now):
                if case.feed_middle:
                    since = middle_of_feed(url, secret, subject.id)
                    case = dataclasses.replace(case, params=(("since", since),))
                m = measure(client, subject, case, size.name, warmup, requests)
                results.append(m)
                print(
                    f"  {subject.label:<7} {case.name:<22} p50 {m.p50:7.1f} ms  p95 {m.p95:7.1f} ms"
                    f"  total {m.total if m.total is not None else '-':>7}"
                    f"  non-200 {m.non_200}",
                    flush=True,
                )
        finally:
            client.close()
    server.stop()
    problems = server.log_problems()
    if problems:
        print(f"  server log: {len(problems)} lines naming an error ({server.log_path})")
    return results, people


# --- EXPLAIN ------------------------------------------------------------------------------


def compile_sql(statement: Any) -> str:
    from sqlalchemy.dialects import postgresql

    compiled = statement.compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
    )
    return str(compiled)


def list_query(params: Params) -> Any:
    """The backend's ListQuery for a case's parameters, as routes/tasks.py builds it."""
    from backend.tasks import input as task_input
    from backend.tasks.cursors import ListCursors
    from generated.models import ListTasksParametersQuery

    values: dict[str, Any] = {}
    for key, value in params:
        if key in ("priority", "tag"):  # the repeatable ones
            values.setdefault(key, []).append(value)
        else:
            values[key] = value
    # Cursor pages are fetched through the API (Case.cursor_page); here only the filters.
    values.pop("cursor", None)
    params_model = ListTasksParametersQuery.model_validate(values)
    return task_input.list_query(params_model, ListCursors(b"unused: no cursor"), "unused")


def statements_for(
    case: Case, user_id: str, now: datetime, cur: Any = None
) -> tuple[list[tuple[str, str]], str]:
    """(label, SQL) pairs the API runs for `case`, and the module they come from: the very
    statements the route executes, with the case's values bound."""
    from backend.tasks import listing, stats, tags

    if case.endpoint == "tasks":
        query = list_query(case.params)
        if query.tags and cur is not None:
            # As list_tasks does: the tag ids first, then the listing with literal ids.
            cur.execute(compile_sql(tags.ids_statement(user_id, query.tags)), ())
            query = dataclasses.replace(query, tag_ids=tuple(row[0] for row in cur.fetchall()))
        page, count = listing.statements(query)
        params = listing.bind_values(user_id, query, now)
        return [
            ("page", compile_sql(page.params(params))),
            ("count", compile_sql(count.params(params))),
        ], "backend.tasks.listing.statements"
    if case.endpoint == "tasks/changes":
        from backend.tasks import feed

        since = 0
        for key, value in case.params:
            if key == "since":  # the number the cursor carries (the bench made it itself)
                since = int(base64.urlsafe_b64decode(value + "==").decode().split(":")[1])
        params = {"owner_id": user_id, "since": since, "upto": 2**62, "limit": 101}
        return [
            ("tasks", compile_sql(feed.CHANGED_TASKS.params(params))),
            ("tombstones", compile_sql(feed.DELETIONS.params(params))),
        ], "backend.tasks.feed"
    if case.endpoint == "tasks/stats":
        params = stats.stats_params(user_id, UTC, now)
        return [(case.endpoint, compile_sql(stats.STATS.params(params)))], (
            "backend.tasks.stats.STATS"
        )
    params = {"owner_id": user_id, "limit": 100, "offset": 0}
    return [
        ("page", compile_sql(tags.PAGE.params(params))),
        ("count", compile_sql(tags.COUNT.params(params))),
    ], "backend.tasks.tags.PAGE/COUNT"


INDEX_USE = re.compile(
    r"(Index Only Scan|Index Scan|Bitmap Index Scan)(?: Backward)? (?:using|on) (\S+)"
)
SEQ_SCAN = re.compile(r"Seq Scan on (\S+)")


@dataclass
class Plan:
    case: str
    statement: str
    source: str
    sql: str
    lines: list[str]

    @property
    def execution_ms(self) -> float:
        for line in self.lines:
            if line.startswith("Execution Time:"):
                return float(line.split()[2])
        return float("nan")

    @property
    def scans(self) -> list[str]:
        seen: list[str] = []
        for line in self.lines:
            for kind, name in INDEX_USE.findall(line):
                label = f"{name} ({kind.replace(' Scan', '').lower()})"
                if label not in seen:
                    seen.append(label)
            for name in SEQ_SCAN.findall(line):
                if f"SEQ SCAN {name}" not in seen:
                    seen.append(f"SEQ SCAN {name}")
        return seen

    @property
    def shared_hits_reads(self) -> str:
        for line in self.lines:  # the top node's buffers: the whole statement
            if "Buffers:" in line:
                return line.split("Buffers:", 1)[1].strip()
        return ""


def explain(url: str, subject: Subject, now: datetime) -> list[Plan]:
    plans = []
    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            for case in cases_for(subject, now):
                if case.expect != 200:  # refused before any statement runs
                    continue
                try:
                    statements, source = statements_for(case, subject.id, now, cur)
                except Exception as error:  # the backend is changing under us: say so, go on
                    plans.append(Plan(case.name, "-", "unavailable", "", [repr(error)]))
                    continue
                for label, statement in statements:
                    text = f"EXPLAIN (ANALYZE, BUFFERS) {statement}"
                    cur.execute(text, ())  # once to warm the cache, then the one we keep
                    cur.execute(text, ())
                    lines = [row[0] for row in cur.fetchall()]
                    plans.append(Plan(case.name, label, source, statement, lines))
    finally:
        conn.close()
    return plans


def render_plans(plans: Sequence[Plan]) -> str:
    out = []
    for plan in plans:
        out += [
            f"=== {plan.case} — {plan.statement} ({plan.source})",
            plan.sql,
            *plan.lines,
            "",
        ]
    return "\n".join(out)


# --- the report ---------------------------------------------------------------------------


def header(server_url: str, sizes: Sequence[data.Size], warmup: int, requests: int) -> list[str]:
    cpu_model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    url = data.database_url(server_url, sizes[0].database)
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT current_setting('server_version'), current_setting('shared_buffers'),"
            " current_setting('work_mem')"
        )
        version, shared_buffers, work_mem = cur.fetchone() or ()
    return [
        f"- machine: {os.cpu_count()} CPUs, {cpu_model}, Linux {platform.release()},"
        f" load average at start {os.getloadavg()[0]:.2f}; Python {platform.python_version()}",
        f"- PostgreSQL {version} on 127.0.0.1 (shared_buffers {shared_buffers},"
        f" work_mem {work_mem}); code: {git_describe()}",
        "- data (`make bench-data`): "
        + "; ".join(
            f"{s.name} `{s.database}` {s.tasks:,} tasks ({s.typical_users:,} typical users x"
            f" {s.tasks_per_user} + heavy user {s.heavy_tasks:,})"
            for s in sizes
        ),
        f"- method: one uvicorn worker per database, pool 5+10; per case {warmup} warm-up"
        f" then {requests} sequential requests over one keep-alive connection; client-side"
        " latency (request sent to body read), limit 20",
    ]


def ratio_text(large: float, small: float) -> str:
    return f"{large / small:.2f}x" if small else "n/a"


def render(
    results: Sequence[Measurement],
    people: dict[str, list[Subject]],
    head: Sequence[str],
    plans: Sequence[Plan],
) -> str:
    by_key = {(m.case, m.user, m.size): m for m in results}
    small, large = "small", "large"
    cases = list(dict.fromkeys(m.case for m in results))
    lines = [f"# make bench-queries — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "", *head, ""]
    lines += [
        f"p50 / p95 in ms; ratio = p50 {large} / p50 {small}; total = matching tasks (tags:"
        f" tags in use) {small} / {large}. Flag: heavy user's p50 at {large} >= {SLOW_MS:.0f} ms"
        f" (SLOW) or ratio > {MAX_RATIO:.0f}x (GROWS).",
        "",
        f"| case | user | {small} p50 | {small} p95 | {large} p50 | {large} p95 | ratio |"
        " total | non-200 | flag |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    flagged = []
    for case in cases:
        for user in ("heavy", "typical"):
            s, g = by_key.get((case, user, small)), by_key.get((case, user, large))
            if s is None or g is None:
                continue
            flags = []
            if user == "heavy" and g.p50 >= SLOW_MS:
                flags.append("SLOW")
            if s.p50 and g.p50 / s.p50 > MAX_RATIO:
                flags.append("GROWS")
            if flags:
                flagged.append(f"{case} ({user})")
            totals = f"{s.total if s.total is not None else '-'} / "
            totals += f"{g.total if g.total is not None else '-'}"
            lines.append(
                f"| {case} | {user} | {s.p50:.1f} | {s.p95:.1f} | {g.p50:.1f} | {g.p95:.1f} |"
                f" {ratio_text(g.p50, s.p50)} | {totals} | {s.non_200 + g.non_200} |"
                f" {' '.join(f'**{f}**' for f in flags)} |"
            )
    non_200 = [m for m in results if m.non_200]
    lines += ["", f"Flagged: {', '.join(flagged) if flagged else 'none'}."]
    lines += [
        "Non-200 responses: "
        + (
            "; ".join(f"{m.case} ({m.user}, {m.size}): {m.statuses}" for m in non_200)
            if non_200
            else "none"
        )
        + "."
    ]
    lines += ["", "Users and parameters:"]
    for size, subjects_ in people.items():
        for subject in subjects_:
            lines.append(
                f"- {size} {subject.label}: {subject.tasks:,} tasks, id `{subject.id}`, top tags"
                f" {', '.join(repr(t) for t in subject.top_tags)}"
            )
    params = {(m.case, m.user, m.size): m.params for m in results}
    lines += [
        f"- parameters ({large}, heavy): "
        + "; ".join(
            f"{case}: `{params.get((case, 'heavy', large)) or '-'}`"
            for case in cases
            if params.get((case, "heavy", large))
        )
    ]
    if plans:
        lines += [
            "",
            f"EXPLAIN (ANALYZE, BUFFERS), heavy user, {large} database (second run; full plans"
            f" in {REPORT_PLANS.relative_to(ROOT)}; statements from {plans[0].source}):",
            "",
            "| case | statement | execution ms | scans (index and kind) | buffers |",
            "|---|---|--:|---|---|",
        ]
        for plan in plans:
            lines.append(
                f"| {plan.case} | {plan.statement} | {plan.execution_ms:.2f} |"
                f" {', '.join(plan.scans) or '-'} | {plan.shared_hits_reads} |"
            )
    return "\n".join(lines) + "\n"


# --- the run ------------------------------------------------------------------------------


def _raise_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def positive(name: str, default: int) -> int:
    value = int(os.environ.get(name, default))
    if value < 1:
        raise SystemExit(f"error: {name} must be at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.queries", description=__doc__)
    parser.add_argument("--explain", action="store_true", help="print the full plans too")
    parser.add_argument(
        "--explain-only", action="store_true", help="no HTTP measurements, only the plans"
    )
    args = parser.parse_args(argv)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_on_signal)
    server_url = data.pg_server()
    sizes = list(data.sizes().values())
    warmup = int(os.environ.get("BENCH_QUERY_WARMUP", 5))
    requests = positive("BENCH_QUERY_REQUESTS", 40)
    started = time.monotonic()
    results: list[Measurement] = []
    people: dict[str, list[Subject]] = {}
    with contextlib.ExitStack() as stack:  # servers and temporary directories
        if not args.explain_only:
            for size in sizes:
                measured, people[size.name] = run_size(size, server_url, warmup, requests, stack)
                results += measured
    large = sizes[-1]
    large_url = data.database_url(server_url, large.database)
    heavy = next(s for s in subjects(large_url) if s.label == "heavy")
    plans = explain(large_url, heavy, datetime.now(UTC))
    REPORT_PLANS.parent.mkdir(parents=True, exist_ok=True)
    REPORT_PLANS.write_text(render_plans(plans))
    if args.explain or args.explain_only:
        print("\n" + render_plans(plans), flush=True)
    report = render(results, people, header(server_url, sizes, warmup, requests), plans)
    elapsed = time.monotonic() - started
    report += f"\nTotal runtime {elapsed / 60:.1f} min ({elapsed:.0f} s).\n"
    REPORT_MD.write_text(report)
    print("\n" + report, flush=True)
    print(f"written to {REPORT_MD.relative_to(ROOT)} and {REPORT_PLANS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
