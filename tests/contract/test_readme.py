"""The curl walkthrough of the README and the docs it goes on in, run verbatim against a
live server.

Every ```sh block between walkthrough markers (several sections may carry them) runs, in
order, in one bash session;
the ```http block after a command documents its answer, whose status line (and ETag, where
it shows one) must match.
A documented problem+json answer's `detail` must match too.
The server listens on a free port; `localhost:8000` in the commands is pointed at it.
"""

import json
import re
import subprocess
from pathlib import Path

from tests.live_server import ROOT, live_server

# The walkthrough starts in the README and goes on in the docs it links, in this order.
WALKTHROUGH = [
    ROOT / name for name in ("README.md", "docs/tasks.md", "docs/sync.md", "docs/security.md")
]
MARKER = "__walkthrough_step__"


def walkthrough() -> list[tuple[str, str | None]]:
    """(command block, documented answer or None) in the order of WALKTHROUGH."""
    sections = []
    for page in WALKTHROUGH:
        found = re.findall(
            r"<!-- walkthrough -->(.*?)<!-- /walkthrough -->", page.read_text(), flags=re.DOTALL
        )
        assert found, f"no walkthrough section in {page.relative_to(ROOT)}"
        sections += found
    blocks = re.findall(r"```(sh|http)\n(.*?)```", "".join(sections), flags=re.DOTALL)
    steps: list[tuple[str, str | None]] = []
    for language, body in blocks:
        if language == "sh":
            steps.append((body, None))
        else:
            assert steps, "a response block before any command"
            assert steps[-1][1] is None, "two response blocks for one command"
            steps[-1] = (steps[-1][0], body)
    return steps


def _header(answer: str, name: str) -> str | None:
    for line in answer.splitlines():
        if line.lower().startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    return None


def _detail(answer: str) -> str:
    """The `detail` of the problem+json body that ends an HTTP answer."""
    body = answer.replace("\r", "").strip().splitlines()[-1]
    detail: str = json.loads(body)["detail"]
    return detail


def test_walkthrough_is_well_formed() -> None:
    steps = walkthrough()
    assert len(steps) >= 10
    commands = "\n".join(command for command, _ in steps)
    for operation in (
        "-X POST",
        "-X PATCH",
        "-X PUT",
        "-X DELETE",
        "/complete",
        "?status=",
        "/api/auth/sign-in",
        "/api/me",
    ):
        assert operation in commands


def test_walkthrough_runs_verbatim(tmp_path: Path) -> None:
    steps = walkthrough()
    with live_server(f"sqlite:///{tmp_path}/readme.db") as server:
        # Verbatim but for the port: 8000 may be taken where the tests run.
        script = "set -euo pipefail\n" + "".join(
            f"{command}\necho {MARKER}\n".replace("localhost:8000", f"localhost:{server.port}")
            for command, _ in steps
        )
        result = subprocess.run(
            ["bash", "-c", script],
            cwd=ROOT,
            env=server.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    outputs = result.stdout.split(MARKER + "\n")[: len(steps)]
    assert len(outputs) == len(steps)
    for (command, documented), output in zip(steps, outputs, strict=True):
        if documented is None:
            continue
        status_lines = [line for line in output.splitlines() if line.startswith("HTTP/")]
        assert status_lines, command
        assert status_lines[0].strip() == documented.splitlines()[0].strip(), (command, output)
        etag = _header(documented, "etag")
        if etag is not None:  # ids and versions are the same in every fresh run
            assert _header(output.replace("\r", ""), "etag") == etag, (command, output)
        if _header(documented, "content-type") == "application/problem+json":
            # A problem's detail is what a client shows: the README quotes it as it is.
            assert _detail(output) == _detail(documented), (command, output)
