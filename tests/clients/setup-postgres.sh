#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for the rotation tests, or stops one.
#
#   tests/clients/setup-postgres.sh start DIR   # prints PORT=<port> on success
#   tests/clients/setup-postgres.sh stop DIR
#
# Installs Debian's postgresql package when initdb is missing (apt-get, needs root), creates the
# cluster in DIR with password (scram-sha-256) authentication over TCP on a free loopback port,
# and runs it as a non-root user (postgres cannot run as root: the `postgres` account when the
# script runs as root). The superuser is `admin` with password `admin-password`. Exits 77 when
# PostgreSQL truly cannot be provided, so the caller can skip with this script's message.
set -euo pipefail

ACTION="${1:?usage: setup-postgres.sh start|stop DIR}"
DIR="${2:?usage: setup-postgres.sh start|stop DIR}"

find_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

case "$ACTION" in
start)
    BIN="$(find_bin)"
    if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
        if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null 2>&1 || true
        fi
        BIN="$(find_bin)"
    fi
    if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
        echo "SKIP: PostgreSQL is not installed and apt-get install -y postgresql failed" >&2
        exit 77
    fi
    if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
        echo "SKIP: running as root and there is no postgres user to run the server as" >&2
        exit 77
    fi
    # The server runs as postgres: it must be able to reach DIR.
    [ "$(id -u)" -eq 0 ] && chmod o+x "$(dirname "$DIR")"
    mkdir -p "$DIR"
    [ "$(id -u)" -eq 0 ] && chown postgres "$DIR"
    PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    printf 'admin-password\n' > "$DIR/pw"
    [ "$(id -u)" -eq 0 ] && chown postgres "$DIR/pw"
    as_owner "$BIN/initdb" -D "$DIR/data" -U admin --pwfile="$DIR/pw" --auth=scram-sha-256 -E UTF8 >"$DIR/initdb.log" 2>&1
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w \
        -o "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$DIR" start >/dev/null
    echo "PORT=$PORT"
    ;;
stop)
    BIN="$(find_bin)"
    [ -d "$DIR/data" ] && as_owner "$BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true
    ;;
esac
