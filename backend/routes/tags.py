"""/api/{user_id}/tags: the user's tags with task counts."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from backend import tags
from backend.auth import CurrentUser
from backend.routes.common import json_response, run_checked
from generated.models import TagPage

router = APIRouter(prefix="/api/{user_id}/tags", tags=["tasks"])


@router.get("", status_code=200)
async def list_tags(
    request: Request,
    identity: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> Response:
    items, total = await run_checked(
        request, identity, lambda s: tags.list_tags(s, identity.user_id, limit, offset)
    )
    page = TagPage.model_validate(
        {"items": items, "total": total, "limit": limit, "offset": offset}
    )
    return json_response(page)
