# Two commands do all the set-up: `make serve` and `make test`. Both create .venv when it is
# missing or older than pyproject.toml, with Python 3.11+ (override: make PYTHON=python3.12).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: serve test lint schema simulate bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

serve: $(VENV)/.installed
	$(BIN)/sessiongraph serve $(ARGS)

simulate: $(VENV)/.installed
	$(BIN)/sessiongraph simulate $(ARGS)

schema: $(VENV)/.installed
	$(BIN)/sessiongraph export-schema --output schema.graphql

bench: $(VENV)/.installed
	$(BIN)/python -m bench $(ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The whole suite, with the branch coverage of graph/ and resolvers/ (at least 95%: pyproject.toml).
test: lint
	$(BIN)/pytest --cov --cov-report=term $(ARGS)
