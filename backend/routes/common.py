"""What every route module shares: JSON responses and the per-user unit of work."""

from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from backend import users
from backend.auth import Identity
from backend.db import Database
from backend.models import User

T = TypeVar("T")


def json_response(
    model: BaseModel, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """Serialise a generated model once, straight to bytes."""
    return Response(
        model.model_dump_json(), status_code=status, media_type="application/json", headers=headers
    )


def database(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


async def run_as_user(
    request: Request, identity: Identity, work: Callable[[Session, User], T]
) -> T:
    """One unit of work (one threadpool hop, one transaction) for the token's user: the user
    record is created on first sight, and a revoked token is refused (401) before `work`."""

    def unit(session: Session) -> T:
        return work(session, users.ensure_user(session, identity))

    return await database(request).run(unit)


async def run_checked(request: Request, identity: Identity, work: Callable[[Session], T]) -> T:
    """run_as_user for work that needs no User object: a lighter user check."""

    def unit(session: Session) -> T:
        users.check_user(session, identity)
        return work(session)

    return await database(request).run(unit)
