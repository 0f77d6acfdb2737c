"""The task writes' Idempotency-Key, from the request to the response: the header, validated
against the contract's IdempotencyKey, and `KeyedWrites.answer`, which every write route
hands its unit of work to. The key store is backend.idempotency.store.

Without the header a write is one unit of work, exactly as before: no extra query."""

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from pydantic import ValidationError
from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response

from backend.database.units import Database
from backend.errors import InvalidInput, ProblemError
from backend.http.problems import validation_items
from backend.idempotency import store
from backend.idempotency.store import Answer, Claim, Keys
from backend.identity.users import UserCheck
from generated.models import IdempotencyKey as KeyModel
from generated.models import Location

logger = logging.getLogger("backend.idempotency")

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"

T = TypeVar("T")
# A write: its changes and the answer they give, in one unit of work of the user.
Write = Callable[[Connection, UserCheck], Answer]


class AsUser(Protocol):
    """Runs a unit of work that writes as the path's user (backend.routes.deps)."""

    def __call__(self, work: Callable[[Connection, UserCheck], T], /) -> Awaitable[T]: ...


def idempotency_key(request: Request) -> str | None:
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


class KeyedWrites:
    """Writes that run at most once per Idempotency-Key (keys kept as `keys` says)."""

    def __init__(self, db: Database, keys: Keys) -> None:
        self._db = db
        self._keys = keys

    async def answer(
        self, request: Request, owner_id: str, as_user: AsUser, write: Write
    ) -> Response:
        """Run `write` as the path's user and answer with its Answer; with a key, at most
        once per key: a retry of the same request gets the first answer again. The key is
        read here, after authentication (a request without a token is 401 whatever its
        key), not by a dependency of its own (one more per request, even without it)."""
        key = idempotency_key(request)
        if key is None:
            return _response(await as_user(write))
        request_fingerprint = store.fingerprint(
            request.method, request.url.path, await request.body()
        )
        keys = self._keys

        def claim_key(connection: Connection, user: UserCheck) -> Claim | Answer:
            user.ensure(connection, lock=True)  # the claim's row refers to the user's
            return store.claim(connection, owner_id, key, request_fingerprint, keys)

        claimed = await as_user(claim_key)
        if isinstance(claimed, Answer):
            return _response(claimed, replayed=True)
        claim: Claim = claimed

        def write_and_keep(connection: Connection, user: UserCheck) -> Answer:
            answer = write(connection, user)
            if answer.keep:
                store.finish(connection, claim, answer)
            else:  # nothing changed: a retry may run again, no answer need be kept
                store.release(connection, claim)
            return answer

        try:
            answer = await as_user(write_and_keep)
        except Exception:
            await self._release(claim)
            raise
        return _response(answer)

    async def _release(self, claim: Claim) -> None:
        # Outside the user's share: a release refused for fairness would hold the key for
        # the LEASE.
        try:
            await self._db.core_unit(lambda c: store.release(c, claim))
        except ProblemError as error:  # the database is away: the claim lapses after LEASE
            logger.warning("could not release an idempotency key: %s", error.detail)


def _response(answer: Answer, *, replayed: bool = False) -> Response:
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
