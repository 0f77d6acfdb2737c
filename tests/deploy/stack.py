"""A production-shaped stack on one machine, for the deploy test and `make bench-fairness`:
nginx (round robin, X-Forwarded-For) → API replicas (`python -m backend serve`) → PgBouncer
(transaction mode, its default settings otherwise) → PostgreSQL.

PgBouncer and nginx come from Debian's packages (`make deploy-tools` installs them). Every
process is started here in the foreground and stopped by its PID, whatever happens; their
files live in a temporary folder that goes with them.
"""

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from string import Template

from sqlalchemy.engine import make_url

from backend.database.engine import normalise_url
from tests.live_server import LiveServer, backend, free_port, live_server, server_env, stop

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
STARTUP_SECONDS = 15.0
# PgBouncer will not run as root; as root (CI), it runs as the database's own system user.
POOLER_USER = "postgres"


@dataclass(frozen=True)
class Pooler:
    port: int
    pid: int
    log: Path

    def url(self, database_url: str) -> str:
        """`database_url` (a database on the PostgreSQL server) reached through the pooler."""
        direct = make_url(normalise_url(database_url))
        return direct.set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)


@dataclass(frozen=True)
class Balancer:
    url: str
    pid: int


@dataclass(frozen=True)
class Stack:
    """A running stack: the balancer's URL, the replicas (each reachable directly too), the
    pooler, and the URLs of the database directly and through the pooler."""

    balancer: Balancer
    replicas: tuple[LiveServer, ...]
    pooler: Pooler
    direct_url: str
    pooled_url: str
    secret: str


def available() -> bool:
    return os.access(PGBOUNCER, os.X_OK) and os.access(NGINX, os.X_OK)


def _as_pooler_user() -> list[str]:
    return ["runuser", "-u", POOLER_USER, "--"] if os.geteuid() == 0 else []


def _wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start listening on port {port}")
        time.sleep(0.05)


@contextmanager
def _workdir(prefix: str) -> Iterator[Path]:
    """A temporary folder the pooler's user can read and write (as root: its owner)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as name:
        folder = Path(name)
        if os.geteuid() == 0:
            account = pwd.getpwnam(POOLER_USER)
            os.chown(folder, account.pw_uid, account.pw_gid)
        yield folder


@contextmanager
def pgbouncer(database_url: str, *, serves: str = "*", **settings: str) -> Iterator[Pooler]:
    """PgBouncer in transaction mode in front of `database_url`'s server, forwarding the
    database named `serves` (every one: "*"), trust auth for the user in the URL; `settings`
    go into [pgbouncer] (e.g. default_pool_size="5"). The rest stays at PgBouncer's defaults."""
    server = make_url(normalise_url(database_url))
    port = free_port()
    with _workdir("pgbouncer_") as folder:
        users = folder / "users.txt"
        users.write_text(f'"{server.username or "postgres"}" ""\n')
        log = folder / "pgbouncer.log"
        extra = "".join(f"{name} = {value}\n" for name, value in settings.items())
        config = folder / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"{serves} = host={server.host or '127.0.0.1'} port={server.port or 5432}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {port}\n"
            f"auth_type = trust\nauth_file = {users}\n"
            "pool_mode = transaction\n"
            "unix_socket_dir =\n"
            f"logfile = {log}\n" + extra
        )
        if os.geteuid() == 0:
            account = pwd.getpwnam(POOLER_USER)
            for path in (users, config):
                os.chown(path, account.pw_uid, account.pw_gid)
        process = subprocess.Popen(
            [*_as_pooler_user(), PGBOUNCER, str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for_port(port, process, "PgBouncer")
            yield Pooler(port=port, pid=process.pid, log=log)
        finally:
            stop(process)


# $names given to safe_substitute are ours; nginx's own $variables stay as they are.
NGINX_CONF = Template("""\
pid $folder/nginx.pid;
error_log $folder/error.log warn;
worker_processes 1;
events { worker_connections 1024; }
http {
  access_log off;
$temp_paths
  upstream api {
$servers
    keepalive 16;
  }
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      add_header X-Upstream $upstream_addr always;
    }
  }
}
""")


@contextmanager
def nginx(upstream_ports: list[int]) -> Iterator[Balancer]:
    """nginx balancing round robin over the replicas on `upstream_ports`, passing the
    client's address in X-Forwarded-For and naming the replica that answered in
    X-Upstream (for tests that must see requests split)."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="nginx_") as name:
        folder = Path(name)
        servers = "".join(f"    server 127.0.0.1:{p};\n" for p in upstream_ports)
        temp_paths = "".join(
            f"  {kind}_temp_path {folder}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        config = folder / "nginx.conf"
        config.write_text(
            NGINX_CONF.safe_substitute(
                folder=folder, port=port, servers=servers, temp_paths=temp_paths
            )
        )
        process = subprocess.Popen(
            [NGINX, "-p", str(folder), "-c", str(config), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for_port(port, process, "nginx")
            yield Balancer(url=f"http://127.0.0.1:{port}", pid=process.pid)
        finally:
            stop(process)


def migrate(database_url: str, **env: str) -> None:
    """`python -m backend migrate` with this environment (as `make migrate` runs it)."""
    backend("migrate", env=server_env(database_url, **env))


@contextmanager
def stack(
    database_url: str, replicas: int = 2, *, log_dir: Path | None = None, **settings: str
) -> Iterator[Stack]:
    """PgBouncer in front of `database_url`, the schema migrated through it, `replicas` API
    servers on the pooled URL trusting the balancer's X-Forwarded-For, and nginx in front.
    `settings` are environment variables for every replica (one secret for all of them);
    with `log_dir`, replica N logs to replica-N.log there."""
    secret = secrets.token_urlsafe(48)
    with ExitStack() as running:
        pooler = running.enter_context(pgbouncer(database_url))
        pooled = pooler.url(database_url)
        env = {"BETTER_AUTH_SECRET": secret, "TRUSTED_PROXIES": "127.0.0.1", **settings}
        migrate(pooled, **env)
        servers = tuple(
            running.enter_context(
                live_server(
                    pooled,
                    migrate=False,
                    log=None if log_dir is None else log_dir / f"replica-{number}.log",
                    **env,
                )
            )
            for number in range(1, replicas + 1)
        )
        balancer = running.enter_context(nginx([server.port for server in servers]))
        yield Stack(balancer, servers, pooler, database_url, pooled, secret)
