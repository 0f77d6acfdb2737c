"""Strict JSON request bodies parsed into generated models.

FastAPI's own body parsing is lax ("true" → True, 0 → a date-time); the contract is not.
"""

from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from backend.errors import ApiError, unprocessable, validation_error
from generated.models import Location, ValidationErrorItem

M = TypeVar("M", bound=BaseModel)


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def parse_body(request: Request, model: type[M], *, required: bool = True) -> M | None:
    """The body as `model`; None when it is optional and absent. Call after authentication."""
    body = await request.body()  # the size-limit middleware caps this at 64 KiB
    content_type = request.headers.get("content-type")
    if not body:
        if required:
            raise unprocessable(
                [
                    ValidationErrorItem(
                        location=Location.body, pointer="", message="A JSON body is required"
                    )
                ]
            )
        return None
    if content_type is None or not _is_json(content_type):
        raise ApiError(
            415,
            f"The request body must be application/json, not {content_type or 'undeclared'}.",
        )
    try:
        return model.model_validate_json(body, strict=True)
    except ValidationError as error:
        if any(e["type"] == "json_invalid" for e in error.errors(include_input=False)):
            raise ApiError(400, "The request body is not valid UTF-8 JSON.") from None
        raise validation_error(Location.body, error) from None


def required_text(value: str | None, pointer: str) -> str:
    """A text field after normalisation (trimming); 422 when nothing visible was left."""
    if value is None:
        raise unprocessable(
            [
                ValidationErrorItem(
                    location=Location.body, pointer=pointer, message="must not be blank"
                )
            ]
        )
    return value
