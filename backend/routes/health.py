"""/api/health (liveness) and /api/health/ready (database reachable)."""

from fastapi import APIRouter
from starlette.responses import Response

from backend.routes.deps import Db
from generated.models import Health, Readiness

router = APIRouter(prefix="/api/health", tags=["health"])

_ALIVE = Health(status="ok").model_dump_json()
_READY = Readiness(status="ok", database="ok").model_dump_json()


@router.get("", status_code=200)
async def health() -> Response:
    return Response(_ALIVE, media_type="application/json")


@router.get("/ready", status_code=200)
async def ready(db: Db) -> Response:
    await db.ping()  # DatabaseUnavailable → 503 problem+json
    return Response(_READY, media_type="application/json")
