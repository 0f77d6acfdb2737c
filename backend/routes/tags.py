"""/api/{user_id}/tags: the user's tags with task counts."""

from fastapi import APIRouter, Request
from pydantic_core import to_json
from sqlalchemy import Connection
from starlette.responses import Response

from backend.http.query import parameters
from backend.routes.deps import Owner, as_user, json_body
from backend.tasks import tags
from generated.models import ListTagsParametersQuery

router = APIRouter(prefix="/api/{user_id}/tags", tags=["tasks"])


@router.get("", status_code=200)
async def list_tags(request: Request, owner: Owner) -> Response:
    params = parameters(request, ListTagsParametersQuery)
    limit, offset = params.limit, params.offset

    def page(connection: Connection) -> bytes:  # serialised within the user's share
        items, total = tags.list_tags(connection, owner.user_id, limit, offset)
        return to_json({"items": items, "total": total, "limit": limit, "offset": offset})

    return json_body(await as_user(owner, page, heavy=tags.expensive(limit, offset)))
