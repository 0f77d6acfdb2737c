"""The one problem-details error. Every rule raises a named subclass of it (TaskNotFound,
PreconditionFailed, TokenRevoked, …) that knows its status and detail; backend.http.problems
turns any of them into an RFC 9457 response, in one place."""

from collections.abc import Mapping, Sequence
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
    """422: a parameter or the body breaks the contract; `errors` says where and why."""

    status = 422

    def __init__(self, items: Sequence[ValidationErrorItem]) -> None:
        count = len(items)
        plural = "s" if count != 1 else ""
        super().__init__(f"The request has {count} invalid input{plural}.", errors=items)

    @classmethod
    def at(cls, location: Location, pointer: str, message: str) -> "InvalidInput":
        """One invalid input."""
        return cls([ValidationErrorItem(location=location, pointer=pointer, message=message)])


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
