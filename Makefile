# Two entry points (see README): `make demo` and `make test`. Both build .venv on their own.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_OUT ?= demo-out

.PHONY: demo test lint types pytest venv dev-venv clean bench

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

venv: $(BIN)/activate
	$(BIN)/python -m pip install --quiet -e .

dev-venv: $(BIN)/activate
	$(BIN)/python -m pip install --quiet -e '.[dev]'

demo: venv
	$(BIN)/mtls-doctor demo --out $(DEMO_OUT)

test: dev-venv lint types pytest

lint:
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

types:
	$(BIN)/mypy

pytest:
	$(BIN)/python -m pytest -q

bench: venv
	$(BIN)/python benchmarks/bench_logs.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) build *.egg-info src/*.egg-info
