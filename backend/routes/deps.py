"""What the routes depend on, as Annotated aliases (`Owner`, `Db`, `AppSettings`…)
so signatures read like prose; each is a dependency that takes only the Request, so FastAPI
resolves it without per-parameter validation or a threadpool hop. And the JSON responses
every route module writes."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends
from pydantic import BaseModel
from pydantic_core import to_json
from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response

from backend.config import Settings
from backend.database.units import Database
from backend.idempotency.requests import KeyedWrites
from backend.identity.accounts import Accounts
from backend.identity.errors import NotYourTasks
from backend.identity.tokens import Identity, TokenVerifier, bearer_token
from backend.identity.users import check_user
from backend.tasks import cursors
from backend.tasks.cursors import ListCursors
from backend.tasks.quotas import Quotas

T = TypeVar("T")


def _state(name: str) -> Callable[[Request], Awaitable[Any]]:
    """A dependency returning what create_app put on app.state under `name`. Async (a sync
    dependency would cost a threadpool hop each) and taking only the Request."""

    async def from_state(request: Request) -> Any:
        return getattr(request.app.state, name)

    return from_state


async def authenticate(request: Request) -> Identity:
    """The bearer token's identity. Async, so no threadpool hop; runs before any body is
    read, so a request without a token is 401 whatever its body."""
    token = bearer_token(request.headers.get("authorization"))
    verifier: TokenVerifier = request.app.state.token_verifier
    identity = await verifier.verify(token)
    request.state.user_id = identity.user_id  # for the request's log line
    return identity


async def path_user(request: Request) -> Identity:
    """The token's identity, which must be the path's user_id (403 otherwise)."""
    identity = await authenticate(request)
    if request.path_params["user_id"] != identity.user_id:
        raise NotYourTasks()
    return identity


Db = Annotated[Database, Depends(_state("db"))]
AppSettings = Annotated[Settings, Depends(_state("settings"))]
Verifier = Annotated[TokenVerifier, Depends(_state("token_verifier"))]
AccountsDep = Annotated[Accounts, Depends(_state("accounts"))]
FeedCursors = Annotated[cursors.FeedCursors, Depends(_state("feed_cursors"))]
# The authenticated user of /api/me…: any valid token.
Authenticated = Annotated[Identity, Depends(authenticate)]


@dataclass(frozen=True, slots=True)
class TaskOwner:
    """What a task route needs, as ONE dependency: the path's user (the token's subject),
    the database, the quotas, the keyed writes and the listing's cursors. Each FastAPI
    dependency costs tens of microseconds of resolution per request, so the hot routes
    take this one instead of five."""

    identity: Identity
    db: Database
    quotas: Quotas
    writes: KeyedWrites
    cursors: ListCursors

    @property
    def user_id(self) -> str:
        return self.identity.user_id


async def _task_owner(request: Request) -> TaskOwner:
    state = request.app.state
    return TaskOwner(
        await path_user(request), state.db, state.quotas, state.writes, state.list_cursors
    )


# The task routes' one dependency (/api/{user_id}/tasks…, /tags).
Owner = Annotated[TaskOwner, Depends(_task_owner)]


async def as_user(owner: TaskOwner, work: Callable[[Connection], T], *, heavy: bool = False) -> T:
    """One unit of work on a Core connection (the task operations) for the path's user, in
    their share of the database (`heavy`: in the narrower lane of expensive work): created
    on first sight, 401 for a revoked token, checked in one indexed query."""
    identity = owner.identity

    def unit(connection: Connection) -> T:
        check_user(connection, identity)
        return work(connection)

    return await owner.db.core_unit(unit, owner=identity.user_id, heavy=heavy)


async def writing_as_user(owner: TaskOwner, work: Callable[[Connection], T]) -> T:
    """as_user for a write: the user's row stays locked against deletion (PostgreSQL) until
    the unit ends, so a concurrent DELETE /api/me waits for it and removes what it wrote,
    instead of pulling the user away under it."""
    identity = owner.identity

    def unit(connection: Connection) -> T:
        check_user(connection, identity, lock=True)
        return work(connection)

    return await owner.db.core_unit(unit, owner=identity.user_id)


def json_response(
    model: BaseModel, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """Serialise a generated model once, straight to bytes."""
    return Response(
        model.model_dump_json(), status_code=status, media_type="application/json", headers=headers
    )


def json_body(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON body serialised already (inside the unit of work, see json_content)."""
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def json_content(
    content: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """Dicts already in a generated model's shape (backend.tasks.rows.row_to_api…) to JSON,
    as the model would serialise them, without validating our own output again: a fifth of a
    list request's CPU went to TaskPage validation and its dump (tests/tasks/test_shapes.py
    checks every shape against the models, and the contract test every response)."""
    return Response(
        to_json(content), status_code=status, media_type="application/json", headers=headers
    )
