"""Schema, migrations and database faults."""

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from backend.app import create_app
from backend.database.engine import is_sqlite, normalise_url
from backend.migrate import current_revision, head_revision, upgrade
from backend.tables import include_in_autogenerate
from tests.databases import fresh_database
from tests.helpers import assert_problem, auth, count_rows, make_settings
from tests.live_server import backend, server_env


def test_migrations_match_the_models(engine: Engine) -> None:
    """After `upgrade head`, autogenerate finds nothing left to do."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "include_object": include_in_autogenerate},
        )
        assert compare_metadata(context, SQLModel.metadata) == []


def test_list_indexes_exist(engine: Engine) -> None:
    indexes = {i["name"]: i["column_names"] for i in inspect(engine).get_indexes("tasks")}
    assert indexes["ix_tasks_user_created"] == ["user_id", "created_at", "id"]
    assert indexes["ix_tasks_user_completed"] == ["user_id", "completed", "created_at", "id"]


def test_deleting_a_user_cascades_to_their_tasks(client: TestClient, engine: Engine) -> None:
    for user in ("alice", "alice", "bob"):
        client.post(f"/api/{user}/tasks", json={"title": "x"}, headers=auth(user))
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM users WHERE id = 'alice'"))
    assert count_rows(engine, "tasks", "user_id = 'alice'") == 0
    assert count_rows(engine, "tasks", "user_id = 'bob'") == 1


def test_timestamps_are_stored_and_returned_in_utc(client: TestClient) -> None:
    task = client.post("/api/alice/tasks", json={"title": "x"}, headers=auth("alice")).json()
    again = client.get(f"/api/alice/tasks/{task['id']}", headers=auth("alice")).json()
    assert again["created_at"] == task["created_at"]
    assert task["created_at"].endswith("Z")


def test_timestamps_are_utc_whatever_the_servers_time_zone(database_url: str) -> None:
    """PostgreSQL hands timestamps back in the session's time zone; every transaction of the
    API sets UTC for itself (SET LOCAL, pooler-safe), so no server default shows through."""
    if is_sqlite(database_url):
        pytest.skip("a PostgreSQL session setting: runs with TEST_DATABASE_URL")
    with fresh_database("tasks_zone") as url:
        name = make_url(normalise_url(url)).database
        admin = create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"ALTER DATABASE \"{name}\" SET timezone = 'Asia/Kolkata'"))
        admin.dispose()
        app = create_app(make_settings(url))
        with TestClient(app) as own:
            task = own.post("/api/zoe/tasks", json={"title": "x"}, headers=auth("zoe")).json()
            listed = own.get("/api/zoe/tasks", headers=auth("zoe")).json()["items"][0]
            fetched = own.get(f"/api/zoe/tasks/{task['id']}", headers=auth("zoe")).json()
        for answer in (task, listed, fetched):
            assert answer["created_at"].endswith("Z"), answer
            assert answer["created_at"] == task["created_at"]


def test_unreachable_database_is_a_quick_503() -> None:
    # Nothing listens on port 1: connection refused, immediately.
    settings = make_settings("postgresql://postgres@127.0.0.1:1/none", db_pool_timeout=2)
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        started = time.monotonic()
        for path in ("/api/alice/tasks", "/api/health/ready"):
            headers = auth("alice")
            response = client.get(path, headers=headers)
            assert_problem(response, 503)
            assert response.headers["retry-after"] == "5"
        response = client.post("/api/alice/tasks", json={"title": "x"}, headers=auth("alice"))
        assert_problem(response, 503)
        assert time.monotonic() - started < 10
        assert client.get("/api/health").status_code == 200  # liveness does not need it
    app.state.services.db.dispose()


class _Proxy:
    """A TCP proxy to the database that can be cut and restored, to play an outage."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up = False
        for connection in self.connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self.connections.clear()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture
def proxied_url(database_url: str) -> Iterator[tuple[str, _Proxy]]:
    if is_sqlite(database_url):
        pytest.skip("an outage needs a database server: runs with TEST_DATABASE_URL (CI)")
    url = make_url(normalise_url(database_url))
    proxy = _Proxy((url.host or "127.0.0.1", url.port or 5432))
    yield url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False), proxy
    proxy.close()


def test_service_recovers_by_itself_after_a_database_outage(
    client: TestClient, proxied_url: tuple[str, _Proxy]
) -> None:
    url, proxy = proxied_url
    app = create_app(make_settings(url, db_pool_timeout=2, db_connect_timeout=2))
    with TestClient(app, raise_server_exceptions=False) as proxied:
        headers = auth("alice")
        created = proxied.post("/api/alice/tasks", json={"title": "before"}, headers=headers)
        assert created.status_code == 201

        proxy.cut()
        started = time.monotonic()
        assert_problem(proxied.get("/api/alice/tasks", headers=headers), 503)
        assert_problem(proxied.get("/api/health/ready"), 503)
        assert time.monotonic() - started < 10

        proxy.restore()
        response = proxied.get("/api/alice/tasks", headers=headers)
        assert response.status_code == 200
        assert [t["title"] for t in response.json()["items"]] == ["before"]
        assert proxied.get("/api/health/ready").status_code == 200
    app.state.services.db.dispose()


def test_migration_0003_keeps_existing_tasks() -> None:
    """Tasks stored before revision 0003 come out with the new fields' defaults, a completed
    one with completed_at = its last change, and ids are still never reused."""
    with fresh_database("tasks_upgrade", migrate=False) as url:
        upgrade(url, "0002")
        engine = create_engine(normalise_url(url))
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO users (id, created_at) VALUES ('alice', :at)"),
                {"at": "2026-11-01T09:00:00+00:00"},
            )
            for title, completed in (("old pending", False), ("old done", True)):
                connection.execute(
                    text(
                        "INSERT INTO tasks (user_id, title, completed, created_at, updated_at)"
                        " VALUES ('alice', :title, :completed, :created, :updated)"
                    ),
                    {
                        "title": title,
                        "completed": completed,
                        "created": "2026-11-01T09:00:00+00:00",
                        "updated": "2026-11-02T10:00:00+00:00",
                    },
                )
        engine.dispose()
        upgrade(url)
        app = create_app(make_settings(url))
        with TestClient(app) as client:
            items = client.get(
                "/api/alice/tasks", params={"sort": "title", "order": "asc"}, headers=auth()
            ).json()["items"]
            done, pending = items
            assert (done["title"], pending["title"]) == ("old done", "old pending")
            for task in items:
                assert task["priority"] == "medium"
                assert task["tags"] == []
                assert task["due_at"] is None
                assert task["recurrence"] is None
                assert task["etag"] == f'"{task["id"]}.1"'
            assert done["completed_at"] == done["updated_at"] == "2026-11-02T10:00:00Z"
            assert pending["completed_at"] is None
            newest = max(task["id"] for task in items)
            client.delete(f"/api/alice/tasks/{newest}", headers=auth())
            created = client.post("/api/alice/tasks", json={"title": "new"}, headers=auth())
            assert created.json()["id"] > newest
        app.state.services.db.dispose()


def test_migrations_use_direct_url_when_set() -> None:
    """DATABASE_URL may be a transaction-mode pooler: with DIRECT_URL set, `make migrate`
    runs on that one (here DATABASE_URL leads nowhere, so only DIRECT_URL can work)."""
    with fresh_database("tasks_direct", migrate=False) as direct:
        env = server_env("postgresql://postgres@127.0.0.1:1/nowhere", DIRECT_URL=direct)
        backend("migrate", env=env)
        engine = create_engine(normalise_url(direct))
        try:
            with engine.connect() as connection:
                assert current_revision(connection) == head_revision()
        finally:
            engine.dispose()
