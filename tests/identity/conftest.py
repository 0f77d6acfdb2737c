"""Fixtures of the identity tests: the auth server's keys and its JWKS server, and apps
that verify against it (tests/identity/jwks_support.py)."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from backend.app import create_app
from tests.helpers import make_settings
from tests.identity.jwks_support import JwksServer, Keys, MakeClient, ec_key, ed_key, rsa_key


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys(
        rsa=rsa_key("rsa-1"),
        ec=ec_key("ec-1"),
        rsa_impostor=rsa_key("rsa-1"),
        ec_impostor=ec_key("ec-1"),
        rotated=ec_key("ec-2"),
        ed=ed_key("ed-1"),
        ed_impostor=ed_key("ed-1"),
    )


@pytest.fixture
def jwks_server(keys: Keys) -> Iterator[JwksServer]:
    state = JwksServer(jwks=[keys.rsa.jwk(), keys.ec.jwk(), keys.ed.jwk()])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = state.serve()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/api/auth/jwks"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def make_client(database_url: str, jwks_server: JwksServer) -> MakeClient:
    """An app on the suite's database, verifying against the test JWKS server."""

    @contextmanager
    def _make(**overrides: Any) -> Iterator[TestClient]:
        settings = make_settings(database_url, **{"jwt_jwks_url": jwks_server.url, **overrides})
        app = create_app(settings)
        with app.state.services.db.engine.begin() as connection:
            connection.execute(text("DELETE FROM tasks"))
            connection.execute(text("DELETE FROM users"))
        try:
            with TestClient(app, raise_server_exceptions=False) as client:
                yield client
        finally:
            app.state.services.db.dispose()

    return _make
