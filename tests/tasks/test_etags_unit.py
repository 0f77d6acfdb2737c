"""backend.tasks.etags, the conditional request rules themselves (RFC 9110, section 13): no
HTTP, no database (the same rules through the API: test_etags.py)."""

import pytest

from backend.tasks.etags import PreconditionFailed, etag, if_match, if_none_match, require_match

CURRENT = etag(7, 3)


def test_an_etag_is_strong_and_names_the_task_and_its_version() -> None:
    assert etag(7, 3) == '"7.3"'
    assert etag(12345, 1) == '"12345.1"'
    assert etag(7, 4) != etag(7, 3)
    assert etag(7, 3) != etag(73, 1)
    assert not CURRENT.startswith("W/")


@pytest.mark.parametrize(
    "header",
    [
        '"7.3"',
        "*",
        " * ",
        '"7.2", "7.3"',
        '"7.3", "7.2"',
        '"7.2","7.3"',
        '  "7.2" ,  "7.3"  ',
        'W/"7.2", "7.3"',
        ' "7.3" ',
    ],
)
def test_if_match_names_the_current_tag(header: str) -> None:
    assert if_match(header, CURRENT)


@pytest.mark.parametrize(
    "header",
    [
        'W/"7.3"',  # weak: never matches If-Match (strong comparison)
        '"7.2", W/"7.3"',
        '"7.2"',
        '"7.30"',
        '""',
        "7.3",  # not quoted
        "",
    ],
)
def test_if_match_compares_strongly(header: str) -> None:
    assert not if_match(header, CURRENT)


@pytest.mark.parametrize(
    "header",
    [
        '"7.3" "7.2"',  # no comma between the tags
        '"7.3"; "7.2"',
        '"7.3", 7.2',
        '"7.3", junk',
        '"7.3',
        'W/ "7.3"',
        'w/"7.3"',
        '*, "7.3"',
        '"7.3", *',
    ],
)
def test_a_malformed_list_matches_nothing(header: str) -> None:
    assert not if_match(header, CURRENT)
    assert not if_none_match(header, CURRENT)


@pytest.mark.parametrize(
    "header", ['"7.3"', 'W/"7.3"', "*", '"7.2", W/"7.3"', 'W/"a",W/"7.3"', ' "7.2" , "7.3" ']
)
def test_if_none_match_compares_weakly(header: str) -> None:
    assert if_none_match(header, CURRENT)


@pytest.mark.parametrize("header", ['"7.2"', 'W/"7.2"', '"7.2", W/"7.4"', "7.3", ""])
def test_if_none_match_with_other_tags_does_not_match(header: str) -> None:
    assert not if_none_match(header, CURRENT)


@pytest.mark.parametrize("header", ['"7.3"', "*", '"7.2", "7.3"'])
def test_require_match_passes_a_matching_if_match(header: str) -> None:
    require_match(header, CURRENT, 7)


@pytest.mark.parametrize("header", ['"7.2"', 'W/"7.3"', "7.3", '"7.3" "7.2"'])
def test_require_match_refuses_a_stale_tag_with_412_and_the_current_etag(header: str) -> None:
    with pytest.raises(PreconditionFailed) as refused:
        require_match(header, CURRENT, 7)
    assert refused.value.status == 412
    assert refused.value.headers == {"ETag": CURRENT}
    assert "Task 7" in refused.value.detail
    assert CURRENT in refused.value.detail
