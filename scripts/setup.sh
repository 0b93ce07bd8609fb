#!/bin/sh
# Idempotent set-up on a fresh Debian machine: Docker engine, virtualenv, package, images: what the
# server needs. `make test` adds what only the tests need (make test-deps).
set -eu
cd "$(dirname "$0")/.."

VENV=.venv
STAMP="$VENV/.installed"

./scripts/ensure-docker.sh

if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    echo "setup: installing python3-venv" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi

# Reinstall only when the lock or the project metadata changed.
if [ ! -f "$STAMP" ] || [ requirements.lock -nt "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
    echo "setup: installing Python packages from requirements.lock" >&2
    "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements.lock
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -e .
    touch "$STAMP"
fi

# The race builder's C toolchain comes from Debian's packages (gcc, libc6-dev and their dependencies), which the
# image build downloads once with `apt-get download` (no install on this host): it needs the package lists.
if command -v apt-cache >/dev/null 2>&1 && ! apt-cache show gcc libc6-dev >/dev/null 2>&1; then
    echo "setup: updating the package lists (for the race builder's C toolchain)" >&2
    apt-get update -qq
fi

"$VENV/bin/gosandbox" image build
