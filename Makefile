# Default target: lint and test in the project's virtualenv (.venv).
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: check test lint format venv

check: lint test

venv:
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/pip install -q -e '.[test]'

test: venv
	$(BIN)/pytest

lint: venv
	$(BIN)/ruff check tracker tests bench reliability
	$(BIN)/ruff format --check tracker tests bench reliability
	$(BIN)/mypy

format: venv
	$(BIN)/ruff format tracker tests bench reliability
