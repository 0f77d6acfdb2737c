"""The engine: URLs, the connection pool, per-transaction settings, SQLite's pragmas."""

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic_core import from_json
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from backend.config import Settings


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
            json_deserializer=from_json,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(
        url,
        hide_parameters=True,  # tracebacks and logs never show user ids or keys
        # JSON columns (a task's tags, each row of a page) parsed by pydantic-core, not the
        # standard library: the driver's json.loads per row was a twentieth of a list.
        json_deserializer=from_json,
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
    per_transaction_settings(engine, settings.db_statement_timeout_ms)
    return engine


@contextmanager
def autocommitting(connection: Connection) -> Iterator[None]:
    """The connection's driver commits every statement by itself until the block ends (no
    transaction is open at either end): psycopg2's and psycopg 3's `autocommit`, sqlite3's
    isolation_level None. Not on psycopg 3: its per-transaction settings are a statement
    of their own (per_transaction_settings), which autocommit would end before the next
    one ran, so its reads stay in a transaction (one more round trip, the timeout kept)."""
    driver = connection.connection.dbapi_connection
    if connection.dialect.driver == "psycopg":
        yield
        return
    if isinstance(driver, sqlite3.Connection):
        level = driver.isolation_level
        driver.isolation_level = None
        try:
            yield
        finally:
            driver.isolation_level = level
        return
    driver.autocommit = True  # type: ignore[union-attr]  # psycopg2 / psycopg 3
    try:
        yield
    finally:
        if not driver.closed:  # type: ignore[union-attr]  # (a broken one is discarded)
            driver.autocommit = False  # type: ignore[union-attr]


def per_transaction_settings(engine: Engine, statement_timeout_ms: int) -> None:
    """The settings every transaction runs with, as `SET LOCAL`: they end with the
    transaction, so nothing is left on a server connection that a pooler hands to someone
    else next. The time zone UTC: timestamps come back in UTC as the driver builds them,
    with no conversion per value (backend.tables.UTCDateTime); statement_timeout (0: none).

    psycopg2 sends a statement and its parameters as one text (client-side binding), and
    PostgreSQL runs a text of several statements in one round trip, inside the transaction
    (or, in autocommit, as one implicit transaction): the SET LOCALs ride in front of the
    first statement of each transaction at no extra round trip. Drivers that bind on the
    server (psycopg 3) cannot send two statements with parameters; they get them as a
    statement of their own."""
    setting = "SET LOCAL timezone = 'UTC'"
    if statement_timeout_ms:
        setting += f"; SET LOCAL statement_timeout = {int(statement_timeout_ms)}"
    inline = engine.dialect.driver == "psycopg2"

    @event.listens_for(engine, "begin")
    def _pending(connection: Connection) -> None:
        connection.info[_SETTINGS_PENDING] = True

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _with_settings(
        connection: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        _context: object,
        executemany: bool,
    ) -> tuple[str, Any]:
        if not (connection.info.pop(_SETTINGS_PENDING, False) or cursor.connection.autocommit):
            return statement, parameters
        if inline and not executemany:
            return f"{setting}; {statement}", parameters
        cursor.execute(setting)
        return statement, parameters


_SETTINGS_PENDING = "transaction_settings_pending"


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
