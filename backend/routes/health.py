"""/api/health (liveness) and /api/health/ready (database reachable)."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from backend.routes.common import database
from generated.models import Health, Readiness

router = APIRouter(prefix="/api/health", tags=["health"])

_ALIVE = Health(status="ok").model_dump_json()
_READY = Readiness(status="ok", database="ok").model_dump_json()


@router.get("", status_code=200)
async def health() -> Response:
    return Response(_ALIVE, media_type="application/json")


@router.get("/ready", status_code=200)
async def ready(request: Request) -> Response:
    await database(request).ping()  # DatabaseUnavailable → 503 problem+json
    return Response(_READY, media_type="application/json")
