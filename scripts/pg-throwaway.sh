#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests (docs/postgres.md).
#
#   scripts/pg-throwaway.sh start DIR [--watch PID]
#       initdb + pg_ctl start in DIR (created; its data, socket and log stay
#       inside) on a random free port of 127.0.0.1, trust authentication,
#       fsync off. Prints the URL to connect as the superuser `patrol`:
#       postgres://patrol@127.0.0.1:PORT/postgres
#       With --watch PID, a detached watcher stops the cluster and removes
#       DIR once process PID has ended (the Rust test support passes its
#       own process id, so a test binary never leaves a cluster behind).
#   scripts/pg-throwaway.sh stop DIR
#       Stops the cluster (immediate shutdown) and removes DIR.
#
# initdb refuses to run as root: as root, the cluster runs as `postgres`.
set -euo pipefail
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cmd=${1:-}
dir=${2:-}
if [[ -z $cmd || -z $dir ]]; then
    echo "usage: $0 start DIR [--watch PID] | stop DIR" >&2
    exit 2
fi
as_pg() {
    if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case $cmd in
start)
    watch=
    if [[ ${3:-} == --watch ]]; then watch=${4:?--watch needs a process id}; fi
    if [[ $(id -u) == 0 ]] && ! runuser -u postgres -- test -x "$(dirname "$dir")"; then
        echo "$(dirname "$dir") must be reachable by the postgres user (e.g. use /tmp/NAME)" >&2
        exit 1
    fi
    mkdir -p "$dir"
    chmod 700 "$dir"
    if [[ $(id -u) == 0 ]]; then chown postgres: "$dir"; fi
    if ! as_pg initdb -D "$dir/data" -A trust -U patrol -E UTF8 --no-sync >"$dir/initdb.log" 2>&1; then
        cat "$dir/initdb.log" >&2
        exit 1
    fi
    started=
    for _ in 1 2 3 4 5; do
        port=$((20000 + RANDOM % 40000))
        opts="-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off"
        opts+=" -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        if as_pg pg_ctl -D "$dir/data" -o "$opts" -l "$dir/log" -w -t 60 start >/dev/null; then
            started=1
            break
        fi
    done
    if [[ -z $started ]]; then
        echo "PostgreSQL did not start; its log ($dir/log):" >&2
        cat "$dir/log" >&2 || true
        exit 1
    fi
    if [[ -n $watch ]]; then
        setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 0.5; done; exec "$2" stop "$3"' \
            watcher "$watch" "$self" "$dir" </dev/null >/dev/null 2>&1 &
    fi
    echo "postgres://patrol@127.0.0.1:$port/postgres"
    ;;
stop)
    if [[ -f $dir/data/postmaster.pid ]]; then
        as_pg pg_ctl -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start DIR [--watch PID] | stop DIR" >&2
    exit 2
    ;;
esac
