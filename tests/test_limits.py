"""backend.limits: the lengths and patterns the code reads from the generated models are
the values openapi.yaml states. No HTTP, no database."""

from typing import Any

import pytest
import yaml

from backend import limits
from generated.models import Task
from tests.helpers import ROOT

SCHEMAS: dict[str, Any] = yaml.safe_load((ROOT / "openapi.yaml").read_text())["components"][
    "schemas"
]


@pytest.mark.parametrize(
    ("value", "schema", "keyword"),
    [
        (limits.TITLE_MAX, "Title", "maxLength"),
        (limits.DESCRIPTION_MAX, "Description", "maxLength"),
        (limits.TAG_MAX, "TagName", "maxLength"),
        (limits.EMAIL_MAX, "Email", "maxLength"),
        (limits.NAME_MAX, "Name", "maxLength"),
        (limits.TAGS_PER_TASK_MAX, "Tags", "maxItems"),
        (limits.VISIBLE_TEXT_PATTERN, "Title", "pattern"),
        (limits.VISIBLE_TEXT_PATTERN, "Name", "pattern"),
        (limits.VISIBLE_TEXT_PATTERN, "TagName", "pattern"),
        (limits.DESCRIPTION_PATTERN, "Description", "pattern"),
    ],
)
def test_limits_are_the_contracts(value: Any, schema: str, keyword: str) -> None:
    assert value == SCHEMAS[schema][keyword]


def test_a_field_without_the_keyword_is_an_error() -> None:
    with pytest.raises(LookupError, match="maxLength"):
        limits.max_length(Task, "id")
    with pytest.raises(LookupError, match="pattern"):
        limits.pattern(Task, "completed")
