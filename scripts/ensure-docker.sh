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

if engine_answers; then
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
