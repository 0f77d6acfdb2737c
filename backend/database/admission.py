"""Who gets this worker's database connections, and in which order (per worker process:
each replica and each worker admits on its own; see docs/deployment.md, "Per process, by design").

Admission runs in two steps before a unit of work may take one of the worker's `slots`
(the connection pool's size):

1. The user's share: at most `max_in_flight` units of one user at once. Further ones wait
   up to `wait_seconds` for one of them to end, then get 429 with Retry-After.
2. A slot. When one frees, it goes to the waiting unit whose user has the fewest units
   running, then to the one waiting longest: a user with nothing in flight is served
   before users who already hold connections, however many accounts they spread over.
   Heavy units (a search, a long page: the route says so; or any unit of a user whose
   recent units stood out as slow, see RecentCosts) also need a place in a narrower lane
   of `heavy_slots`, one per user at a time, so expensive work never holds every
   connection: the rest stay free for cheap requests. Heavy units are not served last,
   only fewer at once: a unit that is merely unlucky once is never starved by a stream of
   cheap ones. A user's heavy unit also rests after their previous one ended, three
   times as long as that one ran (HeavyPacing): one account keeps a thread busy a quarter
   of the time at most. Its thread holds the interpreter lock for much of that time
   (reading rows, building JSON), which every other request of the worker needs too: a
   16-connection flood of 500-change feed pages kept others at 2.7 times their idle p50
   without the rest, 1.1 to 1.6 with it, on one worker or two replicas (bench/fairness.py).
   A rest that would outlast the unit's deadline is a 429 at once (Paced).

A unit gives its slot back when its thread really ends, not when its request gave up
(backend.database.units): a query past its deadline still occupies a connection until it stops.
"""

import asyncio
import itertools
import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from backend.errors import ProblemError

RETRY_AFTER_SECONDS = 1


class TooManyInFlight(ProblemError):
    status = 429

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"More than {limit} of your requests are in progress at once; retry when one of "
            "them has finished.",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )


class UserShares:
    """Step 1: each user's bounded share of units in flight."""

    def __init__(self, max_in_flight: int, wait_seconds: float) -> None:
        self.max_in_flight = max_in_flight
        self.wait_seconds = wait_seconds
        # user id -> (their semaphore, requests holding or waiting for it); an entry lives
        # only while its user has requests here, so the table stays as small as the load.
        self._users: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}

    async def acquire(self, user_id: str) -> asyncio.Semaphore:
        """A place in the user's share (TooManyInFlight after waiting); give it back with
        release(). Two plain calls, not a context manager: this is on every request."""
        entry = self._users.get(user_id)
        if entry is None:
            entry = self._users[user_id] = (asyncio.Semaphore(self.max_in_flight), [0])
        semaphore, users = entry
        users[0] += 1
        try:
            if semaphore.locked():
                async with asyncio.timeout(self.wait_seconds):
                    await semaphore.acquire()
            else:
                await semaphore.acquire()  # free: returns at once
        except TimeoutError:
            self._leave(user_id, users)
            raise TooManyInFlight(self.max_in_flight) from None
        except BaseException:
            self._leave(user_id, users)
            raise
        return semaphore

    def release(self, user_id: str, semaphore: asyncio.Semaphore) -> None:
        semaphore.release()
        entry = self._users.get(user_id)
        if entry is not None:
            self._leave(user_id, entry[1])

    def _leave(self, user_id: str, users: list[int]) -> None:
        users[0] -= 1
        if users[0] == 0:
            del self._users[user_id]


class RecentCosts:
    """How long each user's recent units of work took (an exponentially weighted mean of
    their wall time, the database's and the worker's), against all units' recent mean.

    A user is heavy when their mean is over `heavy_seconds` AND several times everyone's:
    under a load that slows every unit alike nobody stands out, so an overloaded worker
    does not push ordinary users into the narrow lane (which would only make it worse).
    Bounded: the least recently seen users are forgotten first."""

    WEIGHT = 0.3  # of a user's newest unit: a few slow units make them heavy, a few fast not
    OVERALL_WEIGHT = 0.02  # of any unit in everyone's mean: the load of the last ~50 units
    STANDS_OUT = 4.0  # times everyone's mean
    SIZE = 10_000

    def __init__(self, heavy_seconds: float) -> None:
        self.heavy_seconds = heavy_seconds
        self._mean: OrderedDict[str, float] = OrderedDict()
        self._overall: float | None = None

    def is_heavy(self, user_id: str) -> bool:
        mean = self._mean.get(user_id, 0.0)
        overall = self._overall or 0.0
        return mean > self.heavy_seconds and mean > self.STANDS_OUT * overall

    def record(self, user_id: str, seconds: float) -> None:
        overall = seconds if self._overall is None else self._overall
        # A user not seen lately starts from everyone's mean: one unlucky unit (a busy
        # machine stalls any thread now and then) is not enough to make them heavy.
        previous = self._mean.pop(user_id, overall)
        self._mean[user_id] = previous + self.WEIGHT * (seconds - previous)
        if len(self._mean) > self.SIZE:
            self._mean.popitem(last=False)
        self._overall = overall + self.OVERALL_WEIGHT * (seconds - overall)


class Paced(ProblemError):
    status = 429
    type = "urn:task-api:problem:paced"

    def __init__(self, rest: float) -> None:
        seconds = max(1, math.ceil(rest))
        super().__init__(
            f"Your expensive requests are paced: the next may start in {seconds} s, three "
            "times as long as your previous one ran.",
            headers={"Retry-After": str(seconds)},
        )


class HeavyPacing:
    """When each user's next heavy unit may start: REST times as long after their previous
    one ended as that one ran. Bounded: the least recently paced users are forgotten first
    (a user forgotten early only gets one unit without a rest)."""

    REST = 3.0
    SIZE = 10_000

    def __init__(self) -> None:
        self._not_before: OrderedDict[str, float] = OrderedDict()

    def rest(self, user_id: str, now: float) -> float:
        """Seconds the user's next heavy unit waits before it may start (0: none)."""
        wait = self._not_before.get(user_id, now) - now
        if wait <= 0:
            self._not_before.pop(user_id, None)
            return 0.0
        return wait

    def ran(self, user_id: str, started: float, ended: float) -> None:
        self._not_before.pop(user_id, None)
        self._not_before[user_id] = ended + self.REST * (ended - started)
        if len(self._not_before) > self.SIZE:
            self._not_before.popitem(last=False)


@dataclass(frozen=True, slots=True)
class Ticket:
    """A unit's admission: give it back with Admission.leave() when its thread has ended."""

    user_id: str | None
    heavy: bool
    declared: bool  # heavy because the caller said so (not counted in RecentCosts)
    share: asyncio.Semaphore | None
    started: float


@dataclass(eq=False)
class _Waiter:
    user_id: str | None
    heavy: bool
    order: int
    granted: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Admission:
    """Steps 1 and 2 above, for one worker's event loop (not thread-safe: call it there)."""

    def __init__(
        self,
        slots: int,
        *,
        max_in_flight: int,
        wait_seconds: float,
        heavy_slots: int,
        heavy_unit_seconds: float,
    ) -> None:
        self.slots = slots
        self.shares = UserShares(max_in_flight, wait_seconds)
        self.costs = RecentCosts(heavy_unit_seconds)
        self.pacing = HeavyPacing()
        self._free = slots
        self._heavy_free = max(1, min(heavy_slots, slots))
        self._running: dict[str, int] = {}  # user id -> their units holding a slot
        self._running_heavy: set[str] = set()  # users with a heavy unit holding a slot
        self._waiting: list[_Waiter] = []
        self._order = itertools.count()

    async def enter(
        self, user_id: str | None, *, heavy: bool = False, deadline: float | None = None
    ) -> Ticket:
        """Admit a unit of `user_id` (None: the service's own work, no share): 429 when the
        user's share stays full; otherwise waits for a slot, up to `deadline` (the event
        loop's time; then TimeoutError)."""
        share = None if user_id is None else await self.shares.acquire(user_id)
        lane = heavy or (user_id is not None and self.costs.is_heavy(user_id))
        rest = 0.0 if user_id is None or not lane else self.pacing.rest(user_id, time.monotonic())
        if not rest and self._free and not self._waiting and self._fits(user_id, lane):
            self._take(user_id, lane)  # nobody waits and there is room: no queueing at all
            return Ticket(user_id, lane, heavy, share, time.monotonic())
        try:
            late = deadline is not None and asyncio.get_running_loop().time() + rest > deadline
            if rest and late:
                raise Paced(rest)  # at once: waiting would end in a 503 at the deadline
            async with asyncio.timeout_at(deadline):
                if rest:
                    await asyncio.sleep(rest)
                await self._slot(user_id, lane)
        except BaseException:
            if share is not None and user_id is not None:
                self.shares.release(user_id, share)
            raise
        return Ticket(user_id, lane, heavy, share, time.monotonic())

    def leave(self, ticket: Ticket) -> None:
        """The unit's thread has ended: its slot, lane place and share go to the next."""
        user_id, ended = ticket.user_id, time.monotonic()
        if user_id is not None:
            if not ticket.declared:
                self.costs.record(user_id, ended - ticket.started)
            if ticket.heavy:
                self.pacing.ran(user_id, ticket.started, ended)
            if ticket.share is not None:
                self.shares.release(user_id, ticket.share)
        self._give_back(user_id, ticket.heavy)

    async def _slot(self, user_id: str | None, heavy: bool) -> None:
        waiter = _Waiter(user_id, heavy, next(self._order))
        self._waiting.append(waiter)
        self._grant()
        try:
            await waiter.granted  # at once when it was granted just now
        except BaseException:
            if waiter.granted.done() and not waiter.granted.cancelled():
                self._give_back(user_id, heavy)  # granted, then cancelled before it ran
            else:
                self._waiting.remove(waiter)
            raise

    def _grant(self) -> None:
        """Free slots to the waiting units whose users have the fewest running."""
        while self._free and self._waiting:
            eligible = [w for w in self._waiting if self._fits(w.user_id, w.heavy)]
            if not eligible:
                return
            chosen = min(eligible, key=self._priority)
            self._waiting.remove(chosen)
            self._take(chosen.user_id, chosen.heavy)
            chosen.granted.set_result(None)

    def _fits(self, user_id: str | None, heavy: bool) -> bool:
        """Cheap work fits any free slot; heavy work needs a free place in the lane, and
        one heavy unit per user at a time: a flood of long pages from one account costs
        the worker at most one thread, whatever its share."""
        if not heavy:
            return True
        return bool(self._heavy_free) and user_id not in self._running_heavy

    def _take(self, user_id: str | None, heavy: bool) -> None:
        self._free -= 1
        if heavy:
            self._heavy_free -= 1
            if user_id is not None:
                self._running_heavy.add(user_id)
        if user_id is not None:
            self._running[user_id] = self._running.get(user_id, 0) + 1

    def _priority(self, waiter: _Waiter) -> tuple[int, int]:
        running = 0 if waiter.user_id is None else self._running.get(waiter.user_id, 0)
        return running, waiter.order

    def _give_back(self, user_id: str | None, heavy: bool) -> None:
        self._free += 1
        if heavy:
            self._heavy_free += 1
            if user_id is not None:
                self._running_heavy.discard(user_id)
        if user_id is not None:
            left = self._running.get(user_id, 0) - 1
            if left > 0:
                self._running[user_id] = left
            else:
                self._running.pop(user_id, None)
        self._grant()
