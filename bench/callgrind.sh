#!/usr/bin/env bash
# Counts user-space instructions of each executor workload, corio and tokio
# apart, with callgrind (repeatable where wall-clock times are noisy).
# Run from the repository root: bash bench/callgrind.sh
set -euo pipefail
cargo build --release -q -p corio-bench --bin executor
bin=target/release/executor
printf '| workload | corio instructions | tokio instructions | ratio |\n|---|---|---|---|\n'
for w in "spawn+join" "call_soon" "timers" "ping-pong"; do
    count() {
        valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" 1 "$w" "$1" 2>&1 |
            sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
    }
    c=$(count corio)
    t=$(count tokio)
    python3 -c "print(f'| $w | {$c:,} | {$t:,} | {$c/$t:.2f} |')"
done
