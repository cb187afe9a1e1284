#!/usr/bin/env bash
# What metrics and the flight recorder cost, in user-space instructions
# (callgrind: repeatable where wall-clock times are noisy), on corio's side
# of each executor workload: metrics off (CORIO_METRICS=0), on (the
# default), and the recorder on (CORIO_TRACE=1).
# Run from the repository root: bash bench/callgrind-observe.sh
set -euo pipefail
cargo build --release -q -p corio-bench --bin executor
bin=target/release/executor
printf '| workload | metrics off | metrics on | recorder on | on/off | recorder/off |\n|---|---|---|---|---|---|\n'
count() {
    env "$2" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" 1 "$1" corio 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for w in "spawn+join" "call_soon" "timers" "ping-pong"; do
    off=$(count "$w" CORIO_METRICS=0)
    on=$(count "$w" CORIO_METRICS=1)
    trace=$(count "$w" CORIO_TRACE=1)
    python3 -c "print(f'| $w | {$off:,} | {$on:,} | {$trace:,} | {$on/$off:.3f} | {$trace/$off:.3f} |')"
done
