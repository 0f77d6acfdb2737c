"""`make contract-test`: Schemathesis fuzzes a live server against openapi.yaml.

Starts uvicorn on a free port against a fresh database (PostgreSQL when TEST_DATABASE_URL
is set, a temporary SQLite file otherwise), mints a token for a user that exists, and runs
`schemathesis run` with schemathesis.toml. The server is stopped and the database dropped
whatever happens (failure, Ctrl-C, SIGTERM). Fails when Schemathesis fails or when the
stateful phase did not walk every OpenAPI link (declared and inferred). Reports:
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

from backend.auth import TokenVerifier
from backend.config import Settings
from tests.databases import fresh_database
from tests.live_server import ROOT, live_server

USER = "contract-user"
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
    with fresh_database("tasks_contract") as database_url, live_server(database_url) as server:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            database_url=database_url,
            better_auth_secret=server.env["BETTER_AUTH_SECRET"],
        )
        token = TokenVerifier(settings).issue(USER, ttl_seconds=3600, name="Contract test")
        _create_user(server.url, token)
        env = {**os.environ, "ST_TOKEN": token, "ST_USER": USER}
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


def _create_user(base_url: str, token: str) -> None:
    """The first authenticated request creates the user record."""
    request = urllib.request.Request(  # noqa: S310  (our own local server)
        f"{base_url}/api/{USER}/tasks", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        assert json.load(response)["total"] == 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
