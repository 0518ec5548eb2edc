#!/usr/bin/env bash
# Endurance: one long open-loop run at a steady rate against stampede-target,
# sampling the generator's resident memory every SAMPLE seconds.
#
# Pass criteria (issue 7): memory stays flat after warm-up (growth under 1 MiB
# from the first sample after WARMUP to the last) and the per-second series
# does not drift (the last minute's mean rate within 1% of the first
# minute's, and the requested rate delivered). Not part of the test suite.
#
#   bench/endurance.sh                      # 10 minutes at 2000 req/s
#   DURATION=120 RATE=5000 bench/endurance.sh
#
# Variables: DURATION (s, 600), RATE (req/s, 2000), SAMPLE (s, 10),
# WARMUP (s, 60), THREADS (stampede shards, 1), GEN_CPU / TARGET_CPU (0 / 1),
# STAMPEDE_BIN / TARGET_BIN (default target/release/...), SKIP_BUILD,
# OUT (results directory, default bench/results/endurance-DATE).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-600}
RATE=${RATE:-2000}
SAMPLE=${SAMPLE:-10}
WARMUP=${WARMUP:-60}
THREADS=${THREADS:-1}
GEN_CPU=${GEN_CPU:-0}
TARGET_CPU=${TARGET_CPU:-1}
STAMPEDE_BIN=${STAMPEDE_BIN:-target/release/stampede}
TARGET_BIN=${TARGET_BIN:-target/release/stampede-target}
OUT=${OUT:-bench/results/endurance-$(date -u +%Y%m%d-%H%M%S)}

if [ -z "${SKIP_BUILD:-}" ]; then
    cargo build --release -p stampede-engine -p stampede-target >&2
fi
mkdir -p "$OUT"
# exec: the background job's pid is then the program's own, whose RSS is sampled.
pin() { if command -v taskset >/dev/null 2>&1; then exec taskset -c "$1" "${@:2}"; else exec "${@:2}"; fi; }

target_log="$OUT/target.out"
pin "$TARGET_CPU" "$TARGET_BIN" --listen 127.0.0.1:0 --threads 1 >"$target_log" 2>&1 &
target_pid=$!
gen_pid=""
cleanup() {
    [ -n "$gen_pid" ] && kill "$gen_pid" 2>/dev/null || true
    kill "$target_pid" 2>/dev/null || true
}
trap cleanup EXIT INT TERM
for _ in $(seq 50); do grep -q '^listening on ' "$target_log" 2>/dev/null && break; sleep 0.1; done
addr=$(sed -n 's/^listening on //p' "$target_log" | head -1)
[ -n "$addr" ] || { echo "stampede-target did not start" >&2; exit 1; }

{
    echo "date: $(date -u +%FT%TZ)"
    echo "host: $(uname -srm), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "run: --rate $RATE --run-time ${DURATION}s --threads $THREADS, RSS every ${SAMPLE}s, warm-up ${WARMUP}s"
    echo "stampede: $($STAMPEDE_BIN --version)"
} >"$OUT/machine.txt"

pin "$GEN_CPU" "$STAMPEDE_BIN" --host "http://$addr/" --rate "$RATE" --run-time "${DURATION}s" \
    --threads "$THREADS" --only-summary --json "$OUT/summary.json" >"$OUT/stampede.out" 2>&1 &
gen_pid=$!
echo "t_s,rss_kb" >"$OUT/rss.csv"
start=$(date +%s)
while kill -0 "$gen_pid" 2>/dev/null; do
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$gen_pid/status" 2>/dev/null || true)
    [ -n "$rss" ] && echo "$(( $(date +%s) - start )),$rss" >>"$OUT/rss.csv"
    sleep "$SAMPLE"
done
wait "$gen_pid" || true
gen_pid=""

python3 - "$OUT" "$RATE" "$WARMUP" <<'EOF'
import csv, json, sys
out, rate, warmup = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
rows = [(int(r["t_s"]), int(r["rss_kb"])) for r in csv.DictReader(open(f"{out}/rss.csv"))]
print("RSS curve (t_s rss_kb):", " ".join(f"{t}:{kb}" for t, kb in rows))
after = [kb for t, kb in rows if t >= warmup] or [kb for _, kb in rows]
growth = after[-1] - after[0]
print(f"RSS after warm-up: first {after[0]} KiB, last {after[-1]} KiB, max {max(after)} KiB, growth {growth} KiB")
s = json.load(open(f"{out}/summary.json"))
series = [p["rps"] for p in s["timeseries"]][:-1]  # the last interval is partial
first, last = series[:60], series[-60:]
mean = lambda xs: sum(xs) / max(len(xs), 1)
drift = (mean(last) - mean(first)) / max(mean(first), 1e-9) * 100
t = s["totals"]
print(f"requests {t['requests']}, failures {t['failures']}, dropped {t['dropped']}, "
      f"mean rps {mean(series):.1f} (asked {rate:.0f}); first minute {mean(first):.1f}, last minute {mean(last):.1f}, drift {drift:+.2f}%")
print(f"latency p50 {t['latency_ms']['p50']} ms, p99 {t['latency_ms']['p99']} ms; generator saturated: {s['generator'].get('saturated')}")
ok = growth < 1024 and abs(drift) < 1.0 and abs(mean(series) - rate) / rate < 0.01
print("PASS" if ok else "FAIL")
EOF
echo "raw results in $OUT"
