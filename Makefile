# The two set-up commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
CONFIG ?= schedules.example.yaml

.PHONY: run test lint bench man docs install install-test clean redis-server

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PIP) install -q -e '.[test,lint,bench]'
	touch $@ $(VENV)/.installed

# Bytecode for the package, as a regular pip install writes it: with
# PYTHONDONTWRITEBYTECODE set, every start would otherwise compile every module again.
install: $(VENV)/.installed
	$(PY) -m compileall -q unoschedule
install-test: $(VENV)/.installed-test
	$(PY) -m compileall -q unoschedule

run: install
	$(VENV)/bin/uno-schedule --config $(CONFIG) run

# The Redis store's tests start their own redis-server (tests/redis_server.py); CI is a
# clean Debian machine where we are root, so the package is installed when missing.
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
		echo "installing redis-server (Debian package) for the Redis store's tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends redis-server >/dev/null; }

# Most tests wait on real processes firing every second, not on the CPU, so they run in
# more workers than the machine has cores; those marked `serial` assert how long something
# took, and run alone once the others are done. TEST_WORKERS=0 runs the first part in
# this process too.
TEST_WORKERS ?= 4
test: install-test redis-server
	$(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal -m "not serial"
	$(PY) -m pytest -m serial

lint: install-test
	$(VENV)/bin/ruff check unoschedule tests bench
	$(VENV)/bin/ruff format --check unoschedule tests bench
	$(VENV)/bin/mypy

bench: install-test redis-server
	$(PY) bench/run.py

# The man page, written from the typer commands themselves (tests check it is current).
man: install
	$(PY) -m unoschedule.cli.manpage > man/uno-schedule.1

# The reference pages of docs/, written from the schema, the typer commands and the
# library itself (tests check they are current). The shipped JSON Schema too.
docs: install
	$(PY) -m unoschedule.config.schema --write
	$(PY) -m unoschedule.cli.docsgen --write

clean:
	rm -rf $(VENV) var *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
