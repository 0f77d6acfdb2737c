"""ASGI entry point: `uvicorn backend.main:app`. Import create_app from backend.app instead
when a test or tool needs an app of its own."""

import sys

from fastapi import FastAPI

from backend.app import create_app
from backend.config import ConfigurationError


def _app_or_exit() -> FastAPI:
    try:
        return create_app()
    except ConfigurationError as error:
        # One line naming the variable, not a traceback.
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None


app = _app_or_exit()
