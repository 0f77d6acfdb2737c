"""A real browser against a live server (`make browser-test`): the generated TypeScript client
from another origin (CORS, ETag / If-Match / If-None-Match, problem+json) and Swagger UI's
"Try it out" with no network beyond the API. drive.mjs does the browsing; see its header."""

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser.helpers import NODE_BIN, REPORTS, mint_token, page_port
from tests.databases import fresh_database
from tests.live_server import ROOT, live_server

HERE = Path(__file__).resolve().parent
USER = "alice"
# The listTasks parameters Swagger UI may send untouched: their schema defaults.
LIST_DEFAULTS = {
    "status": ["all"],
    "sort": ["created_at"],
    "order": ["desc"],
    "limit": ["20"],
    "offset": ["0"],
    "include_total": ["true"],
}

# The page's tsconfig: tsc --strict and more, as tests/clients/ts/tsconfig.json.
PAGE_TSCONFIG = {
    "compilerOptions": {
        "strict": True,
        "target": "ES2022",
        "module": "ES2022",
        "moduleResolution": "Bundler",
        "lib": ["ES2022", "DOM", "DOM.Iterable"],
        "types": [],
        "outDir": "out",
        "noUnusedLocals": True,
        "noUnusedParameters": True,
        "exactOptionalPropertyTypes": True,
        "verbatimModuleSyntax": True,
        "skipLibCheck": False,
    },
    "files": ["page.ts"],
}


@pytest.fixture
def page_dir() -> Iterator[Path]:
    """page.ts compiled with types generated from openapi.yaml (openapi-typescript, default
    options) into a directory of its own under build/, where node_modules resolves."""
    (ROOT / "build").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="browser-page-", dir=ROOT / "build") as name:
        directory = Path(name)
        shutil.copy(HERE / "page.ts", directory / "page.ts")
        (directory / "tsconfig.json").write_text(json.dumps(PAGE_TSCONFIG))
        for command in (
            [
                NODE_BIN / "openapi-typescript",
                ROOT / "openapi.yaml",
                "-o",
                directory / "schema.d.ts",
            ],
            [NODE_BIN / "tsc", "-p", directory / "tsconfig.json", "--pretty", "false"],
        ):
            run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
            assert run.returncode == 0, f"{command[0]}:\n{run.stdout}{run.stderr}"
        yield directory


def test_generated_client_across_origins_and_swagger_ui_offline(page_dir: Path) -> None:
    port = page_port()
    origin = f"http://localhost:{port}"
    started = time.monotonic()
    with fresh_database() as database, live_server(database, CORS_ORIGINS=origin) as server:
        token = mint_token(server, USER)
        run = subprocess.run(
            ["node", HERE / "drive.mjs", server.url, token, USER, page_dir, str(port), REPORTS],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    print(run.stderr)  # the steps and timings (pytest shows them with -s or on failure)
    print(f"browser test: {time.monotonic() - started:.1f} s")
    assert run.returncode == 0, f"drive.mjs failed (screenshots in {REPORTS}):\n{run.stderr}"
    outcome = json.loads(run.stdout.strip().splitlines()[-1])

    # The client part: every step answered as the contract says, from another origin.
    steps = {step["name"]: step["status"] for step in outcome["client"]["steps"]}
    assert steps == {
        "create (title only)": 201,
        "create (README body)": 201,
        "list (priority, tag, q)": 200,
        "get (ETag header)": 200,
        "patch If-Match current": 200,
        "patch If-Match stale": 412,
        "get If-None-Match": 304,
        "delete If-Match": 204,
        "get after delete": 404,
    }
    # An origin the API does not list gets no answer the script could read.
    assert outcome["client"]["foreignOrigin"] == "blocked"

    docs = outcome["docs"]
    assert docs["title"].startswith("Task API")
    assert docs["aborted"] == []  # Swagger UI asked for nothing outside the API
    # listTasks with only user_id filled in: nothing but the parameters' defaults was sent,
    # with the token, and the user's task came back.
    listed = docs["listTasks"]
    assert (listed["status"], listed["shown"]) == (200, "200")
    assert listed["requestHeaders"]["authorization"] == f"Bearer {token}"
    sent = parse_qs(urlsplit(listed["url"]).query)
    extra = {name: values for name, values in sent.items() if LIST_DEFAULTS.get(name) != values}
    assert extra == {}, listed["url"]
    assert [task["id"] for task in listed["body"]["items"]] == [outcome["client"]["keptTaskId"]]
    # updateTask without touching If-Match: none sent, so no 412.
    updated = docs["updateTask"]
    assert (updated["status"], updated["shown"]) == (200, "200")
    assert "if-match" not in updated["requestHeaders"]
    assert updated["body"]["id"] == outcome["client"]["keptTaskId"]
