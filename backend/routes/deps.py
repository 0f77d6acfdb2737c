"""What the routes depend on: the app's Services, the authenticated identity, and for the
task routes one TaskOwner (the path's user with what their units of work need). The account
routes take FastAPI dependencies (`Authenticated`, `AppServices`); the task routes take
TaskOwner through backend.http.endpoints. Each takes only the Request and is async: no
per-parameter validation, no threadpool hop."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends
from sqlalchemy import Connection
from starlette.requests import Request

from backend.identity.errors import NotYourTasks
from backend.identity.tokens import Identity, bearer_token
from backend.identity.users import UserCheck
from backend.services import Services

T = TypeVar("T")


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def _services(request: Request) -> Services:
    return services_of(request)


async def authenticate(request: Request) -> Identity:
    """The bearer token's identity. Runs before any body is read, so a request without a
    token is 401 whatever its body."""
    token = bearer_token(request.headers.get("authorization"))
    identity = await services_of(request).verifier.verify(token)
    request.state.user_id = identity.user_id  # for the request's log line
    return identity


AppServices = Annotated[Services, Depends(_services)]
# The authenticated user of /api/me…: any valid token.
Authenticated = Annotated[Identity, Depends(authenticate)]


@dataclass(frozen=True, slots=True)
class TaskOwner:
    """The path's user (the token's subject: 403 for another user's path) and the services
    their task operations use; `read` and `write` run units of work as them."""

    identity: Identity
    services: Services

    @classmethod
    async def from_request(cls, request: Request) -> "TaskOwner":
        identity = await authenticate(request)
        if request.path_params["user_id"] != identity.user_id:
            raise NotYourTasks()
        return cls(identity, services_of(request))

    @property
    def user_id(self) -> str:
        return self.identity.user_id

    async def read(self, work: Callable[[Connection, UserCheck], T], *, heavy: bool = False) -> T:
        """A read-only unit of work in the user's share (`heavy`: in the narrower lane of
        expensive work). `work` checks the user through the UserCheck it is given, folded
        into a statement it runs anyway or by a query of its own; if it did neither, the
        check runs after it (before anything it read is returned): 401 for a revoked
        token, the user created on first sight."""
        identity = self.identity

        def unit(connection: Connection) -> T:
            user = UserCheck(identity)
            result = work(connection, user)
            user.ensure(connection)
            return result

        return await self.services.db.core_unit(
            unit, owner=identity.user_id, heavy=heavy, read_only=True
        )

    async def write(self, work: Callable[[Connection, UserCheck], T]) -> T:
        """A unit of work that writes, in the user's share. `work` checks the user first
        (backend.tasks.changes: locked against the account's deletion until the unit ends)
        or folds the check into its first statement (a create)."""
        identity = self.identity

        def unit(connection: Connection) -> T:
            user = UserCheck(identity)
            result = work(connection, user)
            user.ensure(connection, lock=True)  # a unit that did not check: before commit
            return result

        return await self.services.db.core_unit(unit, owner=identity.user_id)
