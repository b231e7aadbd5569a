# The two commands: `make demo` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-project

.PHONY: demo test lint bench clean matrix test-all

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,postgres]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/dbfold demo $(DEMO_DIR)

lint: $(STAMP)
	$(BIN)/ruff check --no-cache src tests benchmarks
	$(BIN)/ruff format --no-cache --check src tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

# The suite on the other supported Pythons (3.10, 3.12, 3.13, found with `pyenv prefix`: the
# tests of what differs between them) and whole on Python 3.10 with every dependency at its
# lowest declared version (min); each entry builds its own .venv-NAME.
# `make matrix ENTRIES="3.13 min"` runs some of them. See .ci/run.
matrix:
	.ci/run matrix $(ENTRIES)

test-all: test matrix

bench: $(STAMP)
	@for f in $(filter-out benchmarks/figures.py,$(wildcard benchmarks/*.py)); do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .venv-* $(DEMO_DIR) .mypy_cache .ruff_cache .pytest_cache
