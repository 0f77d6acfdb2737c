"""backend.text: TEXT_SPACES is exactly the set of characters the contract's Title pattern
treats as spaces, derived from the pattern in the generated models. No HTTP, no database."""

import re

import pytest
from pydantic import BaseModel

from backend.text import TEXT_SPACES, trimmed
from generated.models import SignUpRequest, TagName, TaskCreate

BMP = [chr(code) for code in range(0x10000)]


def _pattern(model: type[BaseModel], field: str) -> str:
    (found,) = [m.pattern for m in model.model_fields[field].metadata if hasattr(m, "pattern")]
    return str(found)


TITLE_PATTERN = _pattern(TaskCreate, "title")


def _contract_spaces(pattern: str) -> set[str]:
    """Characters that cannot stand alone but can follow a visible one: spaces. A control
    character can do neither."""
    return {c for c in BMP if re.fullmatch(pattern, c) is None and re.fullmatch(pattern, "x" + c)}


def _contract_controls(pattern: str) -> set[str]:
    return {c for c in BMP if re.fullmatch(pattern, "x" + c) is None}


def test_text_spaces_are_exactly_the_titles_spaces() -> None:
    assert len(TEXT_SPACES) == len(set(TEXT_SPACES))
    assert set(TEXT_SPACES) == _contract_spaces(TITLE_PATTERN)


def test_no_control_character_is_a_space() -> None:
    controls = _contract_controls(TITLE_PATTERN)
    assert controls == {chr(code) for code in range(0x20)} | {"\x7f"}
    assert not controls & set(TEXT_SPACES)


def test_names_and_tag_names_share_the_titles_pattern() -> None:
    assert _pattern(SignUpRequest, "name") == TITLE_PATTERN
    assert _pattern(TagName, "root") == TITLE_PATTERN


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  Buy milk ", "Buy milk"),
        ("\u00a0\u3000 Buy milk \u2009\ufeff", "Buy milk"),
        ("a \u3000 b", "a \u3000 b"),  # inner spaces stay
        ("\x1fx\x1c", "\x1fx\x1c"),  # control characters are not spaces
        ("\u200bx", "\u200bx"),  # a zero width space is not one of the contract's spaces
        ("", None),
        (" \u0085\u2028 ", None),
        (TEXT_SPACES, None),
    ],
)
def test_trimmed(text: str, expected: str | None) -> None:
    assert trimmed(text) == expected
