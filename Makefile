# Two commands set up everything on a fresh machine:
#   make demo   a virtual environment, tidegate, the example project, loaded into DuckDB
#   make test   the dev tools and the whole test suite (what CI runs)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO   ?= demo

.PHONY: demo test lint system-deps bench bench-quick clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $@

# The report tests open the HTML report in a real browser: Debian's Chromium.
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "install Chromium (Debian: apt-get install chromium) for the report tests"; fi; }

demo: $(VENV)/.installed
	rm -rf $(DEMO)
	$(BIN)/tidegate init $(DEMO)
	$(BIN)/tidegate run --project $(DEMO)
	$(BIN)/tidegate status --project $(DEMO)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

test: lint system-deps
	$(BIN)/pytest

# The benchmark (docs/benchmarks.md); more options in BENCH_ARGS, e.g.
#   make bench BENCH_ARGS="--only wide_csv --postgres none"
bench: $(VENV)/.dev-installed
	$(BIN)/pip install --quiet -r bench/requirements.txt
	$(BIN)/python -m bench.sling install
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-quick: $(VENV)/.dev-installed
	$(BIN)/pip install --quiet -r bench/requirements.txt
	$(BIN)/python -m bench.sling install
	$(BIN)/python -m bench --quick $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .mypy_cache .ruff_cache
