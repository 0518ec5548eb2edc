#!/usr/bin/env bash
# What SigV4 signing costs stampede: the same S3-shaped requests to a local
# nginx signed and unsigned, in turns, nginx pinned to one core and stampede
# to the other. The figure is requests per generator CPU-second (requests
# counted by nginx's stub_status, CPU from /usr/bin/time), as in
# bench/compare.sh. Debian's nginx ignores the Authorization header and the
# X-Amz-* query parameters, so it costs the same for both. See bench/README.md.
#
#   get              GET of a 1 KiB object, one fixed URL
#   get-signed       the same, --aws-sigv4 (headers; a fixed request is
#                    signed once a second per user and the signature reused)
#   get-presigned    the same, --aws-sigv4-mode query (presigned URL)
#   get-key          GET of a 1 KiB object whose key changes every request
#   get-key-signed   the same, signed: a full signature every request
#   put              PUT of a 1 MiB body (body_size) to a key that changes
#                    every request, to nginx's discarding sink
#   put-signed       the same, signed (UNSIGNED-PAYLOAD)
#
# Usage: bench/s3.sh                 (as root: installs nginx and time)
# Env:   REPEATS=3 DURATION=10 CONNECTIONS=50 PUT_CONNECTIONS=8
#        VARIANTS="get get-signed get-presigned get-key get-key-signed put put-signed"
#        GEN_CPU=0 SERVER_CPU=1 PAUSE=1
#        STAMPEDE_BIN=path (default: target/release/stampede, built if missing)
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)

REPEATS=${REPEATS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-50}
PUT_CONNECTIONS=${PUT_CONNECTIONS:-8}
VARIANTS=${VARIANTS:-"get get-signed get-presigned get-key get-key-signed put put-signed"}
GEN_CPU=${GEN_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
PAUSE=${PAUSE:-1}
SMALL_BYTES=1024
SCOPE=aws:amz:us-east-1:s3

log() { printf '%s\n' "$*" >&2; }
die() { log "s3.sh: $*"; exit 1; }

[[ $REPEATS =~ ^[1-9][0-9]*$ ]] || die "REPEATS must be a positive integer, got '$REPEATS'"
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "DURATION must be whole seconds, got '$DURATION'"
[[ $CONNECTIONS =~ ^[1-9][0-9]*$ ]] || die "CONNECTIONS must be a positive integer, got '$CONNECTIONS'"
[[ $PUT_CONNECTIONS =~ ^[1-9][0-9]*$ ]] || die "PUT_CONNECTIONS must be a positive integer, got '$PUT_CONNECTIONS'"
for v in $VARIANTS; do
    case $v in get|get-signed|get-presigned|get-key|get-key-signed|put|put-signed) ;;
        *) die "unknown variant '$v' in VARIANTS" ;;
    esac
done
(( $(nproc) > GEN_CPU && $(nproc) > SERVER_CPU )) \
    || die "needs CPUs $GEN_CPU and $SERVER_CPU; this machine has $(nproc)"
(( GEN_CPU != SERVER_CPU )) || die "GEN_CPU and SERVER_CPU must differ"
command -v taskset >/dev/null || die "taskset not found (package util-linux)"
command -v python3 >/dev/null || die "python3 not found"

# --- 1. nginx, time, stampede ------------------------------------------------

NGINX_BIN=$(command -v nginx || true)
[[ -z $NGINX_BIN && -x /usr/sbin/nginx ]] && NGINX_BIN=/usr/sbin/nginx
missing=()
[[ -n $NGINX_BIN ]] || missing+=(nginx)
[[ -x /usr/bin/time ]] || missing+=(time)
if (( ${#missing[@]} > 0 )); then
    (( EUID == 0 )) || die "missing ${missing[*]}; run as root to install them with apt-get"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
    NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
fi
"$NGINX_BIN" -V 2>&1 | grep -q http_stub_status_module \
    || die "$NGINX_BIN was built without stub_status, which counts the requests"

if [[ -z ${STAMPEDE_BIN:-} ]]; then
    STAMPEDE_BIN=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/stampede
    if [[ ! -x $STAMPEDE_BIN ]]; then
        log "building: cargo build --release -p stampede-engine"
        (cd "$REPO_ROOT" && cargo build --release -p stampede-engine) || die "cargo build failed"
    fi
fi
[[ -x $STAMPEDE_BIN ]] || die "stampede binary not found at $STAMPEDE_BIN"

# Keys for the signature: nginx checks nothing, any will do.
export AWS_ACCESS_KEY_ID=AKIDBENCHEXAMPLE
export AWS_SECRET_ACCESS_KEY=bench-secret-not-used-anywhere-else
unset AWS_SESSION_TOKEN AWS_PROFILE

# --- 2. nginx on loopback, pinned to SERVER_CPU -------------------------------

TMP_DIR=$(mktemp -d /tmp/stampede-s3-bench.XXXXXX)
NGINX_PID=""
GEN_PID=""
cleanup() {
    if [[ -n $GEN_PID ]] && kill -0 "$GEN_PID" 2>/dev/null; then
        for child in $(cat /proc/"$GEN_PID"/task/*/children 2>/dev/null); do
            kill -TERM "$child" 2>/dev/null || true
        done
        kill -TERM "$GEN_PID" 2>/dev/null || true
    fi
    if [[ -n $NGINX_PID ]] && kill -0 "$NGINX_PID" 2>/dev/null; then
        kill -TERM "$NGINX_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$NGINX_PID" 2>/dev/null || true
        wait "$NGINX_PID" 2>/dev/null || true
    fi
    if [[ -n ${RUN_DIR:-} && -s $TMP_DIR/error.log ]]; then
        cp "$TMP_DIR/error.log" "$RUN_DIR/nginx-error.log"
    fi
    rm -rf "$TMP_DIR"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
chmod 755 "$TMP_DIR"
mkdir -p "$TMP_DIR/www"
head -c "$SMALL_BYTES" /dev/zero | tr '\0' 'o' >"$TMP_DIR/www/small"
chmod 644 "$TMP_DIR/www/small"
sed -e "s|@DIR@|$TMP_DIR|g" -e "s|@PORT@|$PORT|g" \
    "$BENCH_DIR/s3-nginx.conf.template" >"$TMP_DIR/nginx.conf"
taskset -c "$SERVER_CPU" "$NGINX_BIN" -p "$TMP_DIR" -e "$TMP_DIR/error.log" \
    -c "$TMP_DIR/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!

nginx_requests() {
    python3 - "$URL/nginx_status" <<'EOF'
import sys, urllib.request
lines = urllib.request.urlopen(sys.argv[1], timeout=5).read().decode().splitlines()
print(lines[2].split()[2])
EOF
}
for _ in $(seq 50); do
    nginx_requests >/dev/null 2>&1 && break
    kill -0 "$NGINX_PID" 2>/dev/null || { cat "$TMP_DIR/error.log" >&2; die "nginx did not start"; }
    sleep 0.1
done
nginx_requests >/dev/null || { cat "$TMP_DIR/error.log" >&2; die "nginx is not answering on $URL"; }
NGINX_WORKER=$(cat /proc/"$NGINX_PID"/task/*/children | awk '{print $1}')
[[ -n $NGINX_WORKER ]] || die "could not find the nginx worker process"
CLK_TCK=$(getconf CLK_TCK)

# The routes answer as the runs need: 1 KiB for any key, 200 to a 1 MiB PUT.
python3 - "$URL" "$SMALL_BYTES" <<'EOF' || die "nginx does not serve the bench's routes"
import sys, urllib.request
url, small = sys.argv[1], int(sys.argv[2])
assert len(urllib.request.urlopen(url + "/bucket/obj-1-2").read()) == small
put = urllib.request.Request(url + "/upload/x", data=b"p" * (1 << 20), method="PUT")
assert urllib.request.urlopen(put).status == 200
EOF

server_ticks() { awk '{print $14 + $15}' /proc/"$NGINX_WORKER"/stat; }
cpu_ticks() {
    awk -v g="cpu$GEN_CPU" -v s="cpu$SERVER_CPU" '
        $1 == g { busy = $2 + $3 + $4 + $7 + $8 }
        $1 == g || $1 == s { steal += $9 }
        END { print busy, steal }' /proc/stat
}

RUN_DIR="$BENCH_DIR/results/s3-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$RUN_DIR/raw"
RESULTS="$RUN_DIR/results.tsv"
printf 'variant\trun\twall_s\tuser_s\tsys_s\tcpu_s\tmax_rss_kb\trequests\trps\treq_per_cpu_s\tp50_ms\tp99_ms\tself_requests\tself_failures\tserver_cpu_s\tgen_cpu_busy_s\tsteal_s\n' >"$RESULTS"
{
    echo "date: $(date -Is)"
    echo "host: $(hostname)"
    echo "nproc: $(nproc)"
    echo "cpu: $(lscpu | awk -F: '/^Model name/ {sub(/^ +/, "", $2); print $2; exit}')"
    echo "kernel: $(uname -r)"
    echo "nginx: $("$NGINX_BIN" -v 2>&1)"
    echo "stampede: $STAMPEDE_BIN $("$STAMPEDE_BIN" --version 2>&1 | head -n1 || true)"
    echo "stampede commit: $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo n/a)$(git -C "$REPO_ROOT" diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "settings: REPEATS=$REPEATS DURATION=${DURATION}s CONNECTIONS=$CONNECTIONS PUT_CONNECTIONS=$PUT_CONNECTIONS VARIANTS='$VARIANTS' GEN_CPU=$GEN_CPU SERVER_CPU=$SERVER_CPU"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$RUN_DIR/machine.txt"
cp "$TMP_DIR/nginx.conf" "$RUN_DIR/nginx.conf"
log "nginx $URL (worker $NGINX_WORKER on CPU $SERVER_CPU), stampede on CPU $GEN_CPU; results in $RUN_DIR"

# --- 3. Runs, variants in turns ------------------------------------------------

run_one() {
    local variant=$1 run=$2
    local tag="$variant-$run"
    local json="$RUN_DIR/raw/$tag.json" timef="$RUN_DIR/raw/$tag.time"
    local common=(--host "$URL" --threads 1 -t "${DURATION}s" --json "$json" --only-summary)
    local cmd=()
    case $variant in
        get) cmd=(run --path /bucket/small -u "$CONNECTIONS") ;;
        get-signed) cmd=(run --path /bucket/small -u "$CONNECTIONS" --aws-sigv4 "$SCOPE") ;;
        get-presigned) cmd=(run --path /bucket/small -u "$CONNECTIONS" --aws-sigv4 "$SCOPE"
                            --aws-sigv4-mode query) ;;
        get-key) cmd=(run -f "$BENCH_DIR/s3-get-key.toml" -u "$CONNECTIONS") ;;
        get-key-signed) cmd=(run -f "$BENCH_DIR/s3-get-key.toml" -u "$CONNECTIONS" --aws-sigv4 "$SCOPE") ;;
        put) cmd=(run -f "$BENCH_DIR/s3-put.toml" -u "$PUT_CONNECTIONS") ;;
        put-signed) cmd=(run -f "$BENCH_DIR/s3-put.toml" -u "$PUT_CONNECTIONS" --aws-sigv4 "$SCOPE") ;;
    esac
    cmd=("$STAMPEDE_BIN" "${cmd[@]}" "${common[@]}")
    echo "${cmd[*]}" >"$RUN_DIR/raw/$tag.cmd"
    local before after srv_before srv_after cpu_before cpu_after rc=0
    before=$(nginx_requests)
    srv_before=$(server_ticks)
    cpu_before=$(cpu_ticks)
    /usr/bin/time -o "$timef" -f '%e %U %S %M' taskset -c "$GEN_CPU" "${cmd[@]}" \
        >"$RUN_DIR/raw/$tag.out" 2>"$RUN_DIR/raw/$tag.err" &
    GEN_PID=$!
    wait "$GEN_PID" || rc=$?
    GEN_PID=""
    cpu_after=$(cpu_ticks)
    srv_after=$(server_ticks)
    after=$(nginx_requests)
    (( rc == 0 )) || { tail -n 20 "$RUN_DIR/raw/$tag.err" >&2; die "$variant failed (exit $rc): ${cmd[*]}"; }
    [[ -s $json ]] || die "$variant wrote no JSON at $json"
    local wall user sys rss p50 p99 self_n self_fail
    read -r wall user sys rss < <(tail -n1 "$timef")
    read -r p50 p99 self_n self_fail < <(python3 - "$json" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))["totals"]
print(t["latency_ms"]["p50"], t["latency_ms"]["p99"], t["requests"], t["failures"])
EOF
)
    awk -v variant="$variant" -v run="$run" -v wall="$wall" -v user="$user" -v sys="$sys" \
        -v rss="$rss" -v n="$(( after - before - 1 ))" -v p50="$p50" -v p99="$p99" \
        -v self_n="$self_n" -v self_fail="$self_fail" -v srv="$(( srv_after - srv_before ))" \
        -v tck="$CLK_TCK" -v busy="$(( ${cpu_after% *} - ${cpu_before% *} ))" \
        -v steal="$(( ${cpu_after#* } - ${cpu_before#* } ))" '
        BEGIN {
            cpu = user + sys
            printf "%s\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%d\t%.0f\t%.0f\t%.3f\t%.3f\t%s\t%s\t%.2f\t%.2f\t%.2f\n",
                variant, run, wall, user, sys, cpu, rss, n, n / wall, (cpu > 0 ? n / cpu : 0),
                p50, p99, self_n, self_fail, srv / tck, busy / tck, steal / tck
        }' | tee -a "$RESULTS" | awk -F'\t' '{
            printf "  %-15s run %d: %8d req  %7.0f rps  cpu %5.2f s  %7.0f req/cpu-s  p99 %s ms\n",
                $1, $2, $8, $9, $6, $10, $12
        }' >&2
    sleep "$PAUSE"
}

log "running: $(wc -w <<<"$VARIANTS") variants x $REPEATS x ${DURATION}s"
for run in $(seq "$REPEATS"); do
    for variant in $VARIANTS; do
        run_one "$variant" "$run"
    done
done

# --- 4. Summary ------------------------------------------------------------------

python3 - "$RESULTS" <<'EOF' | tee "$RUN_DIR/summary.txt"
import csv, statistics, sys

rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
variants = list(dict.fromkeys(r["variant"] for r in rows))
med = {}
print("medians of runs; req/CPU-s = nginx-counted requests / stampede's user+sys seconds")
head = ["variant", "runs", "RPS", "CPU s", "req/CPU-s", "min-max", "p50 ms", "p99 ms", "nginx CPU%", "other on gen CPU%"]
table, notes = [], []
for v in variants:
    rs = [r for r in rows if r["variant"] == v]
    rpc = [float(r["req_per_cpu_s"]) for r in rs]
    m = statistics.median(rpc)
    rps = statistics.median(float(r["rps"]) for r in rs)
    med[v] = (m, rps)
    srv = statistics.median(float(r["server_cpu_s"]) / float(r["wall_s"]) * 100 for r in rs)
    other = statistics.median((float(r["gen_cpu_busy_s"]) - float(r["cpu_s"])) / float(r["wall_s"]) * 100 for r in rs)
    table.append([v, str(len(rs)), f"{rps:.0f}", f"{statistics.median(float(r['cpu_s']) for r in rs):.2f}",
                  f"{m:.0f}", f"{min(rpc):.0f}-{max(rpc):.0f}",
                  f"{statistics.median(float(r['p50_ms']) for r in rs):.3f}",
                  f"{statistics.median(float(r['p99_ms']) for r in rs):.3f}", f"{srv:.0f}", f"{other:.0f}"])
    if m > 0 and (max(rpc) - min(rpc)) / m > 0.15:
        notes.append(f"{v}: req/CPU-s spread is over 15% of the median: the host was noisy")
    if other > 5:
        notes.append(f"{v}: other processes and interrupts (loopback softirqs count here) took "
                     f"{other:.0f}% of the generator's CPU: doubtful runs")
    if srv >= 95:
        notes.append(f"{v}: nginx was at {srv:.0f}% CPU, so RPS is nginx's ceiling; compare req/CPU-s")
    for r in rs:
        if int(r["self_failures"]):
            notes.append(f"{v} run {r['run']}: stampede counted {r['self_failures']} failures")
        n, self_n = int(r["requests"]), int(r["self_requests"])
        if n and abs(self_n - n) / n > 0.01:
            notes.append(f"{v} run {r['run']}: stampede counted {self_n} requests, nginx {n}")
widths = [max(len(x) for x in col) for col in zip(head, *table)]
for row in [head] + table:
    print("  ".join(x.rjust(w) if i else x.ljust(w) for i, (x, w) in enumerate(zip(row, widths))))
print()
goals = {"get-signed": ("get", 0.90), "get-presigned": ("get", 0.90),
         "get-key-signed": ("get-key", 0.90), "put-signed": ("put", 0.90)}
for signed, (plain, goal) in goals.items():
    if signed in med and plain in med:
        (s_rpc, s_rps), (p_rpc, p_rps) = med[signed], med[plain]
        verdict = "meets" if s_rpc / p_rpc >= goal else "MISSES"
        print(f"{signed}/{plain}: req/CPU-s {s_rpc / p_rpc:.3f}, RPS {s_rps / p_rps:.3f} "
              f"({verdict} the goal of >= {goal:.2f} in req/CPU-s)")
for note in notes:
    print(f"note: {note}")
EOF
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RUN_DIR/machine.txt"
log "raw results: $RESULTS"
