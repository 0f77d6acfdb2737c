"""The opaque cursors of the task listing (`cursor` / `next_cursor`) and of the changes feed
(`since` / `cursor`): what a client hands back to continue, which it can neither read nor
forge. A cursor that is not one of ours for this user and this listing is a 422.

A listing cursor carries where the next page starts: the last task's sort key (a title, a
moment, a rank) and id, with a digest of the filters and sort it was made for. It is sealed
with AES-GCM (key derived from BETTER_AUTH_SECRET, the user id as associated data): the
key is not readable in the URL, and any change to the cursor fails authentication. What it
holds is still checked for range and type when opened.

A feed cursor is a change number with an HMAC bound to the user (readable, but unforgeable;
kept as it was so that clients' stored sync cursors stay valid).
"""

import hashlib
import hmac
import json
import os
import struct
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from backend import base64url
from backend.errors import InvalidInput
from backend.tasks import tags
from backend.tasks.query import After, ListQuery
from generated.models import Location, SortOrder, TaskSort, TaskStatusFilter

INT64_MAX = 2**63 - 1
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NONCE_BYTES = 12


def _derived_key(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret)


# --- the listing's cursors ---

_LIST_VERSION = 2  # 1: unsealed base64 JSON (refused now: it showed the key in clear)
# version, filter digest, task id, kind of key; then the key's own bytes.
_HEAD = struct.Struct(">B8sQB")
_UNDATED, _MOMENT, _RANK, _TITLE = range(4)
_MOMENT_KEY = struct.Struct(">q")  # microseconds since 1970 (negative before)
_MOMENT_SORTS = (TaskSort.created_at, TaskSort.updated_at, TaskSort.due_at)


def _digest(query: ListQuery) -> bytes:
    """What a cursor was made for: the filters and the order, not the page."""
    return _described(
        query.status,
        query.priorities,
        query.tags,
        query.q,
        query.due_before,
        query.due_after,
        query.overdue,
        query.sort,
        query.order,
    )


@lru_cache(maxsize=4096)  # most listings are one of a few shapes: hash each once
def _described(
    status: TaskStatusFilter,
    priorities: tuple[int, ...],
    tag_names: tuple[str, ...],
    q: str | None,
    due_before: datetime | None,
    due_after: datetime | None,
    overdue: bool | None,
    sort: TaskSort,
    order: SortOrder,
) -> bytes:
    described = [
        status.value,
        sorted(priorities),
        sorted(tags.key(name) for name in tag_names),
        q,
        None if due_before is None else due_before.isoformat(),
        None if due_after is None else due_after.isoformat(),
        overdue,
        sort.value,
        order.value,
    ]
    return hashlib.sha256(json.dumps(described).encode()).digest()[:8]


def _key_bytes(key: datetime | int | str | None) -> tuple[int, bytes]:
    if key is None:
        return _UNDATED, b""
    if isinstance(key, datetime):
        return _MOMENT, _MOMENT_KEY.pack((key - EPOCH) // timedelta(microseconds=1))
    if isinstance(key, int):
        return _RANK, bytes([key])
    return _TITLE, key.encode()


class ListCursors:
    def __init__(self, secret: bytes) -> None:
        self._aead = AESGCM(_derived_key(secret, b"task-api listing cursor"))

    def seal(self, owner_id: str, query: ListQuery, after: After) -> str:
        kind, key = _key_bytes(after.key)
        plain = _HEAD.pack(_LIST_VERSION, _digest(query), after.id, kind) + key
        nonce = os.urandom(_NONCE_BYTES)
        return base64url.encode(nonce + self._aead.encrypt(nonce, plain, owner_id.encode()))

    def open(self, owner_id: str, query: ListQuery, cursor: str) -> After:
        """Where the page after `cursor` starts; 422 unless it is this user's cursor of
        this listing."""
        try:
            sealed = base64url.decode(cursor)
            nonce, box = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
            plain = self._aead.decrypt(nonce, box, owner_id.encode())
            version, digest, task_id, kind = _HEAD.unpack_from(plain)
        except (ValueError, InvalidTag, struct.error):
            raise _invalid_page("is not a cursor of this listing") from None
        if version != _LIST_VERSION or not 1 <= task_id <= INT64_MAX:
            raise _invalid_page("is not a cursor of this listing")
        if digest != _digest(query):
            raise _invalid_page(
                "was made for other filters or another sort; start again without it"
            )
        return After(_key(query.sort, kind, plain[_HEAD.size :]), task_id)


def _key(sort: TaskSort, kind: int, raw: bytes) -> datetime | int | str | None:
    """The sort key a cursor carries, checked against the sort it is for (or 422)."""
    try:
        if kind == _MOMENT and sort in _MOMENT_SORTS:
            (micros,) = _MOMENT_KEY.unpack(raw)
            return EPOCH + timedelta(microseconds=micros)
        if kind == _UNDATED and sort is TaskSort.due_at and not raw:
            return None
        if kind == _RANK and sort is TaskSort.priority and len(raw) == 1 and 1 <= raw[0] <= 3:
            return raw[0]
        if kind == _TITLE and sort is TaskSort.title:
            return raw.decode()
    except (struct.error, OverflowError, UnicodeDecodeError):
        pass
    raise _invalid_page("is not a cursor of this listing")


def _invalid_page(message: str) -> InvalidInput:
    return InvalidInput.at(Location.query, "/cursor", message)


# --- the changes feed's cursors ---

_FEED_VERSION = "c1"


class FeedCursors:
    """Feed cursors: a change number, bound to their user by an HMAC (another user's
    cursor, or an edited one, is refused)."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, owner_id: str, seq: int) -> str:
        message = f"feed:{owner_id}:{seq}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:20]

    def encode(self, owner_id: str, seq: int) -> str:
        return base64url.encode(f"{_FEED_VERSION}:{seq}:{self._mac(owner_id, seq)}".encode())

    def decode(self, owner_id: str, cursor: str) -> int:
        try:
            version, number, mac = base64url.decode(cursor).decode().split(":")
            seq = int(number)
        except (ValueError, UnicodeDecodeError):
            raise _invalid_since("is not a cursor of this feed") from None
        if version != _FEED_VERSION or not 0 <= seq <= INT64_MAX or number != str(seq):
            raise _invalid_since("is not a cursor of this feed")
        if not hmac.compare_digest(mac.encode(), self._mac(owner_id, seq).encode()):
            raise _invalid_since("is not a cursor of this user's feed")
        return seq


def _invalid_since(message: str) -> InvalidInput:
    return InvalidInput.at(Location.query, "/since", message)
