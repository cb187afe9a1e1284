#!/bin/sh
# A throwaway PostgreSQL cluster for examples/todo_service (what
# testkit::postgres does for the tests): initdb in DIR, listening on
# 127.0.0.1:PORT and a Unix socket in DIR only, trust authentication.
# As root, the cluster belongs to the `postgres` user (PostgreSQL refuses
# to run as root). Debian: apt-get install postgresql.
#
#   postgres.sh start DIR [PORT]    (PORT defaults to 5433)
#   postgres.sh stop DIR
set -eu
cmd=${1:?usage: postgres.sh start|stop DIR [PORT]}
dir=${2:?usage: postgres.sh start|stop DIR [PORT]}
port=${3:-5433}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bin" ] || bin=$(dirname "$(command -v initdb)")
as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case $cmd in
start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-sync -E UTF8 >/dev/null
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir" start
    echo "conninfo: host=127.0.0.1 port=$port user=postgres"
    ;;
stop)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop
    rm -rf "$dir"
    ;;
*)
    echo "usage: postgres.sh start|stop DIR [PORT]" >&2
    exit 2
    ;;
esac
