"""Engine, unit of work and the one place that knows the database dialect."""

import asyncio
import os
import random
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    Engine,
    Select,
    String,
    create_engine,
    event,
    exc,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlmodel import Session

from backend.config import Settings
from backend.errors import ServiceUnavailable
from backend.fairness import Admission, Ticket

T = TypeVar("T")
# A SELECT of any columns (Select is generic over its column types).
AnySelect = Select[*tuple[Any, ...]]
RETRY_AFTER_SECONDS = 5


class StaleRow(Exception):
    """A row changed between this unit of work's read and its conditional write."""


# What a connection pooler's refusals mean, for the log line (PgBouncer's wording; Neon's
# pooled endpoint and Supavisor say the same things).
POOLER_HINTS = (
    (
        "unsupported startup parameter",
        "a transaction-mode pooler refuses startup parameters: remove `options` from the URL",
    ),
    ("no such database", "the pooler does not serve this database name: check the pooled URL"),
    (
        "no more connections allowed",
        "the pooler's max_client_conn is reached: raise it, or lower (DB_POOL_SIZE + "
        "DB_MAX_OVERFLOW) * workers * replicas",
    ),
    (
        "query_wait_timeout",
        "the pooler found no free server connection in time: its default_pool_size is "
        "smaller than what the replicas use at once",
    ),
    ("pgbouncer cannot connect to server", "the pooler cannot reach PostgreSQL behind it"),
)


def pooler_hint(reason: str) -> str:
    """What a pooler's refusal in `reason` means, or "" when it is not one."""
    lowered = reason.lower()
    return next((f" ({hint})" for marker, hint in POOLER_HINTS if marker in lowered), "")


class DatabaseUnavailable(ServiceUnavailable):
    """The database could not be reached (or did not answer in time)."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            "The database is unavailable; retry later.",
            RETRY_AFTER_SECONDS,
            reason=f"database unavailable: {reason}{pooler_hint(reason)}",
        )


def normalise_url(url: str) -> str:
    """Spell the driver the project installs (psycopg2): SQLAlchemy 2.1 maps a bare
    `postgresql://` to psycopg 3, and Heroku/Neon-style `postgres://` is not a dialect."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


def is_sqlite(url: str) -> bool:
    return make_url(normalise_url(url)).get_backend_name() == "sqlite"


def create_db_engine(settings: Settings) -> Engine:
    url = make_url(normalise_url(settings.database_url))
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            _create_private_file(Path(url.database))
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 5},
            hide_parameters=True,  # tracebacks and logs never show user ids or keys
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(
        url,
        hide_parameters=True,  # tracebacks and logs never show user ids or keys
        # No pre-ping (a round trip per checkout, ~10% of a list request's CPU): a connection
        # the server dropped fails its request with 503, and that disconnect invalidates the
        # whole pool, so the next requests connect afresh (tests/test_db_outage.py).
        pool_pre_ping=False,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        # No startup `options` (a transaction-mode pooler such as PgBouncer or Neon's pooled
        # endpoint refuses the connection): settings go into each transaction instead.
        connect_args={
            "connect_timeout": settings.db_connect_timeout,
            # Notice a server that vanished mid-query within seconds, not hours.
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 2,
            # psycopg 3 prepares a statement server-side after 5 runs; a transaction pooler
            # hands the next transaction another server connection that never saw it.
            **({"prepare_threshold": None} if url.get_driver_name() == "psycopg" else {}),
        },
    )
    if settings.db_statement_timeout_ms:
        per_transaction_timeout(engine, settings.db_statement_timeout_ms)
    return engine


def per_transaction_timeout(engine: Engine, milliseconds: int) -> None:
    """statement_timeout for every transaction, as `SET LOCAL`: it ends with the transaction,
    so nothing is left on a server connection that a pooler hands to someone else next.

    psycopg2 sends a statement and its parameters as one text (client-side binding), and
    PostgreSQL runs a text of several statements in one round trip, inside the transaction
    (or, in autocommit, as one implicit transaction): the SET LOCAL rides in front of the
    first statement of each transaction at no extra round trip. Drivers that bind on the
    server (psycopg 3) cannot send two statements with parameters; they get it as a
    statement of its own."""
    setting = f"SET LOCAL statement_timeout = {int(milliseconds)}"
    inline = engine.dialect.driver == "psycopg2"

    @event.listens_for(engine, "begin")
    def _pending(connection: Connection) -> None:
        connection.info[_TIMEOUT_PENDING] = True

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _with_timeout(
        connection: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        _context: object,
        executemany: bool,
    ) -> tuple[str, Any]:
        if not (connection.info.pop(_TIMEOUT_PENDING, False) or cursor.connection.autocommit):
            return statement, parameters
        if inline and not executemany:
            return f"{setting}; {statement}", parameters
        cursor.execute(setting)
        return statement, parameters


_TIMEOUT_PENDING = "statement_timeout_pending"


def _create_private_file(path: Path) -> None:
    """The SQLite file (and its folder, when new) readable by its owner only: it holds
    every user's data. SQLite gives its -wal and -shm files the same mode."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")  # ON DELETE CASCADE needs it
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # For contains_text and lower_text: SQLite's own lower() folds ASCII only. (lower()
    # itself is left alone: an index built with it must keep its meaning.)
    dbapi_connection.create_function("unicode_lower", 1, _lower, deterministic=True)


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def like_pattern(text: str) -> str:
    """A LIKE pattern for "contains `text`": `%`, `_` and the escape character taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class contains_text(ColumnElement[bool]):
    """`column` matches a like_pattern, ignoring case: ILIKE on PostgreSQL (which trigram
    indexes serve), a Unicode-aware lower() LIKE on SQLite."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [  # noqa: RUF012  (SQLAlchemy's own declaration style)
        ("column", InternalTraversal.dp_clauseelement),
        ("pattern", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: Any, pattern: ColumnElement[str]) -> None:
        self.column = column
        self.pattern = pattern  # like_pattern(text), usually as a bind parameter


class lower_text(FunctionElement[str]):
    """lower() of all of Unicode on both databases (ix_tasks_user_title on PostgreSQL)."""

    inherit_cache = True
    type = String()


@compiles(lower_text)
def _lower_text(element: lower_text, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(lower_text, "sqlite")
def _lower_text_sqlite(element: lower_text, compiler: SQLCompiler, **kw: Any) -> str:
    return f"unicode_lower({compiler.process(element.clauses, **kw)})"


@compiles(contains_text)
def _contains_text(element: contains_text, compiler: SQLCompiler, **kw: Any) -> str:
    column, pattern = (
        compiler.process(element.column, **kw),
        compiler.process(element.pattern, **kw),
    )
    return f"({column} ILIKE {pattern} ESCAPE '\\')"


@compiles(contains_text, "sqlite")
def _contains_text_sqlite(element: contains_text, compiler: SQLCompiler, **kw: Any) -> str:
    column, pattern = (
        compiler.process(element.column, **kw),
        compiler.process(element.pattern, **kw),
    )
    return f"(unicode_lower({column}) LIKE unicode_lower({pattern}) ESCAPE '\\')"


def insert_ignoring_duplicates(connection: Connection, table: Any) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING in the connection's dialect."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def utcnow() -> datetime:
    return datetime.now(UTC)


STALE_ATTEMPTS = 8
QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement_timeout


class QueryTimeout(ServiceUnavailable):
    """A statement ran into DB_STATEMENT_TIMEOUT_MS: this request asked too much, the
    database is fine."""

    type = "urn:task-api:problem:query-timeout"

    def __init__(self) -> None:
        super().__init__(
            "The request took too long and was stopped; narrow it (a longer search text, "
            "fewer filters at once) or retry later.",
            RETRY_AFTER_SECONDS,
            reason="statement timeout: a query ran longer than DB_STATEMENT_TIMEOUT_MS",
        )


class Busy(ServiceUnavailable):
    """A task kept changing under this request's writes (SQLite: no row locks)."""

    def __init__(self) -> None:
        super().__init__(
            "The task is being changed by other requests at this moment; retry.",
            1,
            reason=f"a task changed under {STALE_ATTEMPTS} attempts in a row",
        )


# Errors that mean "the database is not there right now", as opposed to a bug.
_UNAVAILABLE = (exc.OperationalError, exc.InterfaceError, exc.TimeoutError)


def _available(
    unit: Callable[[Callable[[Any], T], "_Running"], T],
    work: Callable[[Any], T],
    running: "_Running",
) -> T:
    try:
        return unit(work, running)
    except _UNAVAILABLE as error:
        if _sqlstate(error) == QUERY_CANCELED:
            raise QueryTimeout() from None
        raise DatabaseUnavailable(str(error).splitlines()[0]) from None
    except exc.DBAPIError as error:
        if error.connection_invalidated:  # the connection broke, whatever the driver calls it
            raise DatabaseUnavailable(str(error).splitlines()[0]) from None
        raise


def _sqlstate(error: Exception) -> str | None:
    """The SQLSTATE of a driver error: psycopg2 calls it pgcode, psycopg 3 sqlstate."""
    orig = getattr(error, "orig", None)
    code = getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)
    return code if isinstance(code, str) else None


class ServiceBusy(ServiceUnavailable):
    """Every connection of this worker stayed taken until the request's deadline."""

    def __init__(self, seconds: float | None) -> None:
        super().__init__(
            "The service is too busy to take this request now; retry later.",
            RETRY_AFTER_SECONDS,
            reason=f"no database connection came free within {seconds} s",
        )


class _Running:
    """The DBAPI connection a unit of work is running on, so that the event loop can stop
    it at the deadline: SQLite's interrupt() is safe from another thread and ends the
    statement at once. PostgreSQL stops long statements itself (statement_timeout)."""

    __slots__ = ("connection",)

    def __init__(self) -> None:
        self.connection: Any = None

    def interrupt(self) -> None:
        connection = self.connection
        if isinstance(connection, sqlite3.Connection):
            connection.interrupt()


class Database:
    """One unit of work per call, run on a thread of the database's own executor and
    committed at the end, in one of two styles: `core_unit` (SQLAlchemy Core statements on
    a connection: the task operations, on the hot path) or `orm_unit` (an ORM session with
    SQLModel objects: the account operations, where readability beats the last tenth of a
    millisecond).

    Every unit is admitted first (backend.fairness: the user's share, then a connection in
    fair order) and must end within `deadline_seconds`, waiting included; its admission is
    given back when its thread ends, even if its request gave up before."""

    def __init__(
        self, engine: Engine, admission: Admission, deadline_seconds: float | None = None
    ) -> None:
        self.engine = engine
        self.admission = admission
        self.deadline_seconds = deadline_seconds
        # As many threads as connections may be in use: a unit never waits for a thread.
        self._executor = ThreadPoolExecutor(admission.slots, thread_name_prefix="db")

    def _core_unit(self, work: Callable[[Connection], T], running: _Running) -> T:
        for attempt in range(1, STALE_ATTEMPTS + 1):
            try:
                with self.engine.begin() as connection:
                    running.connection = connection.connection.dbapi_connection
                    return work(connection)
            except StaleRow:
                # A row changed between this unit's read and its versioned UPDATE (SQLite has
                # no row locks): run the unit again on fresh data, where an If-Match check
                # now fails (412) or the last write wins; after a growing, jittered pause so
                # that writers racing for one task spread out.
                time.sleep(random.uniform(0.002, 0.01) * attempt)  # noqa: S311  (jitter)
            finally:
                running.connection = None
        raise Busy()

    def _session_unit(self, work: Callable[[Session], T], running: _Running) -> T:
        with Session(self.engine, expire_on_commit=False) as session:
            running.connection = session.connection().connection.dbapi_connection
            try:
                result = work(session)
                session.commit()
                return result
            finally:
                running.connection = None

    async def core_unit(
        self, work: Callable[[Connection], T], owner: str | None = None, *, heavy: bool = False
    ) -> T:
        """Core statements on one connection, no ORM session, identity map or flush (a
        quarter of the database time of a list request). With `owner`, in that user's
        share; `heavy` for work the caller knows to be expensive (backend.fairness)."""
        return await self._run(self._core_unit, work, owner, heavy)

    async def orm_unit(
        self, work: Callable[[Session], T], owner: str | None = None, *, heavy: bool = False
    ) -> T:
        """ORM objects in one session."""
        return await self._run(self._session_unit, work, owner, heavy)

    async def _run(
        self,
        unit: Callable[[Callable[[Any], T], _Running], T],
        work: Callable[[Any], T],
        owner: str | None,
        heavy: bool,
    ) -> T:
        loop = asyncio.get_running_loop()
        deadline = None if self.deadline_seconds is None else loop.time() + self.deadline_seconds
        try:
            async with asyncio.timeout_at(deadline):
                ticket = await self.admission.enter(owner, heavy=heavy)
        except TimeoutError:
            raise ServiceBusy(self.deadline_seconds) from None
        running = _Running()
        done = loop.run_in_executor(self._executor, _available, unit, work, running)
        try:
            # A frozen server keeps answering TCP keepalives and never applies its own
            # statement_timeout: the deadline answers 503 instead of hanging.
            finished, _ = await asyncio.wait(
                (done,), timeout=None if deadline is None else deadline - loop.time()
            )
        except BaseException:  # cancelled: the client went away
            done.add_done_callback(lambda _: self._leave(ticket, done))
            raise
        if not finished:
            running.interrupt()
            done.add_done_callback(lambda _: self._leave(ticket, done))
            raise DatabaseUnavailable(
                f"no answer from the database within {self.deadline_seconds} s"
            )
        self.admission.leave(ticket)
        return done.result()

    def _leave(self, ticket: Ticket, done: "asyncio.Future[Any]") -> None:
        """A unit nobody waits for any more has ended: its admission goes back, its outcome
        is dropped (reading the exception keeps asyncio from reporting it as unhandled)."""
        if not done.cancelled():
            done.exception()
        self.admission.leave(ticket)

    async def ping(self) -> None:
        await self.core_unit(lambda connection: connection.execute(text("SELECT 1")))

    def dispose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.engine.dispose()
