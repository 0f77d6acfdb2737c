"""/api/{user_id}/tags: the user's tags with task counts."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from backend import query, tags
from backend.auth import CurrentUser
from backend.routes.common import json_response, run_checked
from generated.models import ListTagsParametersQuery, TagPage

router = APIRouter(prefix="/api/{user_id}/tags", tags=["tasks"])


@router.get("", status_code=200)
async def list_tags(request: Request, identity: CurrentUser) -> Response:
    params = query.parameters(request, ListTagsParametersQuery)
    limit, offset = params.limit, params.offset
    items, total = await run_checked(
        request, identity, lambda s: tags.list_tags(s, identity.user_id, limit, offset)
    )
    page = TagPage.model_validate(
        {"items": items, "total": total, "limit": limit, "offset": offset}
    )
    return json_response(page)
