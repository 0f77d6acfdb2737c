"""What every route module shares: JSON responses and the per-user unit of work."""

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic_core import to_json
from sqlalchemy import Connection
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


def json_content(
    content: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """Dicts already in a generated model's shape (backend.tasks.row_to_api…) to JSON, as the
    model would serialise them, without validating our own output again: a fifth of a list
    request's CPU went to TaskPage validation and its dump (tests/test_response_shapes.py
    checks every shape against the models, and the contract test every response)."""
    return Response(
        to_json(content), status_code=status, media_type="application/json", headers=headers
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


async def run_checked(request: Request, identity: Identity, work: Callable[[Connection], T]) -> T:
    """One unit of work on a Core connection (the task operations) for the token's user:
    created on first sight, 401 for a revoked token, checked in one indexed query."""

    def unit(connection: Connection) -> T:
        users.check_user(connection, identity)
        return work(connection)

    return await database(request).run_core(unit)
