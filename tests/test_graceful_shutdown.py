"""SIGTERM: the request in flight gets its answer, new connections are refused."""

import os
import signal
import socket
import time
from pathlib import Path

from tests.live_server import live_server


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def test_request_in_flight_during_sigterm_gets_its_response(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path}/graceful.db"
    with live_server(database_url) as server:
        token = server.token("alice")
        body = b'{"title": "written during shutdown"}'
        in_flight = _connect(server.port)
        # Headers and half the body: the request has started but cannot finish yet.
        in_flight.sendall(
            b"POST /api/alice/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Authorization: Bearer {token}\r\n".encode()
            + b"Content-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:10]
        )
        time.sleep(0.5)
        os.kill(server.pid, signal.SIGTERM)
        time.sleep(1.0)  # the server stops listening
        refused = False
        try:
            _connect(server.port).close()
        except OSError:
            refused = True
        assert refused, "a new connection was accepted after SIGTERM"

        in_flight.sendall(body[10:])
        response = b""
        while b"\r\n\r\n" not in response or not response.rstrip().endswith(b"}"):
            chunk = in_flight.recv(65536)
            if not chunk:
                break
            response += chunk
        in_flight.close()
        assert response.startswith(b"HTTP/1.1 201 "), response
        assert b"written during shutdown" in response
