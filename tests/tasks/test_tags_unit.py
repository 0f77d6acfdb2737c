"""backend.tasks.tags.normalise, how a task's tags are cleaned up: no HTTP, no database (the
same rule through the API: test_fields.py, test_tags_and_stats.py)."""

import pytest

from backend.tasks.tags import key, normalise
from backend.text import TEXT_SPACES


def test_names_are_trimmed_of_the_contracts_spaces() -> None:
    assert normalise(["  work ", "\u00a0home\u3000", "\ufeffgarden\u2009"]) == (
        "garden",
        "home",
        "work",
    )


@pytest.mark.parametrize("space", list(TEXT_SPACES))
def test_every_contract_space_is_trimmed(space: str) -> None:
    assert normalise([f"{space}{space}a b{space}"]) == ("a b",)


@pytest.mark.parametrize("character", ["\x1c", "\x1d", "\x1e", "\x1f", "\u200b"])
def test_nothing_else_is_trimmed(character: str) -> None:
    # str.strip() would take U+001C to U+001F; the contract does not count them as spaces.
    assert normalise([f"{character}tag{character}"]) == (f"{character}tag{character}",)


def test_the_first_spelling_wins() -> None:
    assert normalise(["Work", "WORK", " work ", "wOrK"]) == ("Work",)
    assert normalise(["work", "Work"]) == ("work",)


def test_names_are_sorted_by_their_casefolded_key() -> None:
    names = ["  work ", "b", "Home", "WORK", "A", "home", "C", " a"]
    assert normalise(names) == ("A", "b", "C", "Home", "work")
    # By code point of the key: "ä" sorts after "z".
    assert normalise(["äpfel", "Zebra", "apple"]) == ("apple", "Zebra", "äpfel")


def test_sharp_s_and_ss_are_the_same_tag() -> None:
    assert key("Straße") == key("STRASSE") == "strasse"
    assert normalise(["Straße", "STRASSE", "strasse"]) == ("Straße",)
    assert normalise(["SS", "ß"]) == ("SS",)
    assert normalise(["ß", "ss"]) == ("ß",)
    assert normalise(["Äpfel", "äPFEL"]) == ("Äpfel",)


@pytest.mark.parametrize("names", [[""], ["  "], ["\u3000"], ["ok", " \u00a0 "], ["\ufeff", "x"]])
def test_a_blank_name_makes_the_whole_list_invalid(names: list[str]) -> None:
    assert normalise(names) is None


def test_no_names_are_no_tags() -> None:
    assert normalise([]) == ()
