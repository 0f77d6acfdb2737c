"""Fair admission to the database (backend.database.admission): the rules on their own,
then real units of work on the suite's database (SQLite, or PostgreSQL with
TEST_DATABASE_URL), where slow units stand in for expensive searches."""

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from backend.app import create_app
from backend.database.admission import (
    Admission,
    HeavyPacing,
    Paced,
    RecentCosts,
    TooManyInFlight,
)
from backend.database.engine import is_sqlite
from backend.database.errors import DatabaseUnavailable
from backend.database.units import Database
from tests.helpers import auth, make_settings

SLOW = 0.4  # seconds a "heavy" unit of work takes


def admission(slots: int = 2, heavy_slots: int = 1, per_user: int = 2) -> Admission:
    return Admission(
        slots,
        max_in_flight=per_user,
        wait_seconds=0.2,
        heavy_slots=heavy_slots,
        heavy_unit_seconds=0.05,
    )


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coroutine)


# --- the rules ---


def test_a_user_with_nothing_running_is_served_before_users_holding_slots() -> None:
    async def scenario() -> str:
        gate = admission(slots=2, heavy_slots=2, per_user=3)
        held = [await gate.enter("busy"), await gate.enter("busy")]  # every slot taken
        queued = asyncio.create_task(gate.enter("busy"))
        await asyncio.sleep(0)
        newcomer = asyncio.create_task(gate.enter("newcomer"))  # arrives last
        await asyncio.sleep(0)
        gate.leave(held[0])  # one slot frees: busy still runs one, the newcomer none
        await asyncio.sleep(0)
        first = "newcomer" if newcomer.done() else "busy"
        gate.leave(held[1])
        gate.leave(await queued)
        gate.leave(await newcomer)
        return first

    assert run(scenario()) == "newcomer"


def test_heavy_units_never_hold_more_than_their_lane() -> None:
    async def scenario() -> tuple[int, bool]:
        gate = admission(slots=3, heavy_slots=1)
        first = await gate.enter("x", heavy=True)
        second = asyncio.create_task(gate.enter("y", heavy=True))
        await asyncio.sleep(0.05)
        blocked = not second.done()  # the lane is full, slots are not
        cheap = await asyncio.wait_for(gate.enter("z"), 1)  # cheap work still gets a slot
        gate.leave(first)
        gate.leave(await second)
        gate.leave(cheap)
        return gate.slots, blocked

    assert run(scenario()) == (3, True)


def test_one_user_runs_one_heavy_unit_at_a_time() -> None:
    """Two places in the lane: a second heavy unit of the same user waits, another user's
    takes the place (a flood of long pages costs the worker one thread at most)."""

    async def scenario() -> tuple[bool, bool]:
        gate = admission(slots=4, heavy_slots=2, per_user=2)
        first = await gate.enter("flooder", heavy=True)
        second = asyncio.create_task(gate.enter("flooder", heavy=True))
        other = asyncio.create_task(gate.enter("someone", heavy=True))
        await asyncio.sleep(0.05)
        waited, passed = not second.done(), other.done()
        gate.leave(first)
        gate.leave(await second)
        gate.leave(await other)
        return waited, passed

    assert run(scenario()) == (True, True)


def test_a_user_whose_units_stand_out_as_slow_is_heavy_until_they_are_fast_again() -> None:
    costs = RecentCosts(heavy_seconds=0.05)
    for _ in range(50):
        costs.record("someone", 0.002)  # what units cost lately
    assert not costs.is_heavy("u")
    costs.record("u", 0.1)  # once unlucky: not yet
    assert not costs.is_heavy("u")
    costs.record("u", 0.5)
    assert costs.is_heavy("u")
    for _ in range(10):
        costs.record("u", 0.001)
    assert not costs.is_heavy("u")


def test_when_every_unit_is_slow_nobody_is_heavy() -> None:
    """An overloaded worker slows everyone alike: that alone makes nobody heavy."""
    costs = RecentCosts(heavy_seconds=0.05)
    for number in range(200):
        costs.record(f"user{number % 20}", 0.3)
    assert not any(costs.is_heavy(f"user{number}") for number in range(20))


def test_the_share_still_says_429_after_waiting() -> None:
    async def scenario() -> None:
        gate = admission(slots=4, per_user=1)
        ticket = await gate.enter("u")
        with pytest.raises(TooManyInFlight):
            await gate.enter("u")
        gate.leave(ticket)
        gate.leave(await gate.enter("u"))

    run(scenario())


def test_a_unit_cancelled_while_waiting_takes_nothing_with_it() -> None:
    async def scenario() -> Admission:
        gate = admission(slots=1)
        held = await gate.enter("a")
        waiting = asyncio.create_task(gate.enter("b"))
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        gate.leave(held)
        gate.leave(await asyncio.wait_for(gate.enter("c"), 1))  # the slot is free again
        return gate

    run(scenario())


# --- real units of work ---


def slow_unit(seconds: float) -> Callable[[Connection], None]:
    def unit(connection: Connection) -> None:
        connection.execute(text("SELECT 1"))
        time.sleep(seconds)  # an expensive search, as far as admission can tell

    return unit


def quick_unit(connection: Connection) -> None:
    connection.execute(text("SELECT 1"))


async def timed(db: Database, owner: str, unit: Callable[[Connection], None]) -> float:
    started = time.monotonic()
    await db.core_unit(unit, owner=owner)
    return time.monotonic() - started


def test_accounts_whose_work_is_slow_cannot_take_every_connection(database_url: str) -> None:
    """Three accounts whose units stand out as slow, two at once each (six), on a pool of
    four: an ordinary user's quick unit is served at once instead of queueing behind them."""
    app = create_app(make_settings(database_url, db_pool_size=4, db_heavy_slots=2))
    db: Database = app.state.services.db

    async def scenario() -> float:
        for number in range(60):  # what units cost lately
            await timed(db, f"user{number % 7}", quick_unit)
        # Each account's first unit shows admission what its work costs.
        await asyncio.gather(*(timed(db, f"heavy{n}", slow_unit(SLOW)) for n in range(3)))
        attack = [
            asyncio.create_task(timed(db, f"heavy{n}", slow_unit(SLOW)))
            for n in range(3)
            for _ in range(2)
        ]
        await asyncio.sleep(0.1)  # the attack holds what it can
        ordinary = await timed(db, "ordinary", quick_unit)
        await asyncio.gather(*attack)
        return ordinary

    try:
        assert run(scenario()) < SLOW / 2
    finally:
        db.dispose()


def test_work_declared_heavy_cannot_take_every_connection(database_url: str) -> None:
    """Searches (the route declares them heavy) of four accounts at once, on a pool of four
    with one place for heavy work: they take turns, and a quick unit is served at once."""
    app = create_app(make_settings(database_url, db_pool_size=4, db_heavy_slots=1))
    db: Database = app.state.services.db

    async def searching(user: str) -> float:
        started = time.monotonic()
        await db.core_unit(slow_unit(SLOW / 2), owner=user, heavy=True)
        return time.monotonic() - started

    async def scenario() -> tuple[float, float]:
        searches = [asyncio.create_task(searching(f"searcher{n}")) for n in range(4)]
        await asyncio.sleep(0.05)
        ordinary = await timed(db, "ordinary", quick_unit)
        return ordinary, max(await asyncio.gather(*searches))

    try:
        ordinary, slowest_search = run(scenario())
        assert ordinary < SLOW / 4
        assert slowest_search >= 4 * SLOW / 2 * 0.9  # one at a time
    finally:
        db.dispose()


def test_a_unit_past_its_deadline_keeps_its_share_until_its_thread_ends(
    database_url: str,
) -> None:
    app = create_app(
        make_settings(
            database_url,
            user_max_in_flight=1,
            user_wait_seconds=0.1,
            db_request_deadline_seconds=0.3,
        )
    )
    db: Database = app.state.services.db

    async def scenario() -> None:
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable):
            await db.core_unit(slow_unit(1.0), owner="u")
        assert time.monotonic() - started < 0.6
        # Its thread is still at work: the user's share is still taken.
        with pytest.raises(TooManyInFlight):
            await db.core_unit(quick_unit, owner="u")
        await asyncio.sleep(1.0)  # the thread has ended
        await db.core_unit(quick_unit, owner="u")

    try:
        run(scenario())
    finally:
        db.dispose()


def test_a_sqlite_query_past_its_deadline_is_stopped(database_url: str) -> None:
    """SQLite has no statement timeout: at the deadline its statement is interrupted, so the
    connection and the user's share come back at once (PostgreSQL: statement_timeout)."""
    if not is_sqlite(database_url):
        pytest.skip("PostgreSQL stops long statements itself (statement_timeout)")
    app = create_app(
        make_settings(
            database_url,
            user_max_in_flight=1,
            user_wait_seconds=0.5,
            db_request_deadline_seconds=0.3,
        )
    )
    db: Database = app.state.services.db
    endless = text(
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) "
        "SELECT count(*) FROM n WHERE x < 0"
    )

    async def scenario() -> float:
        with pytest.raises(DatabaseUnavailable):
            await db.core_unit(lambda c: c.execute(endless).scalar(), owner="u")
        started = time.monotonic()
        await db.core_unit(quick_unit, owner="u")  # admitted once the interrupt lands
        return time.monotonic() - started

    try:
        assert run(scenario()) < 0.3
    finally:
        db.dispose()


def test_heavy_pacing_rests_three_times_as_long_as_the_previous_unit_ran() -> None:
    pacing = HeavyPacing()
    assert pacing.rest("flooder", now=10.0) == 0.0  # nothing ran yet
    pacing.ran("flooder", started=10.0, ended=10.5)
    assert pacing.rest("flooder", now=10.5) == pytest.approx(1.5)
    assert pacing.rest("flooder", now=11.75) == pytest.approx(0.25)
    assert pacing.rest("someone", now=10.5) == 0.0  # per user
    assert pacing.rest("flooder", now=12.0) == 0.0  # rested: forgotten


def test_a_users_heavy_units_rest_between_them_others_are_not_held() -> None:
    async def scenario() -> tuple[float, float]:
        gate = admission(slots=4, heavy_slots=2, per_user=2)
        first = await gate.enter("flooder", heavy=True)
        await asyncio.sleep(0.1)
        gate.leave(first)  # ran 0.1 s: the next starts 0.3 s later
        started = time.monotonic()
        gate.leave(await gate.enter("someone", heavy=True))
        other = time.monotonic() - started
        gate.leave(await gate.enter("flooder", heavy=True))
        return other, time.monotonic() - started

    other, rested = run(scenario())
    assert other < 0.05
    assert 0.25 < rested < 0.6


def test_a_rest_past_the_deadline_is_a_429_at_once_and_gives_the_share_back() -> None:
    async def scenario() -> None:
        gate = admission(slots=4, heavy_slots=2, per_user=1)
        gate.pacing.ran("flooder", started=time.monotonic() - 2, ended=time.monotonic())
        deadline = asyncio.get_running_loop().time() + 1  # the rest is 6 s
        started = time.monotonic()
        with pytest.raises(Paced) as paced:
            await gate.enter("flooder", heavy=True, deadline=deadline)
        assert time.monotonic() - started < 0.5
        assert paced.value.status == 429
        assert paced.value.headers["Retry-After"] == "6"
        gate.leave(await gate.enter("flooder"))  # their share is free: cheap work goes on

    run(scenario())


def test_paced_searches_answer_429_with_retry_after_over_http(database_url: str) -> None:
    """An account whose last search ran 5 s rests 15 s, past the 10 s deadline: its next
    search is 429 at once, while its cheap list and another account's search are served."""
    app = create_app(make_settings(database_url, db_request_deadline_seconds=10))
    with TestClient(app) as client:
        pacing = app.state.services.db.admission.pacing
        pacing.ran("alice", started=time.monotonic() - 5, ended=time.monotonic())
        started = time.monotonic()
        paced = client.get("/api/alice/tasks?q=milk", headers=auth("alice"))
        assert time.monotonic() - started < 2
        assert paced.status_code == 429, paced.text
        assert paced.headers["content-type"] == "application/problem+json"
        assert paced.json()["type"] == "urn:task-api:problem:paced"
        assert 14 <= int(paced.headers["Retry-After"]) <= 15
        assert client.get("/api/alice/tasks", headers=auth("alice")).status_code == 200
        assert client.get("/api/bob/tasks?q=milk", headers=auth("bob")).status_code == 200
