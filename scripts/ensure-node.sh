#!/bin/sh
# Idempotent: Node and npm (Debian's), Chromium (Debian's), the npm clients of tests/js and the playground's
# build tools (web/) from their locks.
# The compatibility proofs run the real clients: piston-client under Node, the Codapi widget in Chromium.
# Never a browser download: Playwright drives /usr/bin/chromium.
set -eu
cd "$(dirname "$0")/.."

missing=""
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -x /usr/bin/chromium ] || missing="$missing chromium"
if [ -n "$missing" ]; then
    echo "setup: installing$missing" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

# Reinstall only when node_modules is missing or older than the lock.
if [ ! -d tests/js/node_modules ] || [ tests/js/package-lock.json -nt tests/js/node_modules ]; then
    echo "setup: installing tests/js from package-lock.json" >&2
    (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
    touch tests/js/node_modules
fi
# The playground's build (esbuild, CodeMirror; make web and the bundle's freshness test), the same way.
if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules ]; then
    echo "setup: installing web/ from package-lock.json" >&2
    (cd web && npm ci --no-audit --no-fund --loglevel=error)
    touch web/node_modules
fi
