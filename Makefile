# Tallybook: the two commands a fresh machine needs are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
PYTEST_ARGS ?=

.PHONY: run test lint format bench clean install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## make run: install, then serve on the embedded SQLite store with a demo tenant, catalog and usage
run: $(STAMP)
	$(BIN)/tallybook serve --demo

## make test: install dev dependencies, start a throwaway PostgreSQL on 127.0.0.1, run the whole suite
test: $(STAMP)
	@eval "$$(scripts/pg-test-cluster.sh start)"; \
	  export TALLYBOOK_TEST_PG_URL; \
	  $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests bench scripts
	$(BIN)/ruff check --fix src tests bench scripts

## make bench: every benchmark, printing figures (several minutes; PostgreSQL on the test cluster)
bench: $(STAMP)
	@eval "$$(scripts/pg-test-cluster.sh start)"; export TALLYBOOK_TEST_PG_URL; \
	  $(BIN)/python bench/ingest_http.py && \
	  $(BIN)/python bench/usage_query.py && \
	  $(BIN)/python bench/billing_run.py && \
	  $(BIN)/python bench/stripe.py && \
	  $(BIN)/python bench/webhooks.py && \
	  $(BIN)/python bench/credits.py && \
	  $(BIN)/python bench/analytics.py && \
	  $(BIN)/python bench/hostile_load.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache tallybook.db*
