"""Listing cursors: where a keyset page starts, opaque to clients. A cursor carries the
last task's sort key and id and a digest of the filters and sort it was made for, so one
made for other filters is refused rather than silently paging something else."""

import base64
import binascii
import hashlib
import json
from datetime import datetime
from typing import cast

from backend.errors import InvalidInput
from backend.tasks.listing import After, ListQuery
from backend.tasks.tags import key as tag_key
from generated.models import Location, TaskSort

_VERSION = 1


def _digest(query: ListQuery) -> str:
    described = [
        query.status.value,
        sorted(query.priorities),
        sorted(tag_key(name) for name in query.tags),
        query.q,
        None if query.due_before is None else query.due_before.isoformat(),
        None if query.due_after is None else query.due_after.isoformat(),
        query.overdue,
        query.sort.value,
        query.order.value,
    ]
    return hashlib.sha256(json.dumps(described).encode()).hexdigest()[:16]


def encode(query: ListQuery, after: After) -> str:
    key = after.key.isoformat() if isinstance(after.key, datetime) else after.key
    text = json.dumps([_VERSION, _digest(query), key, after.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(query: ListQuery, cursor: str) -> After:
    """The cursor's start, or 422 when it is not a cursor for this listing."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, digest, key, task_id = json.loads(text)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise _invalid("is not a cursor of this listing") from None
    if version != _VERSION or not isinstance(task_id, int) or isinstance(task_id, bool):
        raise _invalid("is not a cursor of this listing")
    if digest != _digest(query):
        raise _invalid("was made for other filters or another sort; start again without it")
    return After(_key(query.sort, key), task_id)


def _key(sort: TaskSort, key: object) -> datetime | int | str | None:
    """The sort key a cursor carries, of the sort's type (or 422)."""
    if sort is TaskSort.priority:
        valid = isinstance(key, int) and not isinstance(key, bool)
    elif sort is TaskSort.title:
        valid = isinstance(key, str)
    elif key is None:
        valid = sort is TaskSort.due_at  # an undated task
    else:
        return _moment(key)
    if not valid:
        raise _invalid("is not a cursor of this listing")
    return cast(int | str | None, key)  # checked just above


def _moment(key: object) -> datetime:
    try:
        return datetime.fromisoformat(str(key))
    except ValueError:
        raise _invalid("is not a cursor of this listing") from None


def _invalid(message: str) -> InvalidInput:
    return InvalidInput.at(Location.query, "/cursor", message)
