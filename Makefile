# The two commands a newcomer runs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install system-deps lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

system-deps:
	scripts/system-deps.sh

run: install
	$(BIN)/phasegate init
	$(BIN)/phasegate demo load
	$(BIN)/phasegate serve --gateway --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

# Tests that time the wall clock run on their own after the parallel run, so Spark and Chromium in
# the other worker cannot starve them.
test: install system-deps lint
	scripts/with-postgres.sh bash -c '$(BIN)/pytest -n 2 -q -m "not timing" --durations=15 && $(BIN)/pytest -q -m timing'


bench: install
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .phasegate .pytest_cache .mypy_cache .ruff_cache
