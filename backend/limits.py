"""Limits and patterns the contract states, read from the generated models (so from
openapi.yaml), never spelled out again: column sizes, pattern messages, tag counts."""

from typing import Any

from annotated_types import MaxLen
from pydantic import BaseModel

from generated.models import (
    IdempotencyKey,
    ListTasksParametersQuery,
    SignUpRequest,
    TagName,
    Task,
)


def _metadata(model: type[BaseModel], field: str) -> list[Any]:
    return list(model.model_fields[field].metadata)


def max_length(model: type[BaseModel], field: str) -> int:
    for item in _metadata(model, field):
        if isinstance(item, MaxLen):
            return int(item.max_length)
    raise LookupError(f"{model.__name__}.{field} has no maxLength in the contract")


def pattern(model: type[BaseModel], field: str) -> str:
    for item in _metadata(model, field):
        found = getattr(item, "pattern", None)
        if isinstance(found, str):
            return found
    raise LookupError(f"{model.__name__}.{field} has no pattern in the contract")


TITLE_MAX = max_length(Task, "title")
DESCRIPTION_MAX = max_length(Task, "description")
TAG_MAX = max_length(TagName, "root")
TAGS_PER_TASK_MAX = max_length(Task, "tags")
EMAIL_MAX = max_length(SignUpRequest, "email")
NAME_MAX = max_length(SignUpRequest, "name")
# Title, Name and TagName share it: no control character, at least one visible one.
VISIBLE_TEXT_PATTERN = pattern(Task, "title")
DESCRIPTION_PATTERN = pattern(Task, "description")
# A search text: 3 letters or digits in a row, what the trigram index can look up.
SEARCH_PATTERN = pattern(ListTasksParametersQuery, "q")
IDEMPOTENCY_KEY_MAX = max_length(IdempotencyKey, "root")
IDEMPOTENCY_KEY_PATTERN = pattern(IdempotencyKey, "root")
