"""Rows whose time is up, deleted every PURGE_INTERVAL_SECONDS so that rows nobody looks up
again do not pile up: ended throttle windows and expired device tokens (the accounts),
idempotency keys past their retention, the changes feed's tombstones past theirs."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from backend.errors import ProblemError

logger = logging.getLogger("backend.purges")

PURGE_INTERVAL_SECONDS = 300

# Deletes rows whose time is up; the number deleted.
Purge = Callable[[], Awaitable[int]]


class Purges:
    def __init__(self, purges: Mapping[str, Purge]) -> None:
        self._purges = dict(purges)

    async def run(self) -> dict[str, int]:
        """Every purge once; each that fails (the database is away) is skipped."""
        purged = {}
        for name, purge in self._purges.items():
            try:
                purged[name] = await purge()
            except ProblemError as error:  # the database is away: try again next time
                logger.warning("purge of %s skipped: %s", name, error.detail)
        return purged

    async def periodically(self) -> None:
        while True:
            await self.run()
            await asyncio.sleep(PURGE_INTERVAL_SECONDS)
