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
expired row as absent. A user keeps at most IDEMPOTENCY_MAX_KEYS_PER_USER keys at once: a
new key past that is 429 until the oldest expires. A claim is only made for a user who
still exists (a claim racing the account's deletion is 401, never a foreign-key error).
"""

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    Connection,
    String,
    bindparam,
    delete,
    exists,
    func,
    literal,
    select,
    update,
)
from sqlmodel import col

from backend.clock import utcnow
from backend.database.sql import insert_ignoring_duplicates
from backend.errors import ProblemError
from backend.identity.errors import TokenRevoked
from backend.tables import IdempotencyRecord, User, UTCDateTime

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


class TooManyKeys(ProblemError):
    """429: the user keeps as many answers as allowed; a new key waits for the oldest."""

    status = 429
    type = "urn:task-api:problem:too-many-idempotency-keys"

    def __init__(self, limit: int, retry_after: int) -> None:
        super().__init__(
            f"You have {limit} Idempotency-Keys whose answers are kept, the most allowed; "
            f"retry in {retry_after} seconds, when the oldest has expired.",
            headers={"Retry-After": str(retry_after)},
            limit=limit,
        )


@dataclass(frozen=True)
class Answer:
    """A write's answer, as sent and as kept for retries: status, JSON body (None for 204),
    ETag and Location headers. `keep`: False for a write that changed nothing (a retry may
    simply run again), so such writes cost no stored answer."""

    status: int
    body: bytes | None = None
    etag: str | None = None
    location: str | None = None
    keep: bool = True


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
# The user's keys still kept (not expired), counted up to the limit: at most `max` rows read.
_LIVE = (col(_T.user_id) == bindparam("owner_id")) & (
    col(_T.expires_at) > bindparam("now", type_=UTCDateTime())
)
_KEPT = select(func.count()).select_from(
    select(literal(1)).where(_LIVE).limit(bindparam("max")).subquery()
)
_OLDEST_EXPIRY = select(func.min(col(_T.expires_at))).where(_LIVE)
_OWNER_EXISTS = exists().where(col(User.id) == bindparam("owner_id"))
# A new claim, INSERTed from this SELECT: only while its user exists (a user deleted under
# the request leaves nothing to insert, where a plain INSERT would fail its foreign key)
# and keeps fewer than `max` keys.
_CLAIM_COLUMNS = ["user_id", "key", "fingerprint", "state", "created_at", "expires_at"]
_NEW = select(
    bindparam("owner_id", type_=String()),
    bindparam("the_key", type_=String()),
    bindparam("new_fingerprint", type_=String()),
    literal(IN_FLIGHT),
    bindparam("now", type_=UTCDateTime()),
    bindparam("new_expires_at", type_=UTCDateTime()),
).where(_OWNER_EXISTS, _KEPT.scalar_subquery() < bindparam("max"))


@dataclass(frozen=True)
class Keys:
    """How keys are kept: how long, and how many per user at once."""

    ttl: timedelta
    max_per_user: int


def claim(
    connection: Connection, owner_id: str, key: str, request_fingerprint: str, keys: Keys
) -> Claim | Answer:
    """Claim `key` for a request: a Claim when the request is to run, the kept answer when a
    request like it ran before. IdempotencyKeyReused when the key belongs to another
    request, IdempotencyKeyInFlight while its first request runs, TooManyKeys when the user
    keeps as many as allowed, TokenRevoked when the user no longer exists."""
    the_key = {"owner_id": owner_id, "the_key": key}
    for _ in range(CLAIM_ATTEMPTS):
        now = utcnow()
        new = {"new_fingerprint": request_fingerprint, "now": now, "new_expires_at": now + keys.ttl}
        inserted = connection.execute(
            insert_ignoring_duplicates(connection, _T).from_select(_CLAIM_COLUMNS, _NEW),
            {**the_key, **new, "max": keys.max_per_user},
        )
        if inserted.rowcount == 1:
            return Claim(owner_id, key, now)
        row = connection.execute(_READ, the_key).first()
        if row is None:  # nothing inserted, and no row: why?
            if not connection.execute(select(_OWNER_EXISTS), the_key).scalar():
                raise TokenRevoked()  # the account was deleted under this request
            _check_room(connection, owner_id, keys.max_per_user, now)
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
            return Answer(row.status, row.body, row.etag, row.location)
        raise IdempotencyKeyInFlight()
    raise IdempotencyKeyInFlight()


def _check_room(connection: Connection, owner_id: str, limit: int, now: datetime) -> None:
    """TooManyKeys when the user keeps `limit` unexpired keys already."""
    live = {"owner_id": owner_id, "now": now}
    if connection.execute(_KEPT, {**live, "max": limit}).scalar_one() < limit:
        return
    oldest = connection.execute(_OLDEST_EXPIRY, live).scalar_one_or_none()
    wait = 1 if oldest is None else max(1, math.ceil((oldest - now).total_seconds()))
    raise TooManyKeys(limit, wait)


def finish(connection: Connection, claim: Claim, answer: Answer) -> None:
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
