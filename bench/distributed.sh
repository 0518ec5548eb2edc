#!/usr/bin/env bash
# Distributed-mode benchmarks.
#  1. Coordinator merge cost: a real coordinator against WORKERS simulated
#     workers (engine/examples/fake_workers.rs) each sending one snapshot a
#     second with ENDPOINTS endpoints (whole HDR histograms); prints the
#     coordinator's CPU as a share of one core.
#  2. Distribution overhead: requests per generator CPU-second of one process
#     (--threads 1) against a coordinator with two workers (--threads 1 each),
#     all pinned to CPU 0, stampede-target pinned to CPU 1, counted by the target.
# Env: WORKERS=100 ENDPOINTS=50 RUN_SECONDS=20 DURATION=10 REPEATS=3
set -euo pipefail
cd "$(dirname "$0")/.."
WORKERS=${WORKERS:-100}
ENDPOINTS=${ENDPOINTS:-50}
SECONDS_RUN=${RUN_SECONDS:-20}
DURATION=${DURATION:-10}
REPEATS=${REPEATS:-3}
TOKEN=bench-token
[[ -x /usr/bin/time ]] || { apt-get update && apt-get install -y time; }
cargo build --release -p stampede-engine -p stampede-target --bins --example fake_workers >&2
BIN=target/release
TMP=$(mktemp -d /tmp/stampede-dist.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== coordinator merge cost: $WORKERS workers x $ENDPOINTS endpoints, 1 Hz, ${SECONDS_RUN}s"
PORT=$(free_port)
/usr/bin/time -o "$TMP/coord.time" -f '%e %U %S %M' \
    "$BIN/stampede" coordinator --bind "127.0.0.1:$PORT" --expect-workers "$WORKERS" --token "$TOKEN" \
    --host http://127.0.0.1:9 -u "$WORKERS" -t "${SECONDS_RUN}s" --quiet --json "$TMP/coord.json" &
COORD=$!
PIDS+=("$COORD")
"$BIN/examples/fake_workers" "127.0.0.1:$PORT" "$WORKERS" "$ENDPOINTS" "$SECONDS_RUN" "$TOKEN"
wait "$COORD" || true
read -r wall user sys rss < "$TMP/coord.time"
python3 - "$wall" "$user" "$sys" "$rss" "$TMP/coord.json" "$WORKERS" "$ENDPOINTS" "$SECONDS_RUN" <<'PY'
import json, sys
wall, user, sys_, rss = map(float, sys.argv[1:5])
summary = json.load(open(sys.argv[5]))
workers, endpoints, seconds = map(int, sys.argv[6:9])
cpu = user + sys_
print(f"coordinator: {cpu:.2f} CPU s over {wall:.1f} s wall = {100*cpu/wall:.2f}% of one core "
      f"(merging {workers*seconds} snapshots of {endpoints} endpoints; max RSS {rss/1024:.0f} MB)")
print(f"merged requests: {summary['totals']['requests']} (expected {workers*endpoints*1000*seconds})")
PY

echo
echo "== distribution overhead: 1 process vs coordinator + 2 workers, ${DURATION}s x $REPEATS"
TPORT=$(free_port)
taskset -c 1 "$BIN/stampede-target" --listen "127.0.0.1:$TPORT" --threads 1 > "$TMP/target.out" 2>&1 &
PIDS+=("$!")
sleep 0.5
URL="http://127.0.0.1:$TPORT"
target_requests() { curl -s "$URL/__stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])'; }
cpu_of() { awk '{print $2 + $3}' "$1"; }
for run in $(seq "$REPEATS"); do
    before=$(target_requests)
    /usr/bin/time -o "$TMP/single.time" -f '%e %U %S %M' taskset -c 0 \
        "$BIN/stampede" run --host "$URL" -u 50 --threads 1 -t "${DURATION}s" --quiet
    single_n=$(( $(target_requests) - before ))
    single_cpu=$(cpu_of "$TMP/single.time")

    PORT=$(free_port)
    before=$(target_requests)
    /usr/bin/time -o "$TMP/c.time" -f '%e %U %S %M' taskset -c 0 \
        "$BIN/stampede" coordinator --bind "127.0.0.1:$PORT" --expect-workers 2 --token "$TOKEN" \
        --host "$URL" -u 50 -t "${DURATION}s" --quiet &
    C=$!
    for w in 1 2; do
        /usr/bin/time -o "$TMP/w$w.time" -f '%e %U %S %M' taskset -c 0 \
            "$BIN/stampede" worker --coordinator "127.0.0.1:$PORT" --token "$TOKEN" --threads 1 > /dev/null &
        eval "W$w=\$!"
    done
    wait "$C" "$W1" "$W2"
    dist_n=$(( $(target_requests) - before ))
    dist_cpu=$(python3 -c "print($(cpu_of "$TMP/c.time") + $(cpu_of "$TMP/w1.time") + $(cpu_of "$TMP/w2.time"))")
    python3 -c "
s = $single_n / $single_cpu; d = $dist_n / $dist_cpu
print(f'run $run: single {s:,.0f} req/CPU-s ($single_n req, $single_cpu s), distributed {d:,.0f} req/CPU-s ($dist_n req, {$dist_cpu:.2f} s): ratio {d/s:.3f}')"
done
