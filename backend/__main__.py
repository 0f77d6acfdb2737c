"""Small commands: `python -m backend token --sub alice`, `python -m backend migrate`."""

import argparse
import sys

from backend.config import ConfigurationError, load_settings
from backend.db import create_db_engine
from backend.identity.tokens import TokenVerifier
from backend.migrate import upgrade


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend")
    commands = parser.add_subparsers(dest="command", required=True)
    token = commands.add_parser("token", help="print a bearer token signed with BETTER_AUTH_SECRET")
    token.add_argument("--sub", required=True, help="user id (the token's sub claim)")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    token.add_argument("--email", help="optional email claim")
    token.add_argument("--name", help="optional name claim")
    commands.add_parser("migrate", help="apply database migrations (alembic upgrade head)")
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
        create_db_engine(settings).dispose()  # creates the SQLite directory when needed
        upgrade(settings.database_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
