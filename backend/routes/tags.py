"""/api/{user_id}/tags: the user's tags with task counts."""

from typing import Annotated

from pydantic_core import to_json
from sqlalchemy import Connection
from starlette.responses import Response

from backend.http.endpoints import Endpoints, Query
from backend.http.responses import json_body
from backend.identity.users import UserCheck
from backend.routes.deps import TaskOwner
from backend.tasks import tags
from generated.models import ListTagsParametersQuery

endpoints = Endpoints("/api/{user_id}/tags")


@endpoints.get("")
async def list_tags(
    owner: TaskOwner, params: Annotated[ListTagsParametersQuery, Query]
) -> Response:
    limit, offset = params.limit, params.offset

    def page(connection: Connection, user: UserCheck) -> bytes:  # serialised within the share
        items, total = tags.list_tags(connection, user.user_id, limit, offset)
        return to_json({"items": items, "total": total, "limit": limit, "offset": offset})

    return json_body(await owner.read(page, heavy=tags.expensive(limit, offset)))
