"""`make contract-test`: Schemathesis fuzzes a live server against openapi.yaml.

Starts uvicorn on a free port against a fresh database (PostgreSQL when TEST_DATABASE_URL
is set, a temporary SQLite file otherwise), signs up an account, and runs
`schemathesis run` with schemathesis.toml, which signs in as that account through the API's
own sign-in operation (tests/contract/hooks.py keeps deleteMe from deleting it). The
server is stopped and the database dropped whatever happens (failure, Ctrl-C, SIGTERM).
Fails when Schemathesis fails or when the stateful phase did not walk every OpenAPI link
(declared, and inferred from Location headers). Reports:
reports/junit-N.xml and reports/schemathesis-N.ndjson, N counting the runs.
"""

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from types import FrameType

from tests.databases import fresh_database
from tests.live_server import ROOT, live_server

EMAIL = "contract-run@example.com"
# Hypothesis decides how many stateful scenarios a run gets (from a dozen to hundreds), so
# a run now and then leaves a rarely drawn link unwalked (list -> delete needs a non-empty
# list at the right moment). Further stateful-only runs with the next seeds walk the rest:
# the check is that every link is walked, across at most this many extra runs, each of
# which must pass all checks on its own.
EXTRA_RUNS_FOR_LINKS = 4


def _sigterm(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds the context managers below


def main(extra_args: list[str]) -> int:
    signal.signal(signal.SIGTERM, _sigterm)
    seed = int(os.environ.get("CONTRACT_SEED") or secrets.randbelow(2**31))
    print(f"contract test seed: {seed} (reproduce: CONTRACT_SEED={seed} make contract-test)")
    reports = ROOT / "reports"
    reports.mkdir(exist_ok=True)
    # Schemathesis sends thousands of sign-ups and sign-ins from one address, its own token
    # fetches among them, and fuzzes sign-ins with its own account's email: every sign-in
    # limit is raised for the run, or its token fetch gets 429 once signIn was fuzzed and
    # every later operation fails on authentication.
    limits = {
        "SIGNUP_MAX_PER_WINDOW": "1000000",
        "SIGNIN_MAX_FAILURES": "1000000",
        "SIGNIN_MAX_FAILURES_PER_DAY": "1000000",
        "SIGNIN_MAX_FAILURES_PER_CLIENT": "1000000",
        "SIGNIN_MAX_PER_CLIENT_PER_MINUTE": "1000000",
    }
    with (
        fresh_database("tasks_contract") as database_url,
        live_server(database_url, **limits) as server,
    ):
        password = secrets.token_urlsafe(24)  # unknown to Schemathesis: no password change
        user_id = _sign_up(server.url, EMAIL, password)
        # The account of the spec's signIn example, so that example signs in for real.
        _sign_up(server.url, "ada@example.com", "correct horse battery staple")
        env = {
            **os.environ,
            "ST_USER": user_id,
            "ST_EMAIL": EMAIL,
            "ST_PASSWORD": password,
            "ST_BASE_URL": server.url,
            "ST_SECRET": server.env["BETTER_AUTH_SECRET"],
        }
        walked: set[str] = set()
        selected = 0
        for attempt in range(1 + EXTRA_RUNS_FOR_LINKS):
            if attempt:
                print(
                    f"contract test: {len(walked)} of {selected} links walked so far; "
                    f"stateful phase again with seed {seed + attempt} to walk the rest"
                )
            events = reports / f"schemathesis-{attempt + 1}.ndjson"
            command = [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                "openapi.yaml",
                "--url",
                server.url,
                "--seed",
                str(seed + attempt),
                "--checks",
                "all",
                "--report",
                "junit,ndjson",
                "--report-junit-path",
                str(reports / f"junit-{attempt + 1}.xml"),
                "--report-ndjson-path",
                str(events),
                *extra_args,  # e.g. --phases stateful, for a quicker look at one phase
                *(["--phases", "stateful"] if attempt else []),
            ]
            status, output = _run_and_echo(command, env)
            if status != 0:
                return status
            links = re.search(r"API Links:\s+\d+ covered / (\d+) selected", output)
            if links is None:
                print("contract test: no stateful phase ran", file=sys.stderr)
                return 1
            selected = max(selected, int(links[1]))
            walked |= _links_walked(events)
            if len(walked) >= selected:
                break
    print(f"contract test: {len(walked)} of {selected} OpenAPI links walked")
    if len(walked) < selected:
        print("contract test: stateful testing did not walk every link", file=sys.stderr)
        return 1
    return 0


def _links_walked(events: Path) -> set[str]:
    """Links the stateful phase followed, from Schemathesis's NDJSON event report."""
    walked = set()
    for line in events.read_text().splitlines():
        finished = json.loads(line).get("ScenarioFinished")
        if not finished or finished.get("phase") != "stateful":
            continue
        for case in finished.get("recorder", {}).get("cases", {}).values():
            transition = case.get("transition")
            if transition and case.get("is_transition_applied", True):
                walked.add(transition["id"])
    return walked


def _run_and_echo(command: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run Schemathesis, streaming its output and keeping it for the link check."""
    lines = []
    with subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append(line)
    return process.returncode, "".join(lines)


def _sign_up(base_url: str, email: str, password: str) -> str:
    """The run's account: Schemathesis signs in as it (dynamic auth) and tests its tasks."""
    body = json.dumps({"email": email, "password": password, "name": "Contract test"}).encode()
    request = urllib.request.Request(  # noqa: S310  (our own local server)
        f"{base_url}/api/auth/sign-up",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return str(json.load(response)["user"]["id"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
