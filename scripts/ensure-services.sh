#!/bin/sh
# Make sure Redis answers on 127.0.0.1:6379 and PostgreSQL on 127.0.0.1:5432,
# with a role "gosandbox" (password "gosandbox") owning the databases
# "gosandbox" and "gosandbox_test".
# Installs Debian's redis-server and postgresql when missing and starts them in
# the background when they do not answer (there is no systemd on our machines).
set -eu

REDIS_LOG=/var/log/gosandbox-redis.log
REDIS_DIR=/var/lib/redis
REDIS_PID=/var/run/gosandbox-redis.pid
PG_USER=gosandbox
PG_PASSWORD=gosandbox

APT_UPDATED=
apt_install() {
    # One index refresh per run is enough, and none when nothing is missing.
    if [ -z "$APT_UPDATED" ]; then
        apt-get update -qq
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# True when the pid on the first line of file $1 is a live process named $2.
# procps may be missing, so read /proc; the name check guards against a
# reused pid. A killed server lingers as a zombie for a while here (pid 1
# reaps lazily), so a zombie counts as dead.
pid_file_alive() {
    pid=$(head -n 1 "$1" 2>/dev/null) || return 1
    case $pid in '' | *[!0-9]*) return 1 ;; esac
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    case ${stat##*') '} in Z* | X*) return 1 ;; esac
}

# Run "$@" until it succeeds; false after $1 seconds. The probes carry their
# own timeouts, so a port held by something mute cannot stretch the wait.
wait_for() {
    deadline=$(($(date +%s) + $1))
    shift
    until "$@"; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}

# --- Redis -----------------------------------------------------------------

# redis-cli has no timeout of its own and hangs on a listener that never replies.
redis_answers() {
    [ "$(timeout 2 redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]
}

if ! redis_answers; then
    if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
        echo "ensure-services: installing redis-server" >&2
        apt_install redis-server
    fi

    if ! pid_file_alive "$REDIS_PID" redis-server; then
        rm -f "$REDIS_PID"
        mkdir -p "$REDIS_DIR"
        echo "ensure-services: starting redis-server (log: $REDIS_LOG)" >&2
        # No persistence: the data is scratch and must not outlive the server.
        if ! redis-server --bind 127.0.0.1 --port 6379 --daemonize yes \
            --save "" --appendonly no --dir "$REDIS_DIR" \
            --pidfile "$REDIS_PID" --logfile "$REDIS_LOG" >>"$REDIS_LOG" 2>&1; then
            echo "ensure-services: redis-server failed to start; see $REDIS_LOG" >&2
            exit 1
        fi
    fi

    if ! wait_for 15 redis_answers; then
        echo "ensure-services: Redis did not answer within 15 s; see $REDIS_LOG" >&2
        exit 1
    fi
fi

# --- PostgreSQL --------------------------------------------------------------

# Newest installed major version, e.g. "15"; empty when none is installed.
pg_version() {
    ls -d /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null |
        sed 's|^/usr/lib/postgresql/||; s|/.*||' | sort -n | tail -n 1
}

PG_VER=$(pg_version)
if [ -z "$PG_VER" ]; then
    echo "ensure-services: installing postgresql" >&2
    apt_install postgresql
    PG_VER=$(pg_version)
fi
# Call the binaries directly: the /usr/bin wrappers are Perl and slow to start.
PG_BIN=/usr/lib/postgresql/$PG_VER/bin
PG_DATA=/var/lib/postgresql/$PG_VER/main
PG_LOG=/var/log/postgresql/postgresql-$PG_VER-main.log
PG_SOCKET_LOCK=/var/run/postgresql/.s.PGSQL.5432.lock

pg_ready() {
    "$PG_BIN/pg_isready" -q -t 2 -h 127.0.0.1 -p 5432
}

# psql as the postgres superuser over the Unix socket (peer authentication);
# cd / because psql complains when it cannot read the caller's directory.
pg_sql() {
    (cd / && runuser -u postgres -- "$PG_BIN/psql" -X -q -tA -v ON_ERROR_STOP=1 -c "$1")
}

if ! pg_ready; then
    if [ ! -d "/etc/postgresql/$PG_VER/main" ]; then
        echo "ensure-services: creating PostgreSQL cluster $PG_VER/main" >&2
        # Debian's default listen_addresses (localhost) is kept: loopback only.
        pg_createcluster --port 5432 "$PG_VER" main >/dev/null
    fi

    if ! pid_file_alive "$PG_DATA/postmaster.pid" postgres; then
        # A killed server leaves its lock files behind, and postgres refuses
        # to start while the pid in one still exists (even as a zombie).
        for lock in "$PG_DATA/postmaster.pid" "$PG_SOCKET_LOCK"; do
            pid_file_alive "$lock" postgres || rm -f "$lock"
        done
        echo "ensure-services: starting PostgreSQL $PG_VER/main (log: $PG_LOG)" >&2
        if ! pg_ctlcluster "$PG_VER" main start >/dev/null; then
            echo "ensure-services: PostgreSQL failed to start; see $PG_LOG" >&2
            exit 1
        fi
    fi

    if ! wait_for 30 pg_ready; then
        echo "ensure-services: PostgreSQL did not answer within 30 s; see $PG_LOG" >&2
        exit 1
    fi
fi

# One query tells whether the role and both databases exist, so that a run
# with nothing to do costs a single psql call.
if [ "$(pg_sql "SELECT (SELECT count(*) FROM pg_roles WHERE rolname = '$PG_USER')
    + (SELECT count(*) FROM pg_database WHERE datname IN ('gosandbox', 'gosandbox_test'))")" != 3 ]; then
    if [ "$(pg_sql "SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER'")" != 1 ]; then
        echo "ensure-services: creating PostgreSQL role $PG_USER" >&2
        pg_sql "CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD'"
    fi
    for db in gosandbox gosandbox_test; do
        if [ "$(pg_sql "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
            echo "ensure-services: creating PostgreSQL database $db" >&2
            pg_sql "CREATE DATABASE $db OWNER $PG_USER"
        fi
    done
fi
