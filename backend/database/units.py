"""Units of work: every request's database access, admitted (backend.database.admission),
run on a thread of the database's own executor within a deadline, committed at the end."""

import asyncio
import random
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, exc, text
from sqlmodel import Session

from backend.database.admission import Admission, Ticket
from backend.database.engine import autocommitting
from backend.database.errors import (
    STALE_ATTEMPTS,
    Busy,
    DatabaseUnavailable,
    ServiceBusy,
    StaleRow,
    problem_for,
)

T = TypeVar("T")


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

    Every unit is admitted first (backend.database.admission: the user's share, then a
    connection in fair order) and must end within `deadline_seconds`, waiting included; its
    admission is given back when its thread ends, even if its request gave up before."""

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

    def _read_unit(self, work: Callable[[Connection], T], running: _Running) -> T:
        # The driver's own autocommit for the unit: no BEGIN and no COMMIT round trips
        # around what is often a single statement. Not SQLAlchemy's AUTOCOMMIT isolation
        # level: it resets the connection's isolation with a round trip of its own at every
        # checkin, as many as the statement itself.
        with self.engine.connect() as connection, autocommitting(connection):
            running.connection = connection.connection.dbapi_connection
            try:
                return work(connection)
            finally:
                running.connection = None

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
        self,
        work: Callable[[Connection], T],
        owner: str | None = None,
        *,
        heavy: bool = False,
        read_only: bool = False,
    ) -> T:
        """Core statements on one connection, no ORM session, identity map or flush (a
        quarter of the database time of a list request). With `owner`, in that user's
        share; `heavy` for work the caller knows to be expensive (backend.database.admission);
        `read_only` for work that writes nothing, or only what may stand on its own (the user
        row of a first request): each statement is then its own transaction, so work that
        must see one snapshot has to read it in one statement."""
        unit = self._read_unit if read_only else self._core_unit
        return await self._run(unit, work, owner, heavy)

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
            ticket = await self.admission.enter(owner, heavy=heavy, deadline=deadline)
        except TimeoutError:
            raise ServiceBusy(self.deadline_seconds) from None
        running = _Running()
        done = loop.run_in_executor(self._executor, _in_thread, unit, work, running)
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


def _in_thread(
    unit: Callable[[Callable[[Any], T], _Running], T], work: Callable[[Any], T], running: _Running
) -> T:
    """A unit of work on the executor's thread; driver errors as the problems they mean."""
    try:
        return unit(work, running)
    except (exc.DBAPIError, exc.TimeoutError) as error:
        problem = problem_for(error)
        if problem is None:
            raise
        raise problem from None
