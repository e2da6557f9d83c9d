# POMS — the two commands a new user needs are `make run` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
SRC := shared services tests bench

.PHONY: run up test lint unit integration e2e bench venv clean services

$(VENV)/.installed: pyproject.toml
	@command -v uv >/dev/null 2>&1 || python3 -m pip install -q uv
	@[ -x $(PY) ] || uv venv -q $(VENV)
	VIRTUAL_ENV=$(VENV) uv pip install -q -e ".[dev]"
	@touch $@

venv: $(VENV)/.installed

## run: the whole system in one process (SQLite, in-process bus, local batch) on :8080
run: venv
	POMS_MODE=embedded $(BIN)/poms-run

## up: distributed mode — four processes over the local RabbitMQ and PostgreSQL
## (on loopback, with the development login; real deployments use deploy/)
up: venv
	deploy/ensure-services.sh
	POMS_DEV_USER=$${POMS_DEV_USER-poms} $(PY) -m poms_shared.runtime.distributed

services:
	deploy/ensure-services.sh

lint: venv
	$(BIN)/ruff check $(SRC)
	$(BIN)/ruff format --check $(SRC)
	$(BIN)/mypy shared/poms_shared services/*/poms_* bench
	$(BIN)/lint-imports

unit: venv
	$(BIN)/pytest -q tests/unit

## test: lint, type checks, import contracts, unit, integration and end-to-end tests
test: venv lint services
	$(BIN)/pytest -q -ra tests

bench: venv services
	$(PY) bench/run.py

clean:
	rm -rf var test-output .pytest_cache .mypy_cache .ruff_cache
