"""The one problem-details error. Every rule raises a named subclass of it (TaskNotFound,
PreconditionFailed, TokenRevoked, …) that knows its status and detail; backend.http.problems
turns any of them into an RFC 9457 response, in one place."""

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import ClassVar

from generated.models import Location, ValidationErrorItem


class ProblemError(Exception):
    """An error a client can act on: its HTTP status, a detail for people, extra headers
    and, for 422, one entry per invalid input."""

    status: ClassVar[int] = 500
    # RFC 9457's problem type: about:blank (the status says it all) unless a subclass
    # names a more specific one that clients may branch on.
    type: ClassVar[str] = "about:blank"

    def __init__(
        self,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        errors: Sequence[ValidationErrorItem] | None = None,
        limit: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})
        self.errors = list(errors) if errors is not None else None
        self.limit = limit  # the limit a quota problem is about


class InvalidInput(ProblemError):
    """422: a parameter or the body breaks the contract; `errors` says where and why, and
    `detail` says it again in one line for a client that shows only `detail`."""

    status = 422

    def __init__(self, items: Sequence[ValidationErrorItem], *, advice: str | None = None) -> None:
        self.items = list(items)
        summary = _summary(self.items)
        super().__init__(f"{advice}. {summary}" if advice else summary, errors=self.items)

    @classmethod
    def at(cls, location: Location, pointer: str, message: str) -> "InvalidInput":
        """One invalid input."""
        return cls([ValidationErrorItem(location=location, pointer=pointer, message=message)])

    @property
    def missing(self) -> list[str]:
        """The names of the required inputs the request left out."""
        return _unique(_name(item) for item in self.items if item.message == MISSING)


# The message of a required input that is absent (backend.http.problems maps Pydantic's
# "missing" to it); the detail lists such inputs together.
MISSING = "is required"
# An input's name in `detail` is shown as sent (an unknown key too), so it is bounded and
# stripped of characters that could garble a log line or a UI: C0/C1 controls, bidi controls.
_NAME_MAX = 60
_NAMES_SHOWN = 10
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _name(item: ValidationErrorItem) -> str:
    """`/tags/2` → `tags[2]`, `/recurrence/interval` → `recurrence.interval`; `` (the whole
    body) → ``. Query parameters and headers are named as sent (`limit`, `Idempotency-Key`)."""
    if not item.pointer:
        return ""
    first, *rest = (
        part.replace("~1", "/").replace("~0", "~") for part in item.pointer[1:].split("/")
    )
    name = first + "".join(
        f"[{part}]" if part.isascii() and part.isdigit() else f".{part}" for part in rest
    )
    name = _UNSAFE.sub("\ufffd", name)
    return name if len(name) <= _NAME_MAX else name[: _NAME_MAX - 1] + "\u2026"


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_NAMES_SHOWN])
    more = len(names) - _NAMES_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def _summary(items: Sequence[ValidationErrorItem]) -> str:
    """`title: must not be blank`; `3 invalid inputs: title, priority, due_at`;
    `Missing: completed, tags`; or both, joined by `; `."""
    invalid: dict[str, list[str]] = {}
    for item in items:
        if item.message != MISSING:
            invalid.setdefault(_name(item), []).append(item.message)
    parts = []
    if len(invalid) == 1:
        [(name, messages)] = invalid.items()
        text = "; ".join(_unique(messages))
        parts.append(f"{name}: {text}" if name else text)
    elif invalid:
        parts.append(f"{len(invalid)} invalid inputs: {_listed(list(invalid))}")
    missing = _unique(_name(item) for item in items if item.message == MISSING)
    if missing:
        parts.append(f"{'missing' if parts else 'Missing'}: {_listed(missing)}")
    return "; ".join(parts)


class MalformedBody(ProblemError):
    status = 400


class UnsupportedMediaType(ProblemError):
    status = 415


class ContentTooLarge(ProblemError):
    status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"The request body exceeds {limit} bytes.")


class ServiceUnavailable(ProblemError):
    """503 with Retry-After: a dependency (database, the auth server's keys) is not there."""

    status = 503

    def __init__(self, detail: str, retry_after: int, *, reason: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})
        self.reason = reason or detail  # for the log line, never for the client
