# Bidbell. `make demo` and `make test` each do all their own set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test run lint typecheck check lock clean bench bench-ingest bench-match bench-quality \
	bench-send bench-latency browser-deps web serve prefect-yaml

$(STAMP): requirements-lock.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Bidbell needs Python 3.11)"; exit 2; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-lock.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

## What the browser tests (tests/web/) need besides the venv: Debian's chromium, driven by
## Playwright (Playwright's own browser download is not reachable), and axe-core from npm.
AXE_VERSION := 4.14.1
AXE := build/npm/node_modules/axe-core/axe.min.js
browser-deps:
	@command -v chromium >/dev/null || { echo "installing chromium (apt-get)"; \
		apt-get update -q && apt-get install -y -q chromium; }
	@test -f $(AXE) || npm install --silent --no-audit --no-fund --prefix build/npm \
		axe-core@$(AXE_VERSION)

## The web front on http://127.0.0.1:8000 (database: BIDBELL_DATABASE_URL).
web: install
	$(BIN)/bidbell web

## The whole pipeline once, offline: real captures from a local server, SQLite, Prefect
## local mode, a local SMTP server.
demo: install
	$(BIN)/bidbell demo

## Run it for real: every source on its schedule, digests, housekeeping, the web app
## (a Prefect server of its own unless PREFECT_API_URL is set). Ctrl-C stops it.
serve: install
	$(BIN)/bidbell init
	$(BIN)/bidbell serve

## prefect.yaml (the served deployments, for a work pool) from sources.toml.
prefect-yaml: install
	$(BIN)/python -m flows.deployments > prefect.yaml

## The whole pipeline once against the live sources (database: BIDBELL_DATABASE_URL).
run: install
	$(BIN)/bidbell init
	$(BIN)/bidbell run

## Every test; store tests run on SQLite and on PostgreSQL (BIDBELL_TEST_POSTGRES_URL,
## default postgresql://postgres@127.0.0.1:5432/test).
test: install browser-deps
	$(BIN)/python -m pytest -q -n auto --dist worksteal

## Benchmarks: one line per figure, `bench NAME: VALUE UNIT | baseline ... | target ...`.
bench: bench-ingest bench-quality bench-match bench-send bench-latency

bench-quality: install
	$(BIN)/python -m bench.quality

bench-match: install
	$(BIN)/python -m bench.match

bench-ingest: install
	$(BIN)/python -m bench.ingest

bench-send: install
	$(BIN)/python -m bench.send

bench-latency: install
	$(BIN)/python -m bench.latency

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
