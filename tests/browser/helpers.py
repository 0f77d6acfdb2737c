"""Shared by the real-browser tests (`make browser-test`): they need Chromium and
node_modules, so plain `make test` does not collect them (tests/conftest.py) unless
BROWSER_TESTS=1."""

import socket

from tests.live_server import ROOT, LiveServer, backend, free_port

NODE_BIN = ROOT / "node_modules" / ".bin"
REPORTS = ROOT / "reports" / "browser"


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def page_port() -> int:
    """3000, the Next.js default the CORS example of docs/frontends.md names, unless it is taken."""
    return 3000 if port_is_free(3000) else free_port()


def mint_token(server: LiveServer, sub: str) -> str:
    """A token for `sub` from `python -m backend token`, under the server's settings."""
    return backend("token", "--sub", sub, env=server.env).stdout.strip()
