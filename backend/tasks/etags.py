"""Entity tags of tasks and the conditional request headers (RFC 9110, section 13)."""

import re

from backend.errors import ProblemError


class PreconditionFailed(ProblemError):
    """If-Match does not name the task's current ETag: the client's copy is stale."""

    status = 412

    def __init__(self, task_id: int, current_etag: str) -> None:
        super().__init__(
            f"Task {task_id} has changed (its ETag is now {current_etag}); fetch it again "
            "and retry.",
            headers={"ETag": current_etag},
        )


# One entity tag in a list: optional weak prefix, then a quoted opaque value.
_ENTITY_TAG = re.compile(r'\s*(W/)?("[^"]*")\s*(?:,|$)')


def etag(task_id: int, version: int) -> str:
    """Strong: the version moves on every change of the stored task."""
    return f'"{task_id}.{version}"'


def _tags(header: str) -> list[tuple[bool, str]] | None:
    """(weak, opaque-tag) pairs of a header value; None for `*`; [] when malformed."""
    if header.strip() == "*":
        return None
    found: list[tuple[bool, str]] = []
    position = 0
    while position < len(header):
        match = _ENTITY_TAG.match(header, position)
        if match is None:
            return []  # a malformed list matches nothing
        found.append((match.group(1) is not None, match.group(2)))
        position = match.end()
    return found


def if_match(header: str, current: str) -> bool:
    """If-Match: strong comparison, so a weak tag never matches."""
    tags = _tags(header)
    return tags is None or any(not weak and tag == current for weak, tag in tags)


def if_none_match(header: str, current: str) -> bool:
    """True when If-None-Match names the current tag (weak comparison) or is `*`."""
    tags = _tags(header)
    return tags is None or any(tag == current for _, tag in tags)


def require_match(header: str, current: str, task_id: int) -> None:
    """412 unless If-Match names the current tag: the client's copy is stale."""
    if not if_match(header, current):
        raise PreconditionFailed(task_id, current)
