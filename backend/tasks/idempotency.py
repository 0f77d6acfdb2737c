"""Idempotency-Key (IETF draft-ietf-httpapi-idempotency-key-header) on the task writes: the
first request with a key runs and its answer is kept; a retry with the same key and the
same request gets that answer again instead of running a second time.

A key goes through three short steps, each its own unit of work:

1. `claim`, committed at once: INSERT … ON CONFLICT DO NOTHING of an in_flight row, then
   read the row. Parallel requests with one key see each other: on PostgreSQL the second
   INSERT waits for the first one's commit, on SQLite writers take turns anyway. The row
   that is there decides: the answer kept (a retry), 422 (the key was used for another
   request), 409 (its first request is still running) or, for an expired key or a claim
   abandoned by a crashed process (in_flight for longer than LEASE), a takeover.
2. the write and `finish` in ONE unit of work: the answer is stored with the change it
   reports, so a crash cannot leave a change without its answer (a retry would apply it
   twice) nor an answer without its change. `finish` only stores onto this request's own
   claim (by claimed_at); when the claim was taken over meanwhile, it raises and the write
   is rolled back.
3. `release`, when the write failed (404, 412, 409 quota, 503…): the claim goes, so a retry
   runs again. Only this request's claim, and only while it is in flight.

Keys are scoped to their user (primary key user_id, key). `purge_expired` deletes the rows
whose retention (IDEMPOTENCY_KEY_TTL_SECONDS) has ended; until then `claim` treats an
expired row as absent.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, delete, select, update
from sqlmodel import col

from backend.db import insert_ignoring_duplicates, utcnow
from backend.errors import ProblemError
from backend.tables import IdempotencyRecord

IN_FLIGHT = "in_flight"
DONE = "done"
# An in_flight claim older than this was left by a process that died mid-request: the next
# request with its key takes it over. Far longer than any unit of work may run (its deadline,
# DB_REQUEST_DEADLINE_SECONDS, is 10 s by default); and should a write outlast it anyway,
# `finish` finds its claim taken over and the write is rolled back.
LEASE = timedelta(seconds=60)
# The first INSERT of a claim and the read after it can miss each other when the row is
# released in between (its request failed): try again a few times, then report it busy.
CLAIM_ATTEMPTS = 3


class IdempotencyKeyReused(ProblemError):
    """422: the key was used before for another request (method, path or body)."""

    status = 422
    type = "urn:task-api:problem:idempotency-key-reused"

    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key was used for another request (another method, path or "
            "body); use a new key for a new request."
        )


class IdempotencyKeyInFlight(ProblemError):
    """409: the first request with this key has not answered yet."""

    status = 409
    type = "urn:task-api:problem:idempotency-key-in-flight"

    def __init__(self) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still being processed; retry in a moment.",
            headers={"Retry-After": "1"},
        )


@dataclass(frozen=True)
class StoredResponse:
    """A write's answer, as sent and as kept for retries: status, JSON body (None for 204),
    ETag and Location headers."""

    status: int
    body: bytes | None = None
    etag: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class Claim:
    """This request's hold on a key; `claimed_at` tells it from a later takeover."""

    owner_id: str
    key: str
    claimed_at: datetime


def fingerprint(method: str, path: str, body: bytes) -> str:
    """SHA-256 of the request's method, path and body (each length-prefixed, so no two
    different requests run together into the same bytes)."""
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode("utf-8", "surrogatepass"), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


_T = IdempotencyRecord
_THE_KEY = (col(_T.user_id) == bindparam("owner_id")) & (col(_T.key) == bindparam("the_key"))
_READ = select(
    col(_T.fingerprint),
    col(_T.state),
    col(_T.status),
    col(_T.body),
    col(_T.etag),
    col(_T.location),
    col(_T.created_at),
    col(_T.expires_at),
).where(_THE_KEY)
# A takeover (expired or abandoned row): only if nobody took it over first.
_TAKE_OVER = (
    update(_T)
    .where(_THE_KEY, col(_T.created_at) == bindparam("previous"))
    .values(
        fingerprint=bindparam("new_fingerprint"),
        state=IN_FLIGHT,
        status=None,
        body=None,
        etag=None,
        location=None,
        created_at=bindparam("now"),
        expires_at=bindparam("new_expires_at"),
    )
)
_MINE = (col(_T.created_at) == bindparam("claimed_at")) & (col(_T.state) == IN_FLIGHT)
_FINISH = (
    update(_T)
    .where(_THE_KEY, _MINE)
    .values(
        state=DONE,
        status=bindparam("answer_status"),
        body=bindparam("answer_body"),
        etag=bindparam("answer_etag"),
        location=bindparam("answer_location"),
    )
)
_RELEASE = delete(_T).where(_THE_KEY, _MINE)
_PURGE = delete(_T).where(col(_T.expires_at) <= bindparam("now"))


def claim(
    connection: Connection, owner_id: str, key: str, request_fingerprint: str, ttl: timedelta
) -> Claim | StoredResponse:
    """Claim `key` for a request: a Claim when the request is to run, the kept answer when a
    request like it ran before. IdempotencyKeyReused when the key belongs to another
    request, IdempotencyKeyInFlight while its first request runs."""
    the_key = {"owner_id": owner_id, "the_key": key}
    for _ in range(CLAIM_ATTEMPTS):
        now = utcnow()
        new = {"new_fingerprint": request_fingerprint, "now": now, "new_expires_at": now + ttl}
        inserted = connection.execute(
            insert_ignoring_duplicates(connection, _T).values(
                user_id=owner_id,
                key=key,
                fingerprint=request_fingerprint,
                state=IN_FLIGHT,
                created_at=now,
                expires_at=now + ttl,
            )
        )
        if inserted.rowcount == 1:
            return Claim(owner_id, key, now)
        row = connection.execute(_READ, the_key).first()
        if row is None:
            continue  # released (its request failed) between the two statements
        abandoned = row.state == IN_FLIGHT and row.created_at <= now - LEASE
        if row.expires_at <= now or (abandoned and row.fingerprint == request_fingerprint):
            previous = {**the_key, "previous": row.created_at}
            if connection.execute(_TAKE_OVER, {**previous, **new}).rowcount == 1:
                return Claim(owner_id, key, now)
            raise IdempotencyKeyInFlight()  # another request took it over first
        if row.fingerprint != request_fingerprint:
            raise IdempotencyKeyReused()
        if row.state == DONE:
            return StoredResponse(row.status, row.body, row.etag, row.location)
        raise IdempotencyKeyInFlight()
    raise IdempotencyKeyInFlight()


def finish(connection: Connection, claim: Claim, answer: StoredResponse) -> None:
    """Keep `answer` for the claim's key, in the unit of work of the write it reports.
    IdempotencyKeyInFlight (rolling the write back) when the claim is no longer this
    request's: taken over after LEASE by a retry that runs the write itself."""
    stored = connection.execute(
        _FINISH,
        {
            "owner_id": claim.owner_id,
            "the_key": claim.key,
            "claimed_at": claim.claimed_at,
            "answer_status": answer.status,
            "answer_body": answer.body,
            "answer_etag": answer.etag,
            "answer_location": answer.location,
        },
    )
    if stored.rowcount != 1:
        raise IdempotencyKeyInFlight()


def release(connection: Connection, claim: Claim) -> None:
    """Give the key up after a failed write: a retry runs again. Nothing happens when the
    write did store its answer after all, or the claim is another request's by now."""
    connection.execute(
        _RELEASE,
        {"owner_id": claim.owner_id, "the_key": claim.key, "claimed_at": claim.claimed_at},
    )


def purge_expired(connection: Connection) -> int:
    """Delete every key whose retention has ended; the number deleted."""
    return int(connection.execute(_PURGE, {"now": utcnow()}).rowcount)
