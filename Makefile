# One command per job. Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run demo test test-fast check bench bench-engine bench-deep setup clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

## the main job: the exchange with the embedded defaults (SQLite, local journal) and a
## demo market, on http://127.0.0.1:8000 (API docs at /docs)
run: $(STAMP)
	$(BIN)/matchbook serve --demo --data-dir data

## the engine alone: a seeded stream of orders, then the book and the trades
demo: $(STAMP)
	$(BIN)/matchbook demo

## the whole test suite
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

## the quick loop: everything but the tests marked slow (servers, subprocesses, big runs)
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m "not slow"

## lint, type-check (mypy strict on core, journal, runtime, marketdata, store) and the
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
