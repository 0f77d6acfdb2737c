"""The benchmark's data: users and tasks loaded with COPY, tokens for some of the users,
and the Lua table (users, tokens, task ids, titles) that bench/wrk.lua reads."""

import io
import json
import random
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2

from backend.config import Settings
from backend.identity.tokens import TokenVerifier

FIRST_NAMES = (
    "Ada", "Alan", "Amara", "Ben", "Carmen", "Chen", "Dara", "Elena", "Farid", "Grace",
    "Hugo", "Ines", "Jonas", "Kemi", "Lars", "Leila", "Mateo", "Mei", "Nadia", "Omar",
    "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Viktor", "Wen", "Yara", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Adeyemi", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito",
    "Jensen", "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Petrov", "Rossi", "Silva",
    "Tanaka", "Ueda", "Varga", "Weber", "Xu", "Yilmaz", "Zhang",
)  # fmt: skip
TITLES = (
    "Buy milk", "Buy oat milk and bread", "Call the dentist", "Call mum", "Book flights to Lisbon",
    "Renew passport", "Pay the electricity bill", "Pay rent", "File the tax return",
    "Review pull request", "Fix the flaky login test", "Write the quarterly report",
    "Prepare slides for Monday", "Email the landlord about the boiler", "Schedule a haircut",
    "Pick up dry cleaning", "Return the library books", "Order a birthday present for Sam",
    "Plan the team offsite", "Update the CV", "Cancel the gym membership", "Clean the fridge",
    "Water the plants", "Take the car to the garage", "Read chapter 4", "Submit expense claims",
    "Reply to Ines", "Back up the laptop", "Upgrade PostgreSQL on staging",
    "Write release notes", "Organise the garage", "Buy a new bike helmet",
    "Check the smoke alarms", "Book the vet for Luna", "Send invoices for March",
    "Refactor the settings module", "Draft the blog post", "Walk the dog", "Do the laundry",
    "Meal prep for the week",
)  # fmt: skip
SUFFIXES = ("", "", "", "", " before Friday", " (urgent)", " this weekend", " again", " #2")
DESCRIPTIONS = (
    "2 litres, semi-skimmed",
    "Ask about the filling that came loose last week.",
    "Window seat if possible; check the baggage allowance first.",
    "The old one expires in June. Photos from the booth at the station.",
    "Due on the 15th. Use the joint account.",
    "Needs two approvals before merging; CI was red on the last run.",
    "Numbers from finance should be in the shared drive by Wednesday.",
    "Agenda: roadmap, hiring, the on-call rota.",
    "Receipts are in the blue folder.",
    "Keep it under 20 minutes, leave time for questions.",
)
# The columns added by migration 0003 keep their server defaults (priority 2 = medium, no
# tags, version 1, no due date or repeat rule), except completed_at: a completed task has
# one (its last change, as the migration set it on existing rows).
TASK_COLUMNS = (
    "id", "user_id", "title", "description", "completed", "completed_at", "created_at",
    "updated_at",
)  # fmt: skip
USER_COLUMNS = ("id", "email", "name", "created_at")


@dataclass(frozen=True)
class Seed:
    user_ids: list[str]
    tasks_by_user: dict[str, list[int]]
    max_task_id: int


@dataclass(frozen=True)
class BenchUser:
    id: str
    token: str
    task_ids: list[int]


def _user_id(rng: random.Random) -> str:
    """Shaped like Better Auth's ids: 32 random letters and digits."""
    return "".join(rng.choices(string.ascii_letters + string.digits, k=32))


def _copy(cur: psycopg2.extensions.cursor, table: str, columns: Sequence[str], rows: str) -> None:
    cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", io.StringIO(rows))


def _text_row(values: Iterable[object]) -> str:
    """One line of COPY's text format (our values never hold tabs, newlines or backslashes)."""
    return "\t".join(r"\N" if v is None else str(v) for v in values) + "\n"


COUNT_TASKS = (
    "UPDATE users SET task_count = (SELECT count(*) FROM tasks WHERE tasks.user_id = users.id)"
)


def seed(database_url: str, users: int, tasks: int, rng: random.Random) -> Seed:
    """Load `users` users and `tasks` tasks spread over them (ids 1..tasks)."""
    now = datetime.now(UTC)
    user_ids = [_user_id(rng) for _ in range(users)]
    user_rows = io.StringIO()
    for number, user_id in enumerate(user_ids):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        joined = now - timedelta(days=400 + rng.uniform(0, 700))
        email = f"{first}.{last}{number}@example.com".lower()
        user_rows.write(_text_row((user_id, email, f"{first} {last}", joined.isoformat())))
    tasks_by_user: dict[str, list[int]] = {user_id: [] for user_id in user_ids}
    task_rows = io.StringIO()
    for task_id in range(1, tasks + 1):
        user_id = rng.choice(user_ids)
        tasks_by_user[user_id].append(task_id)
        created = now - timedelta(seconds=rng.uniform(60, 365 * 86400))
        updated = created + timedelta(seconds=rng.uniform(0, (now - created).total_seconds()))
        title = rng.choice(TITLES) + rng.choice(SUFFIXES)
        description = rng.choice(DESCRIPTIONS) if rng.random() < 0.5 else None
        completed = rng.random() < 0.4
        row = (
            task_id, user_id, title, description, "t" if completed else "f",
            updated if completed else None, created, updated,
        )  # fmt: skip
        task_rows.write(_text_row(v.isoformat() if isinstance(v, datetime) else v for v in row))
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        _copy(cur, "users", USER_COLUMNS, user_rows.getvalue())
        _copy(cur, "tasks", TASK_COLUMNS, task_rows.getvalue())
        cur.execute("SELECT setval(pg_get_serial_sequence('tasks', 'id'), %s)", (tasks,))
        cur.execute(COUNT_TASKS)  # the quota's counter, as the API keeps it
    vacuum(database_url, analyze=True)
    return Seed(user_ids=user_ids, tasks_by_user=tasks_by_user, max_task_id=tasks)


def vacuum(database_url: str, *, analyze: bool = False) -> None:
    conn = psycopg2.connect(database_url)
    try:
        conn.autocommit = True  # VACUUM cannot run inside a transaction
        with conn.cursor() as cur:
            cur.execute("VACUUM (ANALYZE) tasks" if analyze else "VACUUM tasks")
    finally:
        conn.close()


def reset(database_url: str, seed: Seed) -> None:
    """Back to the seeded row count: drop the tasks a run created, vacuum the table."""
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM tasks WHERE id > %s", (seed.max_task_id,))
        cur.execute(COUNT_TASKS)
    vacuum(database_url)


def bench_users(
    seed: Seed, settings: Settings, count: int, tasks_each: int, rng: random.Random
) -> list[BenchUser]:
    """`count` users with a token each (signed like the server's) and some of their tasks."""
    verifier = TokenVerifier(settings)
    chosen = [u for u in rng.sample(seed.user_ids, count * 2) if seed.tasks_by_user[u]][:count]
    return [
        BenchUser(
            id=user_id,
            token=verifier.issue(user_id, ttl_seconds=4 * 3600),
            task_ids=rng.sample(
                seed.tasks_by_user[user_id], min(tasks_each, len(seed.tasks_by_user[user_id]))
            ),
        )
        for user_id in chosen
    ]


def _lua_string(text: str) -> str:
    if not text.isascii() or not text.isprintable():
        raise ValueError(f"not a plain ASCII string: {text!r}")
    return json.dumps(text)  # for printable ASCII, JSON's escapes (\" and \\) are Lua's


def write_lua_data(path: Path, users: Sequence[BenchUser]) -> None:
    lines = ["return {", "  users = {"]
    for user in users:
        ids = ", ".join(str(task_id) for task_id in user.task_ids)
        lines.append(
            f"    {{ id = {_lua_string(user.id)}, token = {_lua_string(user.token)},"
            f" tasks = {{ {ids} }} }},"
        )
    lines.append("  },")
    titles = [title + suffix for title in TITLES for suffix in ("", " (updated)", " again")]
    lines.append("  titles = { " + ", ".join(map(_lua_string, titles)) + " },")
    lines.append("  descriptions = { " + ", ".join(map(_lua_string, DESCRIPTIONS)) + " },")
    lines.append("}")
    path.write_text("\n".join(lines) + "\n")
