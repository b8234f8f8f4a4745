# One command per job. Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run demo test test-fast check bench bench-engine bench-deep setup clean ui dev test-ui bench-ui

# the web UI (web/): npm ci when the lock file changed, a build when a source changed
WEB_DEPS := web/node_modules/.package-lock.json
WEB_BUILD := web/dist/index.html
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) web/index.html web/package.json \
	web/vite.config.ts web/tsconfig.json

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

$(WEB_DEPS): web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $@

$(WEB_BUILD): $(WEB_DEPS) $(WEB_SOURCES)
	cd web && npm run build

## the web UI, built into web/dist (served at / by `matchbook serve`)
ui: $(WEB_BUILD)

## the main job: the exchange with the embedded defaults (SQLite, local journal) and a
## demo market, on http://127.0.0.1:8000 (API docs at /docs)
run: $(STAMP) $(WEB_BUILD)
	$(BIN)/matchbook serve --demo --data-dir data

## Vite's dev server on :5173 (hot reload), against a backend already running on :8000
dev: $(WEB_DEPS)
	cd web && MATCHBOOK_URL=$${MATCHBOOK_URL:-http://127.0.0.1:8000} npm run dev

## the engine alone: a seeded stream of orders, then the book and the trades
demo: $(STAMP)
	$(BIN)/matchbook demo

## the whole test suite
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2
	$(MAKE) test-ui

## the web UI: typed client against the server's OpenAPI, unit tests, then Playwright
## end to end in Chromium against a real `matchbook serve` (screenshots in web/artifacts)
test-ui: $(STAMP) $(WEB_BUILD)
	cd web && npm run api:check && npm test && node scripts/bundle-size.mjs --check && npx playwright test

## the web UI's figures: time to a usable trading screen, long tasks under load
bench-ui: $(STAMP) $(WEB_BUILD)
	cd web && node scripts/bundle-size.mjs && npx playwright test --config playwright.bench.config.ts

## the quick loop: everything but the tests marked slow (servers, subprocesses, big runs)
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m "not slow"

## lint, type-check (mypy strict on core, journal, runtime, marketdata, store, api, client) and the
## import contracts of the layers (lint-imports, configured in pyproject.toml)
check: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: bench-engine

bench-engine: $(STAMP)
	$(BIN)/matchbook bench engine
	$(BIN)/matchbook bench engine --no-accounts

bench-deep: $(STAMP)
	$(BIN)/matchbook bench engine --resting 1000000 --commands 1000000

bench-journal: $(STAMP)
	$(BIN)/matchbook bench journal

## every benchmark section into one result file, compared with the committed baseline
.PHONY: bench-all
bench-all: $(STAMP)
	$(BIN)/matchbook bench all --json bench/results/latest.json
	$(BIN)/matchbook bench diff bench/results/baseline.json bench/results/latest.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache

## kill -9 a journaling engine (mode fsync) at random moments; every recovery must keep
## what was acknowledged and match a clean replay
.PHONY: crash-test
crash-test: $(STAMP)
	$(BIN)/python -m matchbook.tools.crash run --trials 50
