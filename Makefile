# Bidbell. `make demo` and `make test` each do all their own set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test run lint typecheck check lock clean bench bench-ingest bench-match bench-quality

$(STAMP): requirements-lock.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Bidbell needs Python 3.11)"; exit 2; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-lock.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

## The whole pipeline once, offline: real captures from a local server, SQLite, Prefect
## local mode, a local SMTP server.
demo: install
	$(BIN)/bidbell demo

## The whole pipeline once against the live sources (database: BIDBELL_DATABASE_URL).
run: install
	$(BIN)/bidbell init
	$(BIN)/bidbell run

## Every test; store tests run on SQLite and on PostgreSQL (BIDBELL_TEST_POSTGRES_URL,
## default postgresql://postgres@127.0.0.1:5432/test).
test: install
	$(BIN)/python -m pytest -q

## Benchmarks: one line per figure, `bench NAME: VALUE UNIT | baseline ... | target ...`.
bench: bench-ingest bench-quality bench-match

bench-quality: install
	$(BIN)/python -m bench.quality

bench-match: install
	$(BIN)/python -m bench.match

bench-ingest: install
	$(BIN)/python -m bench.ingest

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy bidbell spiders models matching notifiers flows cli demo web

check: lint typecheck test

## Re-resolve the lock file from pyproject.toml (needs pip-tools).
lock: install
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile -q --extra dev --strip-extras --no-emit-index-url --no-emit-find-links \
		-o requirements-lock.txt pyproject.toml

clean:
	rm -rf var/demo .pytest_cache .mypy_cache .ruff_cache
