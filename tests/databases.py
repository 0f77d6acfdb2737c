"""Fresh databases of our own: a temporary SQLite file, or a new database on the
PostgreSQL server named by TEST_DATABASE_URL (dropped afterwards). Never touches a
database it did not create."""

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from backend.database.engine import normalise_url
from backend.migrate import upgrade


@contextmanager
def fresh_database(prefix: str = "tasks_test", *, migrate: bool = True) -> Iterator[str]:
    """Yield the URL of an empty (migrated) database; remove it afterwards."""
    server_url = os.environ.get("TEST_DATABASE_URL")
    if not server_url:
        with tempfile.TemporaryDirectory(prefix=f"{prefix}_") as directory:
            url = f"sqlite:///{directory}/tasks.db"
            if migrate:
                upgrade(url)
            yield url
        return
    server = make_url(normalise_url(server_url))
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = server.set(database=name).render_as_string(hide_password=False)
        if migrate:
            upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
