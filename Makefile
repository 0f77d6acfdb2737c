# Two commands matter on a bare machine: `make run` and `make test`. Both install first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
USER ?= alice

.PHONY: help secret install generate check-generated migrate revision run serve token test contract-test lint format clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "error: Python 3.11+ is required ($(PYTHON))"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the pinned project with its dev extras

generate: $(STAMP) ## regenerate generated/models.py from openapi.yaml
	$(BIN)/datamodel-codegen

check-generated: $(STAMP) ## fail when generated/ is stale against openapi.yaml
	$(BIN)/datamodel-codegen --check

secret: $(STAMP)
	@if [ -z "$$BETTER_AUTH_SECRET" ] && ! grep -qs '^BETTER_AUTH_SECRET=' .env; then \
		echo "BETTER_AUTH_SECRET=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(48))')" >> .env; \
		echo "added a random BETTER_AUTH_SECRET to .env"; \
	fi

migrate: secret ## apply database migrations to DATABASE_URL
	$(PY) -m backend migrate

revision: $(STAMP) ## new migration from model changes: make revision MSG="add x"
	$(BIN)/alembic -c backend/migrations/alembic.ini revision --autogenerate -m "$(MSG)"

run: migrate ## serve the API on http://$(HOST):$(PORT) (SQLite by default)
	$(BIN)/uvicorn backend.main:app --host $(HOST) --port $(PORT)

# Production: no generated secret (configure BETTER_AUTH_SECRET), JSON logs, one access line
# per request from the app (uvicorn's own access log off), WEB_CONCURRENCY workers behind one
# port, and on SIGTERM in-flight requests finish (up to 30 s) while new connections are refused.
WEB_CONCURRENCY ?= $(shell nproc 2>/dev/null || echo 2)
METRICS_DIR ?= data/prometheus
serve: $(STAMP) ## production serving: WEB_CONCURRENCY workers, JSON logs, graceful shutdown
	$(PY) -m backend migrate
	rm -rf $(METRICS_DIR) && mkdir -p $(METRICS_DIR)
	LOG_FORMAT=json PROMETHEUS_MULTIPROC_DIR=$(METRICS_DIR) $(BIN)/uvicorn backend.main:app \
		--host $(HOST) --port $(PORT) --workers $(WEB_CONCURRENCY) --no-access-log \
		--proxy-headers --timeout-graceful-shutdown 30

token: secret ## print a token for USER (default alice): make -s token USER=bob
	@$(PY) -m backend token --sub "$(USER)"

test: $(STAMP) ## run the test suite (PostgreSQL when TEST_DATABASE_URL is set)
	$(BIN)/pytest $(PYTEST_ARGS)

contract-test: $(STAMP) ## Schemathesis against a live server (PostgreSQL with TEST_DATABASE_URL)
	$(PY) -m tests.run_contract $(CONTRACT_ARGS)

lint: $(STAMP) ## ruff check + ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: ## remove the virtual environment and local data
	rm -rf $(VENV) data reports .pytest_cache

# --- spec lint and generated clients ---
# Node tooling (Redocly CLI, openapi-typescript, openapi-fetch, TypeScript) is pinned in
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
	$(BIN)/pytest -q tests/test_spec_examples.py

clients: clients-ts clients-python ## regenerate the TS and Python clients from openapi.yaml and test them

clients-ts: $(NODE_STAMP) ## TS types (openapi-typescript), tsc on an example, misuse must not compile
	$(NPX) openapi-typescript openapi.yaml --default-non-nullable false \
		--output $(CLIENTS_DIR)/ts/schema.d.ts
	$(NPX) tsc -p tests/clients/ts --strict --noEmit
	node tests/clients/ts/check-misuse.mjs

clients-python: $(STAMP) ## Python client (openapi-python-client), driven against a live server
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/openapi-python-client generate --path openapi.yaml \
		--output-path $(CLIENTS_DIR)/python --overwrite --fail-on-warning \
		--config tests/clients/python/openapi-python-client.yaml
	$(BIN)/pytest -q tests/test_generated_python_client.py

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
