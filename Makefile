# Two commands set up everything on a fresh machine:
#   make demo   a virtual environment, tidegate, the example project, loaded into DuckDB
#   make test   the dev tools and the whole test suite (what CI runs)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO   ?= demo

.PHONY: demo test lint bench bench-quick clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $@

demo: $(VENV)/.installed
	rm -rf $(DEMO)
	$(BIN)/tidegate init $(DEMO)
	$(BIN)/tidegate run --project $(DEMO)
	$(BIN)/tidegate status --project $(DEMO)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

# The benchmark (docs/benchmarks.md); more options in BENCH_ARGS, e.g.
#   make bench BENCH_ARGS="--only wide_csv --postgres none"
bench: $(VENV)/.dev-installed
	$(BIN)/pip install --quiet -r bench/requirements.txt
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-quick: $(VENV)/.dev-installed
	$(BIN)/pip install --quiet -r bench/requirements.txt
	$(BIN)/python -m bench --quick $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .mypy_cache .ruff_cache
