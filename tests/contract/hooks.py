"""Schemathesis hooks for `make contract-test` (loaded through schemathesis.toml).

deleteMe deletes the account whose token it is sent with. Sent with the run's own token it
would end the run: every later request would be a correct 401. So each deleteMe that
carries the run's valid token gets a freshly signed-up throwaway account's token instead;
requests without a valid token of the run's user (the ignored_auth probes) are untouched.
So does each updateMe with a `current_password`: a wrong one (Schemathesis never knows the
right one) counts as a failed sign-in for the account's email, and five of them lock the
run's own sign-in (the token fetch) for 15 minutes: every later request would fail
authentication.

A generated If-Match almost never names the task's current ETag, so nearly every request
that carries one is a correct 412 and its body is never looked at. Three in four such
requests send `If-Match: *` instead (always matches): the body is fuzzed, and the 412 path
still is on the rest (and on the stateful link UpdateTaskIfUnchanged, with the real ETag).

Generated Idempotency-Keys repeat (Hypothesis favours short values: "0", "!"…), and a key
sent again with another request is a correct 422, a retry of an earlier request a replay
of its old answer (a task since deleted, say, which the stateful checks would take for a
resource that came back). So every well-formed key is made unique to its request: the run
tests the writes with a key; replays, 409 and 422 are tests/tasks/test_idempotency.py's.
Malformed keys go out as generated: their 422 is tested here too.
"""

import json
import os
import secrets
import urllib.request
import uuid
import zlib
from typing import Any

import schemathesis
from jose import JWTError, jwt
from pydantic import ValidationError

from generated.models import IdempotencyKey


def _is_run_token(authorization: str | None) -> bool:
    if not authorization or not authorization.startswith("Bearer "):
        return False
    try:
        claims = jwt.decode(authorization[7:], os.environ["ST_SECRET"], algorithms=["HS256"])
    except JWTError:
        return False
    return claims.get("sub") == os.environ["ST_USER"]


def _throwaway_token() -> str:
    email = f"throwaway-{secrets.token_hex(8)}@example.com"
    body = json.dumps({"email": email, "password": secrets.token_urlsafe(16), "name": "x"})
    request = urllib.request.Request(  # noqa: S310  (the local server under test)
        f"{os.environ['ST_BASE_URL']}/api/auth/sign-up",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return str(json.load(response)["access_token"])


def _well_formed(key: object) -> bool:
    try:
        IdempotencyKey.model_validate(key)
    except ValidationError:
        return False
    return True


@schemathesis.hook
def before_call(context: Any, case: Any, **kwargs: Any) -> None:
    headers = case.headers or {}
    if_match = headers.get("If-Match")
    if if_match is not None and zlib.crc32(if_match.encode("utf-8", "replace")) % 4:
        case.headers = headers = {**headers, "If-Match": "*"}
    if _well_formed(headers.get("Idempotency-Key")):
        case.headers = headers = {**headers, "Idempotency-Key": f"contract-{uuid.uuid4()}"}
    if case.operation.path != "/api/me" or not _is_run_token(headers.get("Authorization")):
        return
    method = case.operation.method.upper()
    guesses_password = isinstance(case.body, dict) and "current_password" in case.body
    if method == "DELETE" or (method == "PATCH" and guesses_password):
        case.headers = {**headers, "Authorization": f"Bearer {_throwaway_token()}"}
