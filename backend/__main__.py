"""Small commands: `python -m backend token --sub alice`, `python -m backend migrate`,
`python -m backend serve` (uvicorn with the proxy trust TRUSTED_PROXIES says)."""

import argparse
import sys

import uvicorn

from backend.config import ConfigurationError, Settings, load_settings
from backend.database.engine import create_db_engine
from backend.http import connections
from backend.http.observability import configure_logging
from backend.identity.tokens import TokenVerifier
from backend.migrate import MigrationError, upgrade


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    """uvicorn believes X-Forwarded-For only from TRUSTED_PROXIES (uvicorn's own default
    trusts 127.0.0.1, so anything on the machine could pose as any client), and serves with
    the header timeout and connection limit of backend/http/connections.py."""
    # Configured here, not by uvicorn (log_config=None), so uvicorn's lines and the
    # start-up line below share the app's handler and format (JSON with LOG_FORMAT=json).
    configure_logging(settings.log_level, settings.log_format)
    limits = connections.plan_limits(settings, connections.raise_open_file_limit())
    connections.log_limits(settings, limits)
    trusted = settings.trusted_proxies.strip()
    uvicorn.run(
        "backend.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        http=connections.protocol_factory(args.http, limits),
        loop=connections.loop_factory(args.loop),
        backlog=limits.backlog,
        timeout_keep_alive=settings.http_keepalive_timeout_seconds,
        h11_max_incomplete_event_size=limits.h11_max_incomplete_event_size,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
        access_log=False,  # the app logs one line per request itself (backend.access)
        log_config=None,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=args.graceful_seconds,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend")
    commands = parser.add_subparsers(dest="command", required=True)
    token = commands.add_parser("token", help="print a bearer token signed with BETTER_AUTH_SECRET")
    token.add_argument("--sub", required=True, help="user id (the token's sub claim)")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    token.add_argument("--email", help="optional email claim")
    token.add_argument("--name", help="optional name claim")
    commands.add_parser("migrate", help="apply database migrations (alembic upgrade head)")
    serve = commands.add_parser("serve", help="serve the API with uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=None)
    serve.add_argument("--graceful-seconds", type=int, default=30)
    # uvicorn's choices; "auto" takes httptools and uvloop when installed (uvicorn[standard]).
    serve.add_argument("--http", choices=["auto", "httptools", "h11"], default="auto")
    serve.add_argument("--loop", choices=["auto", "uvloop", "asyncio"], default="auto")
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
    except ConfigurationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.command == "token":
        verifier = TokenVerifier(settings)
        print(verifier.issue(args.sub, ttl_seconds=args.ttl, email=args.email, name=args.name))
    elif args.command == "migrate":
        try:
            create_db_engine(settings).dispose()  # creates the SQLite file when needed
            upgrade(settings.migration_url)
        except MigrationError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        except OSError as error:  # the SQLite file's folder cannot be made
            print(f"error: cannot create the database file: {error}", file=sys.stderr)
            return 1
    elif args.command == "serve":
        _serve(settings, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
