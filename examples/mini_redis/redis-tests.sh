#!/usr/bin/env bash
# Runs Redis's own test suite against mini_redis and, for reference,
# against a real redis-server, unit by unit, and prints a table.
#
#   examples/mini_redis/redis-tests.sh PATH/TO/REDIS-SOURCE [UNIT ...]
#
# PATH/TO/REDIS-SOURCE is a checkout or tarball of Redis whose tests/ and
# runtest are used as they are (tag 7.0.15, the version mini_redis answers
# as; `tclsh` 8.5+ must be installed). Nothing is fetched: the tree is
# read, the suite writes only to its own tests/tmp. The units default to
# those of the commands mini_redis serves.
#
# Environment: MINI_REDIS (the server binary; default: built here with
# `cargo build --release --example mini_redis`), REDIS_SERVER (default:
# redis-server on PATH).
#
# How the suite is run, and why each option:
#   --host/--port      external-server mode: the suite talks to a running
#                      server instead of starting its own redis-server;
#   --singledb         no SELECT 9 before each test (what the issue allows);
#   --ignore-encoding,
#   --ignore-digest    OBJECT ENCODING and DEBUG DIGEST are internals of
#                      redis-server, not behaviour;
#   --durable          a test whose command fails (an unknown command
#                      included) is counted as [err] instead of aborting
#                      the rest of its unit, so every test is counted;
#   --tags -needs:debug -needs:repl -needs:config-maxmemory
#                      the suite's own markers for what an external server
#                      may not offer: DEBUG (a redis-server internal), a
#                      replication stream (SYNC: mini_redis has no replicas)
#                      and eviction under CONFIG SET maxmemory (no memory
#                      limit). Both servers get the same options.
#
# Each failure is then sorted: "unserved" when its error is a command or
# subcommand mini_redis does not know (lists, sets, SETBIT, LCS, COPY,
# MULTI, HELLO 3, CONFIG SET...), "behaviour" otherwise. The script exits
# with 1 if mini_redis has a behaviour failure, that is a command it
# serves answering otherwise than the suite expects.
set -euo pipefail

if [[ $# -lt 1 || ! -x "$1/runtest" ]]; then
    echo "usage: $0 PATH/TO/REDIS-SOURCE [UNIT ...]  (the tree with runtest and tests/)" >&2
    exit 2
fi
redis_src=$(cd "$1" && pwd)
shift
units=("$@")
if [[ ${#units[@]} -eq 0 ]]; then
    units=(unit/type/string unit/type/incr unit/expire unit/keyspace unit/pubsub unit/protocol)
fi
repo=$(cd "$(dirname "$0")/../.." && pwd)
redis_server=${REDIS_SERVER:-redis-server}
if [[ -z ${MINI_REDIS:-} ]]; then
    (cd "$repo" && cargo build --release --example mini_redis >&2)
    MINI_REDIS=${CARGO_TARGET_DIR:-$repo/target}/release/examples/mini_redis
fi
version=$(sed -n 's/.*REDIS_VERSION "\(.*\)"/\1/p' "$redis_src/src/version.h" 2>/dev/null || true)
echo "Redis test suite ${version:-of unknown version} from $redis_src"

logs=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

# A port nobody listens on (probed with bash's /dev/tcp).
free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 20000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
}

# Waits until something answers on PORT.
wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return
        sleep 0.1
    done
    echo "nothing listens on port $1" >&2
    exit 1
}

redis_port=$(free_port)
"$redis_server" --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    >"$logs/redis-server.log" 2>&1 &
pids+=($!)
mini_port=$(free_port)
"$MINI_REDIS" --serve "$mini_port" >"$logs/mini_redis.log" 2>&1 &
pids+=($!)
wait_port "$redis_port"
wait_port "$mini_port"

# The failures of a log, one a line: "unserved|behaviour NAME: ERROR".
# The runner's summary gives each as "*** [err]: NAME" and its error
# text on the lines below (the first cut by the runner, the second whole).
failures() {
    awk '
        function flush() {
            if (name != "") print (text ~ /unknown (sub)?command/ ? "unserved " : "behaviour ") name ": " first
            name = ""; text = ""; first = ""
        }
        /^\*\*\* \[err\]: / { flush(); name = substr($0, 12); lines = 0; next }
        name != "" && lines < 2 { text = text " " $0; if (lines == 0) first = $0; lines++ }
        END { flush() }' "$1"
}

# Runs one unit against PORT; prints "ok err ignored unserved behaviour".
run_unit() {
    local port=$1 unit=$2 log=$3
    (cd "$redis_src" && timeout 900 ./runtest --host 127.0.0.1 --port "$port" \
        --singledb --ignore-encoding --ignore-digest --durable \
        --tags "-needs:debug -needs:repl -needs:config-maxmemory" \
        --single "$unit") 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >"$log" || true
    local ok err ignored unserved
    ok=$(grep -c '^\[ok\]' "$log" || true)
    err=$(grep -c '^\[err\]' "$log" || true)
    ignored=$(grep -c '^\[ignore\]' "$log" || true)
    # The failures' summary: "*** [err]: NAME", then its error text.
    unserved=$(failures "$log" | grep -c '^unserved' || true)
    if ! grep -q "^\[[0-9]*/[0-9]* done\]" "$log"; then
        err=$((err + 1)) # the unit did not run to its end
    fi
    echo "$ok $err $ignored $unserved $((err - unserved))"
}

printf '\n%-18s | %-26s | %-40s\n' "unit" "redis-server ok/err/ign" "mini_redis ok/err/ign (err: unserved + behaviour)"
printf '%s\n' "-------------------+----------------------------+-----------------------------------------"
total_redis=(0 0 0) total_mini=(0 0 0 0 0) behaviour=()
for unit in "${units[@]}"; do
    name=${unit//\//_}
    read -r r_ok r_err r_ign _ _ < <(run_unit "$redis_port" "$unit" "$logs/redis-$name.log")
    read -r m_ok m_err m_ign m_uns m_beh < <(run_unit "$mini_port" "$unit" "$logs/mini-$name.log")
    printf '%-18s | %8s %8s %8s | %8s %8s %8s   (%s + %s)\n' "$unit" \
        "$r_ok" "$r_err" "$r_ign" "$m_ok" "$m_err" "$m_ign" "$m_uns" "$m_beh"
    total_redis=($((total_redis[0] + r_ok)) $((total_redis[1] + r_err)) $((total_redis[2] + r_ign)))
    total_mini=($((total_mini[0] + m_ok)) $((total_mini[1] + m_err)) $((total_mini[2] + m_ign))
        $((total_mini[3] + m_uns)) $((total_mini[4] + m_beh)))
    if [[ $m_beh -gt 0 ]]; then
        behaviour+=("$logs/mini-$name.log")
    fi
done
printf '%s\n' "-------------------+----------------------------+-----------------------------------------"
printf '%-18s | %8s %8s %8s | %8s %8s %8s   (%s + %s)\n' "total" \
    "${total_redis[@]}" "${total_mini[@]}"
echo
echo "logs: $logs"
if [[ ${#behaviour[@]} -gt 0 ]]; then
    echo "behaviour failures in mini_redis (a command it serves):"
    for log in "${behaviour[@]}"; do
        failures "$log" | sed -n 's/^behaviour /  /p'
    done
    exit 1
fi
echo "no behaviour failure: every failing test of mini_redis needs a command it does not serve"
