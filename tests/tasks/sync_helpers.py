"""Writers changing a user's tasks at random and a reader following the changes feed, over
HTTP against live servers: the reader must end with exactly what the list says (used on one
server, tests/tasks/test_feed.py, and across replicas, tests/deploy)."""

import random
import threading
import time
from typing import Any

import httpx


def write_at_random(
    base: str, headers: dict[str, str], number: int, stop: threading.Event
) -> list[str]:
    """Create, rename, complete and delete tasks under `base` (…/api/{user}/tasks) until
    `stop`; what went wrong, if anything."""
    rng = random.Random(number)  # noqa: S311  (test data, not secrets)
    mine: list[int] = []
    errors: list[str] = []
    with httpx.Client(timeout=30) as http:
        while not stop.is_set():
            action = rng.random()
            if action < 0.45 or not mine:
                created = http.post(
                    base, json={"title": f"w{number}", "tags": [f"t{number}"]}, headers=headers
                )
                if created.status_code != 201:
                    errors.append(created.text)
                    continue
                mine.append(created.json()["id"])
            elif action < 0.75:
                title = f"w{number} {rng.random()}"
                http.patch(f"{base}/{rng.choice(mine)}", json={"title": title}, headers=headers)
            elif action < 0.85:
                http.patch(f"{base}/{rng.choice(mine)}/complete", headers=headers)
            else:
                task = mine.pop(rng.randrange(len(mine)))
                if http.delete(f"{base}/{task}", headers=headers).status_code != 204:
                    errors.append(f"delete {task}")
    return errors


class Follower:
    """A client's copy of the tasks under `base`, kept by the changes feed alone."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self.base, self.headers = base, headers
        self.state: dict[int, dict[str, Any]] = {}
        self.since: str | None = None

    def follow(self, http: httpx.Client) -> bool:
        """One page of changes applied; whether more are waiting."""
        params = {"limit": 7} | ({"since": self.since} if self.since else {})
        answer = http.get(f"{self.base}/changes", params=params, headers=self.headers)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        for task in page["changes"]:
            self.state[task["id"]] = task
        for gone in page["deleted"]:
            self.state.pop(gone["id"], None)
        self.since = page["cursor"]
        return bool(page["has_more"])


def listed(http: httpx.Client, base: str, headers: dict[str, str]) -> dict[int, dict[str, Any]]:
    """Every task the list shows, page by page (cursor pages, no total)."""
    tasks: dict[int, dict[str, Any]] = {}
    cursor: str | None = None
    while True:
        params = {"limit": 100, "include_total": "false"} | ({"cursor": cursor} if cursor else {})
        page = http.get(base, params=params, headers=headers).json()
        tasks.update({task["id"]: task for task in page["items"]})
        cursor = page["next_cursor"]
        if cursor is None:
            return tasks


def follow_under_writers(
    writers_base: str, reader_base: str, headers: dict[str, str], writers: int = 4
) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]], list[str]]:
    """`writers` random writers on `writers_base` for 4 s while a Follower reads the feed on
    `reader_base`, which then catches up: (what it holds, what the list says, errors)."""
    stop = threading.Event()
    errors: list[str] = []
    threads = [
        threading.Thread(
            target=lambda n=n: errors.extend(write_at_random(writers_base, headers, n, stop))
        )
        for n in range(writers)
    ]
    follower = Follower(reader_base, headers)
    with httpx.Client(timeout=30) as http:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            follower.follow(http)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        while follower.follow(http):  # catch up with the last writes
            pass
        return follower.state, listed(http, reader_base, headers), errors
