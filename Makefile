# One command per job. Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the compiled core (setup.py's CORE_MODULES): rebuilt in place whenever a core source
# changed, so an edited module never runs as its old extension (the import-time check in
# matchbook/__init__.py would then run it interpreted, with a warning)
CORE_SOURCES := $(wildcard src/matchbook/core/*.py src/matchbook/core/*.pxd) setup.py
CORE_BUILT := $(VENV)/.core-built
READY := $(STAMP) $(CORE_BUILT)
# the core's tests that CI also runs on the interpreted build (MATCHBOOK_PURE_PYTHON=1);
# the P2P machine's long walks are left to `make test`: the P2P desk is interpreted code
# in both builds (only matching.py is compiled), and its short machine runs here
PURE_TESTS := tests/property tests/core/test_fast_path.py tests/core/test_p2p_machine.py \
	tests/build/test_compat_fixture.py tests/bench/test_engine_bench.py
PURE_SKIP := --deselect tests/core/test_p2p_machine.py::test_long_random_walks \
	--deselect tests/core/test_p2p_machine.py::test_p2p_machine_deep
# two workers; an idle one takes queued tests from the busy one (no long tail of one
# worker running the last slow tests alone)
XDIST := -n 2 --dist worksteal

.PHONY: run demo test test-fast test-pure check bench bench-engine bench-builds bench-deep setup clean \
	clean-core ui dev test-ui bench-ui

# the web UI (web/): npm ci when the lock file changed, a build when a source changed
WEB_DEPS := web/node_modules/.package-lock.json
WEB_BUILD := web/dist/index.html
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) web/index.html web/package.json \
	web/vite.config.ts web/tsconfig.json

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# compiled where a C compiler works, else interpreted (setup.py warns); MATCHBOOK_BUILD=pure
# builds no extension
$(CORE_BUILT): $(STAMP) $(CORE_SOURCES)
	$(BIN)/python setup.py --quiet build_ext --inplace --parallel 2
	$(BIN)/python -c "import matchbook; print('matchbook core:', matchbook.build_info()['label'])"
	touch $(CORE_BUILT)

## the virtual environment with the package installed editable, the core compiled
setup: $(READY)

$(WEB_DEPS): web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $@

$(WEB_BUILD): $(WEB_DEPS) $(WEB_SOURCES)
	cd web && npm run build

## the web UI, built into web/dist (served at / by `matchbook serve`)
ui: $(WEB_BUILD)

## the main job: the exchange with the embedded defaults (SQLite, local journal) and a
## demo market, on http://127.0.0.1:8000 (API docs at /docs)
run: $(READY) $(WEB_BUILD)
	$(BIN)/matchbook serve --demo --data-dir data

## Vite's dev server on :5173 (hot reload), against a backend already running on :8000
dev: $(WEB_DEPS)
	cd web && MATCHBOOK_URL=$${MATCHBOOK_URL:-http://127.0.0.1:8000} npm run dev

## the engine alone: a seeded stream of orders, then the book and the trades
demo: $(READY)
	$(BIN)/matchbook demo

## the whole test suite (on the compiled core), then the core's own tests again on the
## interpreted one and, at the same time, the web UI's (the browser tests mostly wait on
## the page and the server: they leave the cores to the interpreted run); each target's
## output is printed whole when it ends
test: $(READY)
	$(BIN)/python -m pytest -q $(XDIST)
	$(MAKE) -j2 --output-sync=target test-pure test-ui

## the core's differential, stateful, fast-path and compatibility tests on the interpreted
## build (the same .py files, MATCHBOOK_PURE_PYTHON=1)
test-pure: $(READY)
	MATCHBOOK_PURE_PYTHON=1 $(BIN)/python -m pytest -q $(XDIST) $(PURE_TESTS) $(PURE_SKIP)

## the web UI: typed client against the server's OpenAPI, unit tests, then Playwright
## end to end in Chromium against a real `matchbook serve` (screenshots in web/artifacts)
test-ui: $(READY) $(WEB_BUILD)
	cd web && npm run api:check && npm test && node scripts/bundle-size.mjs --check && npx playwright test

## the web UI's figures: time to a usable trading screen, long tasks under load
bench-ui: $(READY) $(WEB_BUILD)
	cd web && node scripts/bundle-size.mjs && npx playwright test --config playwright.bench.config.ts

## the quick loop: everything but the tests marked slow (servers, subprocesses, big runs)
test-fast: $(READY)
	$(BIN)/python -m pytest -q $(XDIST) -m "not slow"

## lint, type-check (mypy strict on core, journal, runtime, marketdata, store, api, client) and the
## import contracts of the layers (lint-imports, configured in pyproject.toml); reads the
## sources only, so `make -j2 check setup` checks while the core compiles
check: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: bench-engine

bench-engine: $(READY)
	$(BIN)/matchbook bench engine
	$(BIN)/matchbook bench engine --no-accounts

## the compiled and the interpreted core on the same stream, taking turns in one run
bench-builds: $(READY)
	$(BIN)/matchbook bench engine --build compiled,pure
	$(BIN)/matchbook bench engine --build compiled,pure --no-accounts

bench-deep: $(READY)
	$(BIN)/matchbook bench engine --resting 1000000 --commands 1000000

bench-journal: $(READY)
	$(BIN)/matchbook bench journal

## every benchmark section into one result file, compared with the committed baseline
.PHONY: bench-all
bench-all: $(READY)
	$(BIN)/matchbook bench all --json bench/results/latest.json
	$(BIN)/matchbook bench diff bench/results/baseline.json bench/results/latest.json

clean: clean-core
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache

## remove the compiled core (the next `make setup` builds it again)
clean-core:
	rm -rf build src/matchbook/core/*.so src/matchbook/core/*.c src/matchbook/core/_compiled.json \
		$(CORE_BUILT)

## kill -9 a journaling engine (mode fsync) at random moments; every recovery must keep
## what was acknowledged and match a clean replay
.PHONY: crash-test
crash-test: $(READY)
	$(BIN)/python -m matchbook.tools.crash run --trials 50
