#!/bin/sh
# Make sure a Docker engine answers on /var/run/docker.sock.
# Installs Debian's docker.io when dockerd is missing and starts the daemon in
# the background when it is not running (there is no systemd on our machines).
set -eu

SOCK=/var/run/docker.sock
LOG=/var/log/gosandbox-dockerd.log

engine_answers() {
    docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

dockerd_running() {
    [ -f /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null
}

# gVisor's runsc, for GOSANDBOX_RUNTIME=runsc (either backend): Debian's package, registered with an engine we start.
RUNSC=/usr/bin/runsc
DAEMON_JSON=/etc/docker/daemon.json

if [ ! -x "$RUNSC" ]; then
    echo "ensure-docker: installing runsc (gVisor)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runsc >/dev/null || echo "ensure-docker: runsc not installed" >&2
fi

# Merge the runsc runtime into daemon.json, keeping every other key (and an existing runsc entry).
register_runsc() {
    [ -x "$RUNSC" ] || return 0
    mkdir -p "$(dirname "$DAEMON_JSON")"
    python3 - "$DAEMON_JSON" "$RUNSC" <<'PY'
import json, os, sys
path, runsc = sys.argv[1], sys.argv[2]
config = json.load(open(path)) if os.path.exists(path) and open(path).read().strip() else {}
config.setdefault("runtimes", {}).setdefault("runsc", {"path": runsc, "runtimeArgs": ["--network=none", "--oci-seccomp"]})
tmp = path + ".tmp"
with open(tmp, "w") as out:
    json.dump(config, out, indent=2)
    out.write("\n")
os.replace(tmp, path)
PY
}

if engine_answers; then
    if [ -x "$RUNSC" ] && ! docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"runsc"'; then
        echo "ensure-docker: the running engine has no runsc runtime; \`gosandbox doctor\` says how to add it" >&2
    fi
    exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
    echo "ensure-docker: installing docker.io" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi

if ! dockerd_running; then
    # A daemon that was killed leaves its pid file behind and blocks the next start.
    rm -f /var/run/docker.pid
    register_runsc
    echo "ensure-docker: starting dockerd (log: $LOG)" >&2
    nohup dockerd >"$LOG" 2>&1 &
fi

i=0
while [ $i -lt 60 ]; do
    if [ -S "$SOCK" ] && engine_answers; then
        exit 0
    fi
    i=$((i + 1))
    sleep 0.5
done
echo "ensure-docker: the engine did not answer within 30 s; see $LOG" >&2
exit 1
