"""The task writes with an optional Idempotency-Key: the header, validated against the
contract's IdempotencyKey, and `write_once`, which every write route hands its unit of work
to. The rules are in backend.tasks.idempotency.

Without the header a write is one unit of work, exactly as before: no extra query."""

import logging
from collections.abc import Callable
from datetime import timedelta

from pydantic import ValidationError
from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response

from backend.config import Settings
from backend.db import Database
from backend.errors import InvalidInput, ProblemError
from backend.http.problems import validation_items
from backend.routes.deps import TaskOwner, as_user
from backend.tasks import idempotency
from backend.tasks.idempotency import Claim, StoredResponse
from generated.models import IdempotencyKey as KeyModel
from generated.models import Location

logger = logging.getLogger("backend.idempotency")

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"

# A write: its changes and the answer they give, in one unit of work.
Write = Callable[[Connection], StoredResponse]


def _idempotency_key(request: Request) -> str | None:
    """The request's Idempotency-Key, None without one; 422 when it breaks the contract."""
    value = request.headers.get(HEADER)
    if value is None:
        return None
    try:
        return KeyModel.model_validate(value).root
    except ValidationError as error:
        errors = error.errors(include_url=False, include_input=False)
        raise InvalidInput(
            validation_items(Location.header, [{**e, "loc": (HEADER,)} for e in errors])
        ) from None


async def write_once(request: Request, owner: TaskOwner, write: Write) -> Response:
    """Run `write` for the path's user and answer with its StoredResponse; with a key, at
    most once per key: a retry of the same request gets the first answer again. The key is
    read here, after authentication (a request without a token is 401 whatever its key),
    not by a dependency of its own (one more per request, even without the header)."""
    key = _idempotency_key(request)
    db, user = owner.db, owner.identity
    if key is None:
        return _response(await as_user(owner, write))
    settings: Settings = request.app.state.settings
    ttl = timedelta(seconds=settings.idempotency_key_ttl_seconds)
    request_fingerprint = idempotency.fingerprint(
        request.method, request.url.path, await request.body()
    )
    claimed = await as_user(
        owner, lambda c: idempotency.claim(c, user.user_id, key, request_fingerprint, ttl)
    )
    if isinstance(claimed, StoredResponse):
        return _response(claimed, replayed=True)
    claim: Claim = claimed

    def write_and_keep(connection: Connection) -> StoredResponse:
        answer = write(connection)
        idempotency.finish(connection, claim, answer)
        return answer

    try:
        answer = await as_user(owner, write_and_keep)
    except Exception:
        await _release(db, claim)
        raise
    return _response(answer)


async def _release(db: Database, claim: Claim) -> None:
    # Outside the user's share: a release refused for fairness would hold the key for LEASE.
    try:
        await db.core_unit(lambda c: idempotency.release(c, claim))
    except ProblemError as error:  # the database is away: the claim lapses after LEASE
        logger.warning("could not release an idempotency key: %s", error.detail)


def _response(answer: StoredResponse, *, replayed: bool = False) -> Response:
    headers: dict[str, str] = {}
    if answer.etag is not None:
        headers["ETag"] = answer.etag
    if answer.location is not None:
        headers["Location"] = answer.location
    if replayed:
        headers[REPLAYED] = "true"
    if answer.body is None:
        return Response(status_code=answer.status, headers=headers)
    return Response(
        answer.body, status_code=answer.status, media_type="application/json", headers=headers
    )
