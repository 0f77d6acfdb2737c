"""/api/{user_id}/tags: the user's tags with task counts."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from backend.http.query import parameters
from backend.routes.deps import Owner, as_user, json_response
from backend.tasks import tags
from generated.models import ListTagsParametersQuery, TagPage

router = APIRouter(prefix="/api/{user_id}/tags", tags=["tasks"])


@router.get("", status_code=200)
async def list_tags(request: Request, owner: Owner) -> Response:
    params = parameters(request, ListTagsParametersQuery)
    limit, offset = params.limit, params.offset
    items, total = await as_user(owner, lambda c: tags.list_tags(c, owner.user_id, limit, offset))
    page = TagPage.model_validate(
        {"items": items, "total": total, "limit": limit, "offset": offset}
    )
    return json_response(page)
