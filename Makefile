# Two commands do everything on a fresh Debian machine:
#   make run    set up, then serve the API on 127.0.0.1:8080
#   make test   set up (with what only tests need), then lint, type-check, build the docs strictly and run
#               every test (real Docker included)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup test-deps run test lint docs bench clean-sandboxes web

setup:
	./scripts/setup.sh

# What only the tests need: Redis and PostgreSQL on loopback, Node with the npm clients, Chromium.
test-deps:
	./scripts/ensure-services.sh
	./scripts/ensure-node.sh

# The playground's bundle: web/src -> src/gosandbox/web/static/ (committed; run this after editing web/src).
web:
	./scripts/ensure-node.sh
	node web/build.mjs

run: setup
	$(BIN)/gosandbox serve --host 127.0.0.1 --port 8080

lint: docs
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

# The site of docs/ (mkdocs.yml) into .site/, strictly: a page left out of the nav, a broken link or anchor fails.
# NO_MKDOCS_2_WARNING=1 silences the banner Material prints on every build (its end-of-life notice).
docs:
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir .site

test: setup test-deps lint
	$(BIN)/pytest

bench: setup
	./scripts/ensure-services.sh  # the queue scenarios start a redis-server of their own
	$(BIN)/python -m gosandbox.bench

# This instance's leftovers only; `gosandbox reap --all-instances` removes every instance's (on a
# shared engine, other users' too), so it must be typed by hand.
clean-sandboxes:
	$(BIN)/gosandbox reap
