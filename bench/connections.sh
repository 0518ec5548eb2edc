#!/usr/bin/env bash
# Memory per idle connection: stampede holds N keep-alive users, each of
# which sent one request and now waits (wait = constant(60)), against
# stampede-target on loopback, spread over --source-ips. Prints the
# generator's RSS and bytes per connection at each N, minus a baseline run
# with one user per process.
#
# The open-file limit is per process. When N connections do not fit under
# it (a container whose hard limit cannot be raised), the run uses
# `--processes P` (P workers of N/P users each, one merged run) and the
# target runs as several processes on 127.0.1.1, 127.0.1.2, ... behind one
# name (`--resolve localhost:ADDRS`). The generator's RSS is then the sum over the
# coordinator and its workers (peak RSS, VmHWM, read near the end of the hold).
#
# Usage: bench/connections.sh         (builds release binaries first)
# Env:   COUNTS="1000 10000 50000" HOLD=8 THREADS=2 SCHEME=http|https
#        SOURCE_IPS=127.0.0.2-127.0.0.9 SKIP_BUILD=1
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
COUNTS=${COUNTS:-"1000 10000 50000"}
HOLD=${HOLD:-8}
THREADS=${THREADS:-2}
SCHEME=${SCHEME:-http}
SOURCE_IPS=${SOURCE_IPS:-127.0.0.2-127.0.0.9}
BIN=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release

[[ -n ${SKIP_BUILD:-} ]] || (cd "$REPO_ROOT" && cargo build --release -p stampede-engine -p stampede-target >&2)
# Every process holds one descriptor per connection.
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
FD_LIMIT=$(ulimit -n)
# Connections one process may hold, keeping room for everything else.
PER_PROCESS=$(( FD_LIMIT - 2000 ))
processes_for() { echo $(( ($1 + PER_PROCESS - 1) / PER_PROCESS )); }
MAX_COUNT=$(printf '%s\n' $COUNTS | sort -n | tail -n1)
TARGETS=$(processes_for "$MAX_COUNT")

TMP=$(mktemp -d /tmp/stampede-conns.XXXXXX)
TARGET_PIDS=()
cleanup() {
    for pid in "${TARGET_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

target_args=(--threads 1)
client_args=()
if [[ $SCHEME == https ]]; then
    target_args+=(--tls-self-signed --tls-cert-out "$TMP/cert.pem")
    client_args+=(--cacert "$TMP/cert.pem")
fi
# Starts target number $1 on 127.0.1.$1 at port $2 (0: any); prints its port.
start_target() {
    "$BIN/stampede-target" --listen "127.0.1.$1:$2" "${target_args[@]}" >"$TMP/target$1.out" 2>/dev/null &
    TARGET_PIDS+=($!)
    for _ in $(seq 50); do [[ -s $TMP/target$1.out ]] && break; sleep 0.1; done
    head -n1 "$TMP/target$1.out" | sed 's/^listening on .*://'
}
PORT=$(start_target 1 0)
ADDRS=127.0.1.1
for i in $(seq 2 "$TARGETS"); do
    start_target "$i" "$PORT" >/dev/null
    ADDRS+=",127.0.1.$i"
done
# Each target makes its own self-signed certificate (for localhost); with
# several targets, --cacert would trust only the first, so use --insecure.
if [[ $SCHEME == https && $TARGETS -gt 1 ]]; then client_args=(--insecure); fi
printf '[[user]]\nwait = "constant(60)"\n[[user.task]]\n[[user.task.step]]\npath = "/"\n' >"$TMP/idle.toml"

# Sum of peak RSS (KiB) over process $1 and its children.
tree_hwm_kb() {
    local total=0 pid
    for pid in "$1" $(pgrep -P "$1" || true); do
        total=$(( total + $(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0) ))
    done
    echo "$total"
}

# Prints "rss_kb requests failures" of one run holding $1 users in $2 processes.
rss_kb() {
    local users=$1 processes=$2 extra=()
    [[ $processes -gt 1 ]] && extra=(--processes "$processes")
    "$BIN/stampede" run -f "$TMP/idle.toml" --host "$SCHEME://localhost:$PORT" --resolve "localhost:$ADDRS" \
        -u "$users" -t "${HOLD}s" --threads "$THREADS" --source-ips "$SOURCE_IPS" \
        "${client_args[@]}" "${extra[@]}" \
        --only-summary --quiet --json "$TMP/run.json" >/dev/null 2>"$TMP/err" &
    local pid=$! kb
    sleep $(( HOLD - 1 ))
    kb=$(tree_hwm_kb "$pid")
    wait "$pid" || { cat "$TMP/err" >&2; exit 1; }
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); t=d["totals"]; print(sys.argv[2], t["requests"], t["failures"])' "$TMP/run.json" "$kb"
}

echo "# $SCHEME, $THREADS shards per process, $TARGETS target process(es), open-file limit $FD_LIMIT; kernel socket memory not included"
printf '%-8s %-9s %-10s %-10s %-12s %s\n' users processes requests failures rss_mib bytes_per_conn
for n in $COUNTS; do
    p=$(processes_for "$n")
    read -r base _ _ < <(rss_kb "$p" "$p")
    read -r kb requests failures < <(rss_kb "$n" "$p")
    [[ $failures -eq 0 ]] || echo "warning: $failures of $n users failed; see the run's JSON" >&2
    per=$(( (kb - base) * 1024 / n ))
    printf '%-8s %-9s %-10s %-10s %-12s %s\n' "$n" "$p" "$requests" "$failures" "$(( kb / 1024 ))" "$per"
done
