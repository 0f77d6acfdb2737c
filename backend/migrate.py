"""Apply Alembic migrations programmatically (make migrate, tests, contract test), and say
which revision a database is at (readiness)."""

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from backend.database.engine import normalise_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class MigrationError(Exception):
    """One line saying what is wrong with the database and how to fix it."""


def alembic_config(database_url: str) -> Config:
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    try:
        command.upgrade(alembic_config(database_url), revision)
    except OperationalError as error:
        raise MigrationError(_explain(database_url, error)) from None


def _explain(database_url: str, error: OperationalError) -> str:
    url = make_url(normalise_url(database_url))
    reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
    if url.get_backend_name() != "postgresql":
        return f"cannot open the database {url.database!r}: {reason}"
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    if "does not exist" in reason and url.database and f'"{url.database}"' in reason:
        user = f" -U {url.username}" if url.username else ""
        return (
            f'database "{url.database}" does not exist on {where}: create it with '
            f"`createdb -h {url.host or 'localhost'} -p {url.port or 5432}{user} {url.database}`"
        )
    return f"cannot reach the database {url.database!r} on {where} ({reason}): check DATABASE_URL"


@cache
def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None: never migrated). Plain queries: alembic's
    MigrationContext would log two lines per call."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    found = connection.execute(text("SELECT version_num FROM alembic_version")).first()
    return None if found is None else str(found[0])
