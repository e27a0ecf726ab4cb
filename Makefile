# The two commands: `make run` and `make test`. Everything else is a helper for them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: run test install dev lint typecheck unit e2e bench bench-dns clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

dev: $(VENV)/.installed-dev
	bash scripts/install-test-deps.sh

## Start Glassbreak on its embedded defaults (pass flags with ARGS="--listen 127.0.0.1:9000").
run: install
	$(BIN)/glassbreak run $(ARGS)

## Install dev dependencies and test services, then lint, type-check and run the whole suite.
test: dev lint typecheck
	$(BIN)/pytest -q

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check proxy addons tests bench

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

unit: $(VENV)/.installed-dev
	$(BIN)/pytest -q tests/unit

e2e: dev
	$(BIN)/pytest -q tests/e2e

## Side-by-side benchmarks: direct vs bare mitmdump vs Glassbreak (not part of `make test`).
bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench.run $(ARGS)

## DNS bench: Glassbreak's DNS server vs dnslib's stock DNSServer, with dnsperf (not in `make test`).
bench-dns: dev
	$(BIN)/python -m bench.dns_run $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
