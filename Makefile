# The two set-up commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
CONFIG ?= schedules.example.yaml

.PHONY: run test lint bench man install install-test clean

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

test: install-test
	$(PY) -m pytest

lint: install-test
	$(VENV)/bin/ruff check unoschedule tests bench
	$(VENV)/bin/mypy

bench: install-test
	$(PY) bench/run.py

# The man page, written from the typer commands themselves (tests check it is current).
man: install
	$(PY) -m unoschedule.cli.manpage > man/uno-schedule.1

clean:
	rm -rf $(VENV) var *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
