"""/api/health (liveness) and /api/health/ready (database reachable)."""

from fastapi import APIRouter
from starlette.responses import Response

from backend.database.errors import RETRY_AFTER_SECONDS
from backend.errors import ServiceUnavailable
from backend.migrate import current_revision, head_revision
from backend.routes.deps import AppServices
from generated.models import Health, Readiness

router = APIRouter(prefix="/api/health", tags=["health"])

_ALIVE = Health(status="ok").model_dump_json()
_READY = Readiness(status="ok", database="ok").model_dump_json()


@router.get("", status_code=200)
async def health() -> Response:
    return Response(_ALIVE, media_type="application/json")


class SchemaNotCurrent(ServiceUnavailable):
    def __init__(self, current: str | None, head: str | None) -> None:
        super().__init__(
            f"The database schema is at revision {current or 'none'}, not {head}: run the "
            "migrations (make migrate).",
            RETRY_AFTER_SECONDS,
        )


@router.get("/ready", status_code=200)
async def ready(services: AppServices) -> Response:
    """Ready: the database answers (else DatabaseUnavailable → 503) and its schema is the
    one this code was written for."""
    current = await services.db.core_unit(current_revision, read_only=True)
    if current != head_revision():
        raise SchemaNotCurrent(current, head_revision())
    return Response(_READY, media_type="application/json")
