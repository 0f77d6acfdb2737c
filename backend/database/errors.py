"""What goes wrong with the database, as named problems: unreachable (and why, when a
pooler refuses), a statement past its timeout, a task that keeps changing, no connection
free in time; and the translation of driver errors into them."""

from sqlalchemy import exc

from backend.errors import ServiceUnavailable

RETRY_AFTER_SECONDS = 5


class StaleRow(Exception):
    """A row changed between this unit of work's read and its conditional write."""


# What a connection pooler's refusals mean, for the log line (PgBouncer's wording; Neon's
# pooled endpoint and Supavisor say the same things).
POOLER_HINTS = (
    (
        "unsupported startup parameter",
        "a transaction-mode pooler refuses startup parameters: remove `options` from the URL",
    ),
    ("no such database", "the pooler does not serve this database name: check the pooled URL"),
    (
        "no more connections allowed",
        "the pooler's max_client_conn is reached: raise it, or lower (DB_POOL_SIZE + "
        "DB_MAX_OVERFLOW) * workers * replicas",
    ),
    (
        "query_wait_timeout",
        "the pooler found no free server connection in time: its default_pool_size is "
        "smaller than what the replicas use at once",
    ),
    ("pgbouncer cannot connect to server", "the pooler cannot reach PostgreSQL behind it"),
)


def pooler_hint(reason: str) -> str:
    """What a pooler's refusal in `reason` means, or "" when it is not one."""
    lowered = reason.lower()
    return next((f" ({hint})" for marker, hint in POOLER_HINTS if marker in lowered), "")


class DatabaseUnavailable(ServiceUnavailable):
    """The database could not be reached (or did not answer in time)."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            "The database is unavailable; retry later.",
            RETRY_AFTER_SECONDS,
            reason=f"database unavailable: {reason}{pooler_hint(reason)}",
        )


STALE_ATTEMPTS = 8  # runs of a unit of work that lost a race (SQLite), then Busy
QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement_timeout


class QueryTimeout(ServiceUnavailable):
    """A statement ran into DB_STATEMENT_TIMEOUT_MS: this request asked too much, the
    database is fine."""

    type = "urn:task-api:problem:query-timeout"

    def __init__(self) -> None:
        super().__init__(
            "The request took too long and was stopped; narrow it (a longer search text, "
            "fewer filters at once) or retry later.",
            RETRY_AFTER_SECONDS,
            reason="statement timeout: a query ran longer than DB_STATEMENT_TIMEOUT_MS",
        )


class Busy(ServiceUnavailable):
    """A task kept changing under this request's writes (SQLite: no row locks)."""

    def __init__(self) -> None:
        super().__init__(
            "The task is being changed by other requests at this moment; retry.",
            1,
            reason=f"a task changed under {STALE_ATTEMPTS} attempts in a row",
        )


# Errors that mean "the database is not there right now", as opposed to a bug.
_UNAVAILABLE = (exc.OperationalError, exc.InterfaceError, exc.TimeoutError)


def problem_for(error: exc.SQLAlchemyError) -> ServiceUnavailable | None:
    """The problem a driver or pool error means for the request, or None for a bug (a
    constraint, SQL that should not have been sent): that one is raised as it is."""
    if isinstance(error, _UNAVAILABLE):
        if _sqlstate(error) == QUERY_CANCELED:
            return QueryTimeout()
        return DatabaseUnavailable(str(error).splitlines()[0])
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        # The connection broke, whatever the driver calls it.
        return DatabaseUnavailable(str(error).splitlines()[0])
    return None


def _sqlstate(error: Exception) -> str | None:
    """The SQLSTATE of a driver error: psycopg2 calls it pgcode, psycopg 3 sqlstate."""
    orig = getattr(error, "orig", None)
    code = getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)
    return code if isinstance(code, str) else None


class ServiceBusy(ServiceUnavailable):
    """Every connection of this worker stayed taken until the request's deadline."""

    def __init__(self, seconds: float | None) -> None:
        super().__init__(
            "The service is too busy to take this request now; retry later.",
            RETRY_AFTER_SECONDS,
            reason=f"no database connection came free within {seconds} s",
        )
