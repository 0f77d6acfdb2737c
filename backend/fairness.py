"""Each user's bounded share of the database: at most `max_in_flight` units of work of one
user at once in this worker. Further requests of that user wait up to `wait_seconds` for
one of them to end, then get 429 with Retry-After: one user's expensive searches can hold
a few connections, never the whole pool."""

import asyncio

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
