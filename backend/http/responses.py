"""JSON responses, serialised once straight to bytes."""

from typing import Any

from pydantic import BaseModel
from pydantic_core import to_json
from starlette.responses import Response

JSON = "application/json"


def json_response(
    model: BaseModel, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A generated model."""
    return Response(model.model_dump_json(), status_code=status, media_type=JSON, headers=headers)


def json_body(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON body serialised already (inside the unit of work, within the user's share)."""
    return Response(body, status_code=status, media_type=JSON, headers=headers)


def json_content(
    content: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """Dicts already in a generated model's shape (backend.tasks.rows.row_to_api…) to JSON,
    as the model would serialise them, without validating our own output again: a fifth of a
    list request's CPU went to TaskPage validation and its dump (tests/tasks/test_shapes.py
    checks every shape against the models, and the contract test every response)."""
    return Response(to_json(content), status_code=status, media_type=JSON, headers=headers)
