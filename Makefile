# Two commands do everything on a fresh Debian machine:
#   make run    set up, then serve the API on 127.0.0.1:8080
#   make test   set up, then lint, type-check and run every test (real Docker included)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup run test lint bench clean-sandboxes

setup:
	./scripts/setup.sh

run: setup
	$(BIN)/gosandbox serve --host 127.0.0.1 --port 8080

lint:
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

test: setup lint
	$(BIN)/pytest

bench: setup
	$(BIN)/python -m gosandbox.bench

# This instance's leftovers only; `gosandbox reap --all-instances` removes every instance's (on a
# shared engine, other users' too), so it must be typed by hand.
clean-sandboxes:
	$(BIN)/gosandbox reap
