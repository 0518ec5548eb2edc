#!/usr/bin/env bash
# User-space instructions per request of two stampede builds, counted by
# valgrind's callgrind: unlike CPU time, the count does not move with what
# else the machine is doing, so a change to the request path shows even on a
# shared, noisy host. Kernel work (syscalls, TCP) is not in it: for that,
# bench/compare.sh measures requests per CPU-second against wrk.
#
# Each build runs each case twice (N1 and N2 requests, one shard, epoll, the
# same stampede-target); the difference over N2 - N1 removes start-up and
# shutdown, leaving instructions per request.
#
# Usage: bench/instructions.sh BEFORE_BIN AFTER_BIN [TARGET_BIN]
# Env:   N1=5000 N2=25000 USERS=10
set -euo pipefail

BEFORE=${1:?usage: bench/instructions.sh BEFORE_BIN AFTER_BIN [TARGET_BIN]}
AFTER=${2:?usage: bench/instructions.sh BEFORE_BIN AFTER_BIN [TARGET_BIN]}
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TARGET_BIN=${3:-$BENCH_DIR/../target/release/stampede-target}
N1=${N1:-5000}
N2=${N2:-25000}
USERS=${USERS:-10}

command -v valgrind >/dev/null || { apt-get install -y valgrind >/dev/null; }
work=$(mktemp -d)
trap 'kill "$target_pid" 2>/dev/null || true; rm -rf "$work"' EXIT

"$TARGET_BIN" --listen 127.0.0.1:0 --threads 1 >"$work/target.out" 2>/dev/null &
target_pid=$!
for _ in $(seq 50); do
    addr=$(sed -n 's/^listening on //p' "$work/target.out")
    [[ -n $addr ]] && break
    sleep 0.1
done
[[ -n ${addr:-} ]] || { echo "stampede-target did not start" >&2; exit 1; }
url="http://$addr"

# instructions BIN N ARGS...: total instructions callgrind collected for one run.
instructions() {
    local bin=$1 n=$2
    shift 2
    valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
        "$bin" run "$@" -u "$USERS" -n "$n" --threads 1 --io-driver epoll -q \
        2>&1 >/dev/null | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

# per_request BIN ARGS...: instructions per request, start-up removed.
per_request() {
    local bin=$1
    shift
    local small large
    small=$(instructions "$bin" "$N1" "$@")
    large=$(instructions "$bin" "$N2" "$@")
    echo $(( (large - small) / (N2 - N1) ))
}

printf '%-36s %12s %12s %8s\n' case before after after/before
report() {
    local name=$1 before=$2 after=$3
    printf '%-36s %12s %12s %8s\n' "$name" "$before" "$after" \
        "$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.3f", a / b }')"
}

b=$(per_request "$BEFORE" --host "$url/")
a=$(per_request "$AFTER" --host "$url/")
report "plain GET / (pre-encoded request)" "$b" "$a"

export BENCH_PATH=/
b=$(per_request "$BEFORE" --host "$url" -f "$BENCH_DIR/templated.toml")
a=$(per_request "$AFTER" --host "$url" -f "$BENCH_DIR/templated.toml")
report "templated header + cookies" "$b" "$a"
