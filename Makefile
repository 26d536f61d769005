# Two commands do all the set-up: `make serve` and `make test`. Both build .venv from a lock
# file (requirements/*.lock: exact versions, hash-checked), again whenever the lock changes, with
# Python 3.11+ (override: make PYTHON=python3.12). `serve` installs the runtime lock only; `test`
# the dev one (runtime + test, lint and type tools). `make lock` regenerates both locks.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUNTIME_LOCK := requirements/runtime.lock
DEV_LOCK := requirements/dev.lock

.PHONY: serve test lint schema simulate bench lock

# Each install starts from an empty venv (--clear), so a package dropped from the lock is gone
# too; `pip check` then fails when pyproject.toml declares a dependency the lock lacks. The
# project itself goes in last, editable, built with the locked setuptools (no isolation: no
# unpinned download).
define install_lock
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r $(1)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps \
		--no-build-isolation -e .
	$(BIN)/python -m pip check
endef

$(VENV)/.runtime: $(RUNTIME_LOCK)
	$(call install_lock,$(RUNTIME_LOCK))
	touch $@

# The dev lock holds the runtime one at the same versions (it is compiled under it), so a dev
# install serves `serve` as well.
$(VENV)/.dev: $(DEV_LOCK) $(RUNTIME_LOCK)
	$(call install_lock,$(DEV_LOCK))
	touch $(VENV)/.runtime $@

serve: $(VENV)/.runtime
	$(BIN)/sessiongraph serve $(ARGS)

simulate: $(VENV)/.runtime
	$(BIN)/sessiongraph simulate $(ARGS)

schema: $(VENV)/.runtime
	$(BIN)/sessiongraph export-schema --output schema.graphql

bench: $(VENV)/.dev
	$(BIN)/python -m bench $(ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The whole suite, with the branch coverage of graph/ and resolvers/ (at least 95%: pyproject.toml).
test: lint
	$(BIN)/pytest -n auto --dist loadfile --cov --cov-report=term --durations=25 $(ARGS)

# Regenerate both locks from pyproject.toml (after changing a dependency), with uv in a venv of
# its own. Versions already locked are kept when they still fit; `make lock ARGS=--upgrade`
# moves everything to the newest that fits. The locks cover Python 3.11+ on every platform
# (--universal: markers where a dependency differs), with the hashes of every file.
UV_VERSION := 0.13.9
LOCK_TOOLS := .venv-lock
UV_COMPILE = $(LOCK_TOOLS)/bin/uv pip compile --quiet --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command 'make lock' $(ARGS) pyproject.toml \
	requirements/install.in

$(LOCK_TOOLS)/.uv-$(UV_VERSION):
	$(PYTHON) -m venv --clear $(LOCK_TOOLS)
	$(LOCK_TOOLS)/bin/python -m pip install --quiet uv==$(UV_VERSION)
	touch $@

lock: $(LOCK_TOOLS)/.uv-$(UV_VERSION)
	$(UV_COMPILE) -o $(RUNTIME_LOCK)
	$(UV_COMPILE) --extra dev --constraint $(RUNTIME_LOCK) -o $(DEV_LOCK)
