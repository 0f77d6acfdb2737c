"""`make bench-data`: two PostgreSQL databases of realistic tasks for `make bench-queries`.

SMALL (`bench_tasks_small`): 90 typical users x 100 tasks + one heavy user with 1,000 tasks.
LARGE (`bench_tasks_large`): 10,000 typical users x 100 tasks + one heavy user with 100,000.

Each database is dropped and recreated (only databases named here, and only names starting
with `bench_`), migrated with `python -m backend migrate`, then loaded with COPY: secondary
indexes and foreign keys are dropped first and rebuilt afterwards, the rows are COPYed with
FREEZE right after a TRUNCATE in the same transaction, then VACUUM ANALYZE (visibility map
for index-only scans, planner statistics) and the sequences are moved past the ids.

The data: ids in creation order (a user's tasks are spread over the whole table, as rows
inserted over two years are); titles from verb/object word lists ("milk", "report", "call"
are common; "zeppelin" is rare), ~40% with a description, priorities low/medium/high
~25/55/20%, ~60% with a due date (whole hours, from shortly after creation up to four
months later, so both past and future), ~5% recurring (pending, with a due date), ~30%
completed (more often when the due date is past), 0-3 tags per task from a per-user
vocabulary of 10-30 tags drawn from a global list of 60 mixed-case names (the heavy user
has 30). Deterministic: one seeded random generator, times relative to today's UTC
midnight (or BENCH_DATA_NOW, an ISO date-time).

The heavy user's email is heavy@bench.example, typical users' user<n>@bench.example.

Usage: python -m bench.data [small] [large]   (default: both)
Environment: BENCH_PG (server URL for CREATE DATABASE, default
postgresql://postgres@127.0.0.1:5432/postgres), BENCH_SMALL_DB, BENCH_LARGE_DB (names),
BENCH_DATA_NOW.
"""

import contextlib
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg2
from psycopg2 import sql
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
HEAVY_EMAIL = "heavy@bench.example"
SEED = 20261127
HISTORY_DAYS = 730
DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
NULL = r"\N"  # COPY text format


@dataclass(frozen=True)
class Size:
    name: str
    database: str
    typical_users: int
    tasks_per_user: int
    heavy_tasks: int
    heavy_users: int = 1  # each with heavy_tasks: heavy@, heavy2@, heavy3@… bench.example

    @property
    def tasks(self) -> int:
        return self.typical_users * self.tasks_per_user + self.heavy_users * self.heavy_tasks


def sizes(environ: Mapping[str, str] = os.environ) -> dict[str, Size]:
    return {
        "small": Size("small", environ.get("BENCH_SMALL_DB", "bench_tasks_small"), 90, 100, 1_000),
        "large": Size(
            "large", environ.get("BENCH_LARGE_DB", "bench_tasks_large"), 10_000, 100, 100_000
        ),
    }


def pg_server(environ: Mapping[str, str] = os.environ) -> str:
    return environ.get("BENCH_PG", DEFAULT_PG)


def database_url(server: str, name: str) -> str:
    return make_url(server).set(database=name).render_as_string(hide_password=False)


# --- word lists ---------------------------------------------------------------------------

# Verb -> objects: titles share common words ("milk", "report", "call") so that `q` matches.
TITLE_PARTS: dict[str, tuple[str, ...]] = {
    "Buy": (
        "milk", "oat milk and bread", "coffee beans", "a birthday card", "printer ink",
        "batteries", "new running shoes", "dog food", "milk and eggs",
    ),
    "Call": (
        "mum", "the dentist", "the bank", "the plumber", "the insurance company", "Grandma",
        "the school about the trip",
    ),
    "Write": (
        "the quarterly report", "release notes", "the blog post", "a thank-you note",
        "the project proposal", "meeting minutes",
    ),
    "Review": ("pull request", "the budget report", "the contract", "the design doc", "test plan"),
    "Email": (
        "the landlord about the boiler", "the accountant", "Ines about the report",
        "the team about Friday", "the recruiter back",
    ),
    "Fix": ("the flaky login test", "the leaking tap", "the bike brakes", "the report export"),
    "Book": (
        "flights to Lisbon", "a table for Saturday", "the vet for Luna", "a haircut",
        "train tickets", "a call with the architect",
    ),
    "Pay": ("rent", "the electricity bill", "the phone bill", "the parking fine", "the nursery"),
    "Clean": ("the fridge", "the garage", "the bathroom", "the car", "the windows"),
    "Plan": (
        "the team offsite", "the summer holiday", "meals for the week", "the sprint",
        "Sam's birthday party",
    ),
    "Read": ("chapter 4", "the onboarding guide", "the annual report", "that article on indexes"),
    "Prepare": (
        "slides for Monday", "the tax return", "interview questions", "the monthly report",
        "for the sales call",
    ),
    "Schedule": (
        "the dentist appointment", "a call with the bank", "the car service", "a 1:1 with Omar",
    ),
    "Pick up": ("dry cleaning", "the kids", "the parcel", "milk on the way home", "prescription"),
    "Send": ("invoices for March", "the report to finance", "birthday wishes", "the signed lease"),
    "Update": ("the CV", "the roadmap", "the budget spreadsheet", "the team wiki"),
    "Check": ("the smoke alarms", "the tyre pressure", "the bank statement", "report numbers"),
    "Order": ("a birthday present", "new contact lenses", "groceries", "printer paper"),
    "Renew": ("passport", "car insurance", "the library card", "the domain name"),
    "Return": ("the library books", "the parcel", "Ben's drill"),
    "Water": ("the plants", "the garden"),
    "Walk": ("the dog",),
    "Do": ("the laundry", "the weekly review", "the expense report", "the ironing"),
    "Organise": ("the garage", "the photo library", "the team lunch"),
}  # fmt: skip
TITLES = tuple(f"{verb} {obj}" for verb, objects in TITLE_PARTS.items() for obj in objects)
SUFFIXES = ("", "", "", "", "", " before Friday", " (urgent)", " this weekend", " again", " #2")
# One title in RARE_ONE_IN carries one of these: a search that matches almost nothing.
RARE_TITLES = (
    "Find the zeppelin model kit",
    "Ask about the kumquat marmalade recipe",
    "Tune the xylophone for the school concert",
    "Frame the quokka photo",
    "Fold origami cranes for the wedding",
)
RARE_ONE_IN = 2_000
DESCRIPTION_SENTENCES = (
    "2 litres, semi-skimmed.",
    "Ask about the filling that came loose last week.",
    "Window seat if possible; check the baggage allowance first.",
    "The old one expires in June.",
    "Due on the 15th, use the joint account.",
    "Needs two approvals before merging; CI was red on the last run.",
    "Numbers from finance should be in the shared drive by Wednesday.",
    "Agenda: roadmap, hiring, the on-call rota.",
    "Receipts are in the blue folder.",
    "Keep it under 20 minutes, leave time for questions.",
    "Get the organic milk if they have it.",
    "The report template is in the team folder.",
    "Call before 5pm, they close early on Fridays.",
    "Bring the warranty card.",
    "Ask Carmen whether the numbers changed since the last report.",
    "Compare at least three quotes.",
    "Budget: 50 euros.",
    "Last time this took about an hour.",
    "Remember the reference number from the confirmation email.",
    "Follow up if there is no answer by Thursday.",
)
# Global tag names (mixed case; distinct when casefolded), most popular first.
TAG_NAMES = (
    "work", "Home", "errands", "Finance", "health", "Kids", "shopping", "urgent", "someday",
    "Reading", "garden", "car", "Travel", "admin", "Taxes", "bills", "Fitness", "cooking",
    "meetings", "Q1", "Q2", "Q3", "Q4", "backend", "Frontend", "ops", "on-call", "Hiring",
    "1:1", "birthday", "family", "Friends", "house", "DIY", "pets", "Dog", "Vet", "music",
    "Side project", "blog", "learning", "Books", "Movies", "groceries", "Pharmacy",
    "insurance", "Bank", "Holidays", "weekend", "Morning", "evening", "Later", "waiting",
    "Follow-up", "Ideas", "Café", "Straße", "Club", "volunteering", "Photography",
)  # fmt: skip
TAGS_PER_TASK_WEIGHTS = (0.30, 0.35, 0.25, 0.10)  # 0, 1, 2, 3 tags
HEAVY_VOCABULARY = 30


def _check_word_lists() -> None:
    """Every text goes into COPY's text format unescaped: no tabs, newlines, backslashes."""
    texts = [*TITLES, *SUFFIXES, *RARE_TITLES, *DESCRIPTION_SENTENCES, *TAG_NAMES]
    bad = [t for t in texts if any(c in t for c in '\t\n\r\\"')]
    if bad:
        raise ValueError(f"word lists: texts COPY or JSON would need to escape: {bad}")
    keys = [name.casefold() for name in TAG_NAMES]
    if len(set(keys)) != len(keys):
        raise ValueError("TAG_NAMES: two names with the same casefolded key")


_check_word_lists()


# --- row generation -----------------------------------------------------------------------


class Timestamps:
    """Microseconds since the epoch -> COPY text for timestamptz, ~3x faster than isoformat."""

    def __init__(self) -> None:
        self._days: dict[int, str] = {}

    def __call__(self, us: int) -> str:
        day, rest = divmod(us, DAY_US)
        text = self._days.get(day)
        if text is None:
            text = self._days[day] = (date(1970, 1, 1) + timedelta(days=day)).isoformat()
        hours, rest = divmod(rest, HOUR_US)
        minutes, rest = divmod(rest, 60_000_000)
        seconds, micros = divmod(rest, 1_000_000)
        return f"{text} {hours:02d}:{minutes:02d}:{seconds:02d}.{micros:06d}+00"


def _user_id(rng: random.Random) -> str:
    """Shaped like Better Auth's ids (as bench/seed.py makes them): 32 letters and digits."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "".join(rng.choices(alphabet, k=32))


@dataclass
class User:
    id: str
    email: str
    tasks: int
    vocabulary: list[str]  # display names, most used first
    cum_weights: list[float]  # Zipf-like weights over the vocabulary


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    """`size` distinct global tags, popular ones more likely (weighted sampling without
    replacement, Efraimidis-Spirakis), in a per-user order; now and then spelled another way."""
    keyed = sorted(
        ((rng.random() ** (1.0 / (1.0 / (rank + 3))), name) for rank, name in enumerate(TAG_NAMES)),
        reverse=True,
    )
    names = [name for _, name in keyed[:size]]
    variants = (str.lower, str.title, str.upper)
    return [rng.choice(variants)(name) if rng.random() < 0.1 else name for name in names]


def heavy_email(number: int) -> str:
    """The n-th heavy user's email (0: heavy@bench.example, 1: heavy2@…)."""
    return HEAVY_EMAIL if number == 0 else HEAVY_EMAIL.replace("@", f"{number + 1}@")


def make_users(size: Size, rng: random.Random) -> list[User]:
    users = []
    for number in range(size.typical_users + size.heavy_users):
        heavy = number >= size.typical_users
        vocabulary = _vocabulary(rng, HEAVY_VOCABULARY if heavy else rng.randint(10, 30))
        cum, total = [], 0.0
        for rank in range(len(vocabulary)):
            total += 1.0 / (rank + 1)
            cum.append(total)
        users.append(
            User(
                id=_user_id(rng),
                email=(
                    heavy_email(number - size.typical_users)
                    if heavy
                    else f"user{number}@bench.example"
                ),
                tasks=size.heavy_tasks if heavy else size.tasks_per_user,
                vocabulary=vocabulary,
                cum_weights=cum,
            )
        )
    return users


def user_rows(users: list[User], rng: random.Random, now_us: int, ts: Timestamps) -> str:
    lines = []
    for user in users:
        joined = now_us - (HISTORY_DAYS + 1) * DAY_US - int(rng.random() * 60 * DAY_US)
        name = user.email.split("@")[0].capitalize()
        lines.append(f"{user.id}\t{user.email}\t{name}\t{ts(joined)}\n")
    return "".join(lines)


class TaskGenerator:
    """Task rows in id (= creation) order, as COPY text chunks; fills task_tags and tags
    as it goes (a tag's id is given at its first use, as the API would create it)."""

    CHUNK = 5_000

    def __init__(self, users: list[User], rng: random.Random, now_us: int) -> None:
        self.users = users
        self.rng = rng
        self.now_us = now_us
        self.ts = Timestamps()
        self.task_tag_lines: list[str] = []
        self.tag_ids: dict[tuple[int, str], int] = {}  # (user index, key) -> tag id
        self.tag_lines: list[str] = []
        self.tasks = 0

    def chunks(self) -> Iterator[str]:
        rng, now, span = self.rng, self.now_us, HISTORY_DAYS * DAY_US
        created = sorted(
            (now - int(rng.random() * span), index)
            for index, user in enumerate(self.users)
            for _ in range(user.tasks)
        )
        lines: list[str] = []
        for task_id, (created_us, user_index) in enumerate(created, start=1):
            lines.append(self._row(task_id, created_us, user_index))
            if len(lines) == self.CHUNK:
                yield "".join(lines)
                lines = []
        self.tasks = len(created)
        if lines:
            yield "".join(lines)

    def _row(self, task_id: int, created: int, user_index: int) -> str:
        rng, now, ts = self.rng, self.now_us, self.ts
        user = self.users[user_index]
        if rng.randrange(RARE_ONE_IN) == 0:
            title = rng.choice(RARE_TITLES)
        else:
            title = rng.choice(TITLES) + rng.choice(SUFFIXES)
        description = NULL
        if rng.random() < 0.4:
            description = " ".join(rng.sample(DESCRIPTION_SENTENCES, rng.choice((1, 1, 2, 3))))
        r = rng.random()
        priority = 1 if r < 0.25 else 2 if r < 0.80 else 3
        due = None
        if rng.random() < 0.6:
            due = created + HOUR_US + int(rng.random() ** 1.5 * 120 * DAY_US)
            due -= due % HOUR_US
        recurrence = (NULL, NULL, NULL)
        completed = False
        if due is not None and rng.random() < 0.083:  # ~5% of all tasks; kept pending
            frequency = rng.choices(("daily", "weekly", "monthly"), (3, 5, 2))[0]
            interval = 1 if rng.random() < 0.8 else rng.randint(2, 3)
            day = str(int(ts(due)[8:10])) if frequency == "monthly" else NULL
            recurrence = (frequency, str(interval), day)
        else:
            completed = rng.random() < (0.4 if due is not None and due < now else 0.2)
        updated, version = created, 1
        if completed or rng.random() < 0.5:
            updated = created + int((now - created) * rng.random() ** 3)
            version = 2 + int(rng.random() * 3)
        tags = self._tags(task_id, user_index, user)
        updated_text = ts(updated)
        return "\t".join((
            str(task_id), user.id, title, description, "t" if completed else "f",
            updated_text if completed else NULL, str(priority), tags,
            NULL if due is None else ts(due), *recurrence, NULL, str(version), ts(created),
            updated_text, str(task_id),  # change_seq: a task's number in its user's feed
        )) + "\n"  # fmt: skip

    def _tags(self, task_id: int, user_index: int, user: User) -> str:
        rng = self.rng
        count = rng.choices((0, 1, 2, 3), TAGS_PER_TASK_WEIGHTS)[0]
        if count == 0:
            return "[]"
        chosen: set[str] = set()
        while len(chosen) < count:
            chosen.add(rng.choices(user.vocabulary, cum_weights=user.cum_weights)[0])
        names = sorted(chosen, key=str.casefold)
        for name in names:
            key = name.casefold()
            tag_id = self.tag_ids.get((user_index, key))
            if tag_id is None:
                tag_id = self.tag_ids[(user_index, key)] = len(self.tag_ids) + 1
                self.tag_lines.append(f"{tag_id}\t{user.id}\t{key}\t{name}\n")
            self.task_tag_lines.append(f"{task_id}\t{tag_id}\n")
        return json.dumps(names, ensure_ascii=False)


class ChunkReader:
    """A file-like object over text chunks, for copy_expert (which calls read(size))."""

    def __init__(self, chunks: Iterator[str]) -> None:
        self._chunks = chunks
        self._buffer = ""

    def read(self, size: int = -1) -> str:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            size = len(self._buffer)
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def readline(self) -> str:  # part of the file protocol; copy_expert does not call it
        return self.read()


def lines_reader(lines: list[str], per_chunk: int = 20_000) -> ChunkReader:
    return ChunkReader(
        "".join(lines[start : start + per_chunk]) for start in range(0, len(lines), per_chunk)
    )


# --- the database -------------------------------------------------------------------------


@contextlib.contextmanager
def phase(label: str, timings: dict[str, float]) -> Iterator[None]:
    print(f"  {label} ...", end="", flush=True)
    started = time.monotonic()
    yield
    timings[label] = time.monotonic() - started
    print(f" {timings[label]:.1f} s", flush=True)


def recreate_database(server: str, name: str) -> str:
    """Drop (if there) and create `name`: only our own bench_* databases."""
    if not name.startswith("bench_"):
        raise SystemExit(f"error: refusing to drop and recreate {name!r}: not a bench_* database")
    admin = psycopg2.connect(server)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        admin.close()
    return database_url(server, name)


def migrate(url: str) -> None:
    """Our migrations as `make migrate` applies them (cwd without a .env on purpose)."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "BETTER_AUTH_SECRET": secrets.token_urlsafe(48),  # required by the settings, unused
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    with tempfile.TemporaryDirectory(prefix="bench_data_") as cwd:
        subprocess.run(
            [sys.executable, "-m", "backend", "migrate"], env=env, cwd=cwd, check=True, timeout=300
        )


LOADED_TABLES = ("tasks", "tags", "task_tags")


def strip_schema(cur: psycopg2.extensions.cursor) -> tuple[list[str], list[str]]:
    """Drop the loaded tables' foreign keys and the indexes that back no constraint;
    return the statements that recreate them (indexes, then foreign keys)."""
    tables = list(LOADED_TABLES)
    cur.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE contype = 'f' AND conrelid = ANY(%s::regclass[]) ORDER BY conname",
        (tables,),
    )
    foreign_keys = cur.fetchall()
    cur.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
        " WHERE i.indrelid = ANY(%s::regclass[]) AND NOT EXISTS"
        " (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        (tables,),
    )
    indexes = cur.fetchall()
    for table, name, _ in foreign_keys:
        cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cur.execute(f"DROP INDEX {name}")
    return (
        [definition for _, definition in indexes],
        [f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {d}' for table, name, d in foreign_keys],
    )


def _copy(cur: psycopg2.extensions.cursor, table: str, reader: object) -> None:
    cur.copy_expert(f"COPY {table} FROM STDIN WITH (FREEZE)", reader, size=1 << 20)


def _run_statements(url: str, statements: list[str]) -> None:
    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SET maintenance_work_mem = '512MB'")
            cur.execute("SET max_parallel_maintenance_workers = 0")  # two sessions, two cores
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def build_indexes(url: str, definitions: list[str]) -> None:
    """On two connections at once: the trigram GIN indexes (slowest, single-threaded
    builds) first, spread over both; the btree indexes after them."""
    ordered = sorted(definitions, key=lambda d: ("USING gin" not in d, d))
    lanes: list[list[str]] = [[], []]
    for number, definition in enumerate(ordered):
        lanes[number % 2].append(definition)
    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(_run_statements, url, lane) for lane in lanes]:
            future.result()


def load(size: Size, server: str, now: datetime) -> dict[str, float]:
    print(f"{size.name}: {size.database}, {size.tasks:,} tasks", flush=True)
    timings: dict[str, float] = {}
    started = time.monotonic()
    rng = random.Random(f"{SEED}-{size.name}")  # noqa: S311 (test data, not secrets)
    now_us = int(now.timestamp()) * 1_000_000
    with phase("create database + migrate", timings):
        url = recreate_database(server, size.database)
        migrate(url)
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            with phase("drop secondary indexes and foreign keys", timings):
                indexes, foreign_keys = strip_schema(cur)
                cur.execute("TRUNCATE users, tasks, tags, task_tags CASCADE")  # for FREEZE
            with phase("generate + COPY users", timings):
                users = make_users(size, rng)
                ts = Timestamps()
                _copy(
                    cur,
                    "users (id, email, name, created_at)",
                    ChunkReader(iter([user_rows(users, rng, now_us, ts)])),
                )
            generator = TaskGenerator(users, rng, now_us)
            with phase(f"generate + COPY {size.tasks:,} tasks", timings):
                _copy(cur, "tasks (id, user_id, title, description, completed, completed_at,"
                      " priority, tag_names, due_at, recurrence_frequency, recurrence_interval,"
                      " recurrence_day, next_occurrence_id, version, created_at, updated_at,"
                      " change_seq)",
                      ChunkReader(generator.chunks()))  # fmt: skip
            with phase(
                f"COPY {len(generator.tag_lines):,} tags,"
                f" {len(generator.task_tag_lines):,} task_tags",
                timings,
            ):
                _copy(cur, "tags (id, user_id, key, name)", lines_reader(generator.tag_lines))
                _copy(cur, "task_tags (task_id, tag_id)", lines_reader(generator.task_tag_lines))
            cur.execute("SELECT setval(pg_get_serial_sequence('tasks', 'id'), %s)", (size.tasks,))
            # The quota's counter, as the API keeps it.
            cur.execute(
                "UPDATE users SET task_count = counted.n, change_seq = counted.last FROM"
                " (SELECT user_id, count(*) AS n, max(change_seq) AS last FROM tasks"
                " GROUP BY user_id) AS counted WHERE counted.user_id = users.id"
            )
            cur.execute(
                "SELECT setval(pg_get_serial_sequence('tags', 'id'), %s)",
                (max(len(generator.tag_lines), 1),),
            )
    finally:
        conn.close()
    with phase(f"create {len(indexes)} indexes (2 sessions)", timings):
        build_indexes(url, indexes)
    with phase(f"add {len(foreign_keys)} foreign keys", timings):
        _run_statements(url, foreign_keys)
    with phase("VACUUM ANALYZE", timings):
        _run_statements(url, [f"VACUUM (ANALYZE) {t}" for t in ("users", *LOADED_TABLES)])
    timings["total"] = time.monotonic() - started
    print(f"{size.name}: loaded in {timings['total']:.1f} s ({url})", flush=True)
    return timings


def anchor(environ: Mapping[str, str] = os.environ) -> datetime:
    """The data's 'now': BENCH_DATA_NOW, or today's UTC midnight (same data all day)."""
    if environ.get("BENCH_DATA_NOW"):
        return datetime.fromisoformat(environ["BENCH_DATA_NOW"]).astimezone(UTC)
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def main(argv: list[str] | None = None) -> int:
    known = sizes()
    names = (sys.argv[1:] if argv is None else argv) or list(known)
    unknown = [n for n in names if n not in known]
    if unknown:
        print(f"error: unknown size {unknown}; known: {list(known)}", file=sys.stderr)
        return 2
    now = anchor()
    print(f"data anchored at {now.isoformat()} (BENCH_DATA_NOW)", flush=True)
    for name in names:
        load(known[name], pg_server(), now)
    return 0


if __name__ == "__main__":
    sys.exit(main())
