# Two commands matter on a bare machine: `make run` and `make test`. Both install first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# make token's subject. Not USER: the shell sets that to the login name.
SUB ?= alice
# make run (development) lets a frontend on these origins call the API from a browser,
# unless CORS_ORIGINS is set in the environment or .env; make serve allows only those.
DEV_CORS_ORIGINS ?= http://localhost:3000

.PHONY: help secret install generate check-generated migrate revision run serve token test contract-test lint typecheck format clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

# Lock files (make lock): the whole tree pinned, with sha256 hashes, for Python 3.11+.
LOCK_DEV := requirements/dev.txt
LOCK_RUNTIME := requirements/runtime.txt
PIP_INSTALL := -m pip install --quiet --disable-pip-version-check
CHECK_PYTHON := $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	{ echo "error: Python 3.11+ is required ($(PYTHON))"; exit 1; }

# Two pip calls: with --require-hashes pip refuses any requirement without a hash in the
# same call, and the project (editable, from this tree) has none.
$(STAMP): pyproject.toml $(LOCK_DEV) $(LOCK_RUNTIME)
	@$(CHECK_PYTHON)
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) $(PIP_INSTALL) --require-hashes -r $(LOCK_DEV)
	$(PY) $(PIP_INSTALL) --no-deps -e .
	@# A dependency added to pyproject.toml without `make lock` fails here, by name.
	$(PY) -m pip check
	touch $(STAMP)

install: $(STAMP) ## create .venv: the dev lock (hash-checked), then the project editable

generate: $(STAMP) ## regenerate generated/models.py from openapi.yaml
	$(BIN)/datamodel-codegen

check-generated: $(STAMP) ## fail when generated/ is stale against openapi.yaml
	$(BIN)/datamodel-codegen --check

# A new .env is readable by its owner only (umask 077): it holds the secret. Messages go to
# stderr, so `make -s token` prints the token alone even on the first run.
secret: $(STAMP)
	@if [ -z "$$BETTER_AUTH_SECRET" ] && ! grep -qs '^BETTER_AUTH_SECRET=' .env; then \
		(umask 077; echo "BETTER_AUTH_SECRET=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(48))')" >> .env); \
		echo "added a random BETTER_AUTH_SECRET to .env" >&2; \
	fi

migrate: secret ## apply database migrations to DATABASE_URL
	$(PY) -m backend migrate

revision: $(STAMP) ## new migration from model changes: make revision MSG="add x"
	$(BIN)/alembic -c backend/migrations/alembic.ini revision --autogenerate -m "$(MSG)"

# `python -m backend serve`: uvicorn with one access line per request (the app's own) and
# X-Forwarded-For believed only from TRUSTED_PROXIES (none unless configured).
run: migrate ## serve the API on http://$(HOST):$(PORT) (SQLite; CORS for http://localhost:3000)
	CORS_ORIGINS="$${CORS_ORIGINS:-$$(sed -n 's/^CORS_ORIGINS=//p' .env 2>/dev/null | tail -1)}"; \
	CORS_ORIGINS="$${CORS_ORIGINS:-$(DEV_CORS_ORIGINS)}" \
		$(PY) -m backend serve --host $(HOST) --port $(PORT)

# Production: no generated secret (configure BETTER_AUTH_SECRET), JSON logs, one access line
# per request from the app (uvicorn's own access log off), WEB_CONCURRENCY workers behind one
# port, and on SIGTERM in-flight requests finish (up to 30 s) while new connections are refused.
WEB_CONCURRENCY ?= $(shell nproc 2>/dev/null || echo 2)
METRICS_DIR ?= data/prometheus
# make serve has a venv of its own, .venv-serve, with the runtime lock only (hash-checked):
# no dev tools and nothing editable. The code is served from this tree, not installed: the
# working directory stays the tree (.env, ./data, METRICS_DIR are read relative to it, as for
# make run), and from there `python -m` and uvicorn import backend/ from it before any copy
# in site-packages, so an installed copy would be shadowed and could only go stale. The
# installed wheel is what tests/test_wheel.py serves, from outside the tree.
SERVE_VENV := .venv-serve
SERVE_BIN := $(SERVE_VENV)/bin
SERVE_STAMP := $(SERVE_VENV)/.installed

$(SERVE_STAMP): $(LOCK_RUNTIME)
	@$(CHECK_PYTHON)
	test -d $(SERVE_VENV) || $(PYTHON) -m venv $(SERVE_VENV)
	$(SERVE_BIN)/python $(PIP_INSTALL) --require-hashes -r $(LOCK_RUNTIME)
	touch $(SERVE_STAMP)

serve: $(SERVE_STAMP) ## production serving: WEB_CONCURRENCY workers, JSON logs, graceful shutdown
	$(SERVE_BIN)/python -m backend migrate
	rm -rf $(METRICS_DIR) && mkdir -p $(METRICS_DIR)
	LOG_FORMAT=json PROMETHEUS_MULTIPROC_DIR=$(METRICS_DIR) $(SERVE_BIN)/python -m backend serve \
		--host $(HOST) --port $(PORT) --workers $(WEB_CONCURRENCY) --graceful-seconds 30

# make lock: regenerate both lock files from pyproject.toml with `uv pip compile` (uv at
# UV_VERSION, installed into a throwaway venv). --universal: one file for every OS, markers
# where they differ; hashes of every wheel and sdist of each pinned version. Reproducible:
# versions already in a lock file are kept (uv prefers the output file's pins), so only
# what a pyproject change needs moves; the runtime lock is constrained by the dev lock, so
# the two never disagree. To move on: make lock LOCK_ARGS="--upgrade-package NAME" (or
# LOCK_ARGS=--upgrade for everything).
.PHONY: lock
UV_VERSION := 0.13.9
UV_COMPILE := pip compile pyproject.toml --no-config --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command "make lock" --quiet
lock: ## regenerate requirements/dev.txt and requirements/runtime.txt (uv pip compile, hashes)
	@mkdir -p requirements
	tool=$$(mktemp -d) && trap 'rm -rf "$$tool"' EXIT && \
	$(PYTHON) -m venv "$$tool" && \
	"$$tool/bin/python" $(PIP_INSTALL) uv==$(UV_VERSION) && \
	"$$tool/bin/uv" $(UV_COMPILE) --extra dev $(LOCK_ARGS) -o $(LOCK_DEV) && \
	"$$tool/bin/uv" $(UV_COMPILE) -c $(LOCK_DEV) -o $(LOCK_RUNTIME)

token: secret ## print a token for SUB (default alice): make -s token SUB=bob
	@$(PY) -m backend token --sub "$(SUB)"

test: $(STAMP) ## run the test suite (PostgreSQL when TEST_DATABASE_URL is set)
	$(BIN)/pytest $(PYTEST_ARGS)

contract-test: $(STAMP) ## Schemathesis against a live server (PostgreSQL with TEST_DATABASE_URL)
	$(PY) -m tests.contract.run_contract $(CONTRACT_ARGS)

lint: $(STAMP) ## ruff check + ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy --strict on backend/ (settings in pyproject.toml)
	$(BIN)/mypy

format: $(STAMP) ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: ## remove the virtual environment and local data
	rm -rf $(VENV) $(SERVE_VENV) data reports .pytest_cache

# --- spec lint and generated clients ---
# Node tooling (Redocly CLI, openapi-typescript, openapi-fetch, @hey-api/openapi-ts,
# TypeScript; playwright-core and better-auth for make browser-test) is pinned in
# package.json + package-lock.json and installed into node_modules/ with `npm ci`.
# Generated clients go to build/clients/ (ignored); the tests generate their own copies.
.PHONY: node-install lint-spec clients clients-ts clients-python

NODE_STAMP := node_modules/.installed
CLIENTS_DIR := build/clients
NPX := npx --no-install

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

node-install: $(NODE_STAMP) ## install the pinned Node tooling (npm ci)

# Redocly exits non-zero on errors only; its JSON totals must also show no warnings and
# nothing ignored (an ignore file would bypass the reasons kept in redocly.yaml).
REDOCLY_ZERO_TOTALS := const t = JSON.parse(require("fs").readFileSync(0, "utf8")).totals; console.log("redocly totals: " + JSON.stringify(t)); process.exit(t.errors + t.warnings + t.ignored === 0 ? 0 : 1)

lint-spec: $(STAMP) $(NODE_STAMP) ## lint openapi.yaml: spec validator, Redocly (no warnings), examples
	$(BIN)/openapi-spec-validator --schema 3.1 --validation-errors all openapi.yaml
	$(NPX) redocly lint --lint-config=error openapi.yaml
	@$(NPX) redocly lint --lint-config=error --format=json openapi.yaml 2>/dev/null \
		| node -e '$(REDOCLY_ZERO_TOTALS)'
	$(BIN)/pytest -q tests/contract/test_spec_examples.py

clients: clients-ts clients-python ## regenerate the TS and Python clients from openapi.yaml and test them

# Both TypeScript generators run with their DEFAULT options, as a frontend team runs them:
# openapi-typescript (types for openapi-fetch) and @hey-api/openapi-ts (an SDK). The examples
# (the README's request bodies among them) must compile with tsc --strict, the misuses not.
clients-ts: $(NODE_STAMP) ## TS clients (openapi-typescript, @hey-api/openapi-ts): tsc, misuse must fail
	$(NPX) openapi-typescript openapi.yaml --output $(CLIENTS_DIR)/ts/schema.d.ts
	$(NPX) openapi-ts --input openapi.yaml --output $(CLIENTS_DIR)/hey-api
	$(NPX) tsc -p tests/clients/ts --strict --noEmit
	$(NPX) tsc -p tests/clients/ts/tsconfig.hey-api.json --strict --noEmit
	node tests/clients/ts/check-misuse.mjs
	node tests/clients/ts/check-misuse.mjs misuse-hey-api.ts tsconfig.misuse-hey-api.json

clients-python: $(STAMP) ## Python client (openapi-python-client), driven against a live server
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/openapi-python-client generate --path openapi.yaml \
		--output-path $(CLIENTS_DIR)/python --overwrite --fail-on-warning \
		--config tests/clients/python/openapi-python-client.yaml
	$(BIN)/pytest -q tests/contract/test_generated_python_client.py

# --- benchmark ---
# `make bench`: req/s, p50/p99, non-2xx and server CPU per request of ours against a
# tutorial-style FastAPI floor and a raw Starlette + psycopg2 ceiling, driven by wrk on a
# fresh PostgreSQL database (created and dropped on 127.0.0.1:5432, or BENCH_PG). Table on
# stdout and in reports/bench.md. Quick smoke run: BENCH_SECONDS=3 BENCH_REPEATS=1 make bench
.PHONY: bench bench-wrk bench-data bench-queries

bench-wrk:
	@command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)

bench: $(STAMP) bench-wrk ## benchmark ours vs. floor and ceiling apps (PostgreSQL, wrk; ~23 min)
	$(PY) -m bench.run

# `make bench-data`: (re)creates bench_tasks_small (10,000 tasks) and bench_tasks_large
# (1.1 M tasks, one user with 100,000) on 127.0.0.1:5432 or BENCH_PG (names: BENCH_SMALL_DB,
# BENCH_LARGE_DB); about 2 min. `make bench-queries`: p50/p95 of every filter, sort, deep
# offset, tags and stats for a heavy and a typical user on both, then EXPLAIN ANALYZE of the
# API's statements on the large one (EXPLAIN=1: print the full plans); reports/bench-queries.md
bench-data: $(STAMP) ## create + load the small and large scale databases (COPY; ~2 min)
	$(PY) -m bench.data $(BENCH_SIZES)

bench-queries: $(STAMP) ## latency per filter/sort at small vs. large scale + EXPLAIN (needs bench-data)
	$(PY) -m bench.queries $(if $(EXPLAIN),--explain)

# `make bench-fairness`: three heavy accounts (200,000 tasks each) run expensive searches
# (2 clients each), then a 16-connection feed flood, while an ordinary user lists; idle vs
# under-attack p50/p95, served by one worker and by nginx → 2 replicas → PgBouncer (~6 min).
# `make bench-abuse`: one client floods sign-in with 16 connections while another user
# lists; idle vs flood p50, the flood's 2xx/429 per second, CPU per sign-in (~1 min).
.PHONY: bench-fairness bench-abuse bench-mcp
bench-fairness: $(STAMP) deploy-tools ## heavy accounts vs. an ordinary list: one worker, 2 replicas (PostgreSQL)
	$(PY) -m bench.fairness

bench-abuse: $(STAMP) bench-wrk ## sign-in flood vs. another user's list (PostgreSQL, wrk)
	$(PY) -m bench.abuse

# `make bench-mcp`: latency of creating a task through MCP (tools/call add_task, raw and
# through the official SDK's client) beside POST /tasks, interleaved in one run (~1 min;
# SQLite, PostgreSQL with TEST_DATABASE_URL); reports/bench-mcp.md.
bench-mcp: $(STAMP) ## tools/call add_task vs. POST /tasks latency, in one run
	$(PY) -m bench.mcp

# --- the deployment shape ---
# `make test-deploy` (tests/deploy/): nginx (round robin, X-Forwarded-For) → two replicas
# (`python -m backend serve`) → PgBouncer in transaction mode → PostgreSQL, every process
# started and stopped by the test. PgBouncer and nginx come from Debian's packages
# (`make deploy-tools`). Needs TEST_DATABASE_URL (a PostgreSQL server; the test creates and
# drops a database of its own there). About a minute.
.PHONY: deploy-tools test-deploy

deploy-tools: ## install Debian's pgbouncer and nginx (apt-get) when missing
	@command -v pgbouncer >/dev/null && command -v nginx >/dev/null || \
		DEBIAN_FRONTEND=noninteractive apt-get install -y pgbouncer nginx || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y pgbouncer nginx; }

test-deploy: $(STAMP) deploy-tools ## nginx → 2 replicas → PgBouncer → PostgreSQL (needs TEST_DATABASE_URL)
	@test -n "$$TEST_DATABASE_URL" || { echo "error: set TEST_DATABASE_URL to a PostgreSQL server"; exit 1; }
	DEPLOY_TESTS=1 $(BIN)/pytest -q tests/deploy $(PYTEST_ARGS)

# --- real-browser tests ---
# `make browser-test` (tests/browser/): Debian's Chromium, driven by playwright-core, runs the
# generated TypeScript client on a page of another origin (http://localhost:3000) against a
# live server (CORS, ETag / If-Match / If-None-Match, problem+json) and Swagger UI's "Try it
# out" on /docs with every request off 127.0.0.1/localhost aborted (no CDN); and a real Better
# Auth server (jwt() plugin defaults: EdDSA) issues tokens the API accepts. Needs node_modules
# and Chromium, so plain `make test` skips these (BROWSER_TESTS unset). About 20 s.
# Screenshots of a failure go to reports/browser/.
.PHONY: browser-test chromium
CHROMIUM := /usr/bin/chromium

chromium: ## install Debian's chromium (apt-get) when /usr/bin/chromium is missing
	@test -x $(CHROMIUM) || DEBIAN_FRONTEND=noninteractive apt-get install -y chromium \
		|| { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

browser-test: $(STAMP) $(NODE_STAMP) chromium ## real Chromium: TS client across origins, Swagger UI offline, Better Auth
	BROWSER_TESTS=1 $(BIN)/pytest -q tests/browser $(PYTEST_ARGS)
