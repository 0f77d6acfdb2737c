"""ASGI entry point: `uvicorn backend.main:app`. Import create_app from backend.app instead
when a test or tool needs an app of its own."""

import gc
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


# Units of work run on threads (backend.database.units) beside the event loop that serves
# every request; a thread building a long page holds the GIL for up to the switch interval
# each time the loop asks for it (5 ms by default): at 1 ms, one account's flood of long
# pages no longer multiplies everyone else's latency.
sys.setswitchinterval(0.001)
app = _app_or_exit()
# What start-up built (modules, the app, its routes and schemas: ~170,000 objects) lives as
# long as the process: out of the collector's reach, a full collection no longer walks it
# (~90 ms, a stall of every request in flight) but only what requests left behind.
gc.collect()
gc.freeze()
