#!/usr/bin/env bash
# Cost of the web UI and of /metrics: requests per generator CPU-second of
# one stampede run without either ("plain") against the same run with --web
# --autostart --autoquit 0 ("web") while SSE_CLIENTS clients read
# /api/stream and one client polls /api/stats every second, and with
# --metrics while a scraper reads /metrics every second ("metrics"). Modes
# take turns run by run; the verdict is the ratio of the medians (mode /
# plain): web passes within TOLERANCE_PCT (2%), metrics within
# METRICS_TOLERANCE_PCT (1%).
# CPU from /usr/bin/time around the stampede process only; requests from the
# target's own counter. See bench/README.md (compare.sh) for the method.
#
# Usage: bench/web.sh                 (as root: installs nginx, time, curl)
# Env:   REPEATS=5 DURATION=10 USERS=50 SSE_CLIENTS=10 MODES="plain web metrics"
#        TARGET=nginx|stampede-target GEN_CPU=0 SERVER_CPU=1 PAUSE=1
#        TOLERANCE_PCT=2 STAMPEDE_BIN=path (skips the cargo build) SKIP_BUILD=1
#        TARGET_BIN=path (stampede-target, with TARGET=stampede-target)
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)

REPEATS=${REPEATS:-5}
DURATION=${DURATION:-10}          # seconds per run
USERS=${USERS:-50}                # stampede -u (keep-alive connections)
SSE_CLIENTS=${SSE_CLIENTS:-10}    # curl -N readers of /api/stream in web mode
MODES=${MODES:-"plain web metrics"} # the order they take turns in
TARGET=${TARGET:-nginx}           # nginx (as compare.sh) or stampede-target
GEN_CPU=${GEN_CPU:-0}             # stampede runs here, alone
SERVER_CPU=${SERVER_CPU:-1}       # the target and the web clients run here
PAUSE=${PAUSE:-1}                 # seconds of quiet between runs
TOLERANCE_PCT=${TOLERANCE_PCT:-2} # pass when web/plain is within this many %
METRICS_TOLERANCE_PCT=${METRICS_TOLERANCE_PCT:-1} # and metrics/plain within this many %

log() { printf '%s\n' "$*" >&2; }
die() { log "web.sh: $*"; exit 1; }
has_mode() { [[ " $MODES " == *" $1 "* ]]; }

[[ $REPEATS =~ ^[1-9][0-9]*$ ]] || die "REPEATS must be a positive integer, got '$REPEATS'"
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "DURATION must be whole seconds, got '$DURATION'"
[[ $USERS =~ ^[1-9][0-9]*$ ]] || die "USERS must be a positive integer, got '$USERS'"
[[ $SSE_CLIENTS =~ ^[0-9]+$ ]] || die "SSE_CLIENTS must be a whole number, got '$SSE_CLIENTS'"
[[ $TOLERANCE_PCT =~ ^[0-9]+([.][0-9]+)?$ ]] || die "TOLERANCE_PCT must be a number, got '$TOLERANCE_PCT'"
[[ -n $MODES ]] || die "MODES is empty"
for m in $MODES; do
    case $m in plain|web|metrics) ;; *) die "unknown mode '$m' in MODES (known: plain web metrics)";; esac
done
case $TARGET in nginx|stampede-target) ;; *) die "unknown TARGET '$TARGET' (known: nginx stampede-target)";; esac
(( $(nproc) > GEN_CPU && $(nproc) > SERVER_CPU )) \
    || die "needs CPUs $GEN_CPU and $SERVER_CPU; this machine has $(nproc)"
(( GEN_CPU != SERVER_CPU )) || die "GEN_CPU and SERVER_CPU must differ"
command -v taskset >/dev/null || die "taskset not found (package util-linux)"
command -v python3 >/dev/null || die "python3 not found"

# --- 1. Install what is missing ---------------------------------------------

NGINX_BIN=""
if [[ $TARGET == nginx ]]; then
    NGINX_BIN=$(command -v nginx || true)
    [[ -z $NGINX_BIN && -x /usr/sbin/nginx ]] && NGINX_BIN=/usr/sbin/nginx
fi
missing=()
[[ $TARGET == nginx && -z $NGINX_BIN ]] && missing+=(nginx)
[[ -x /usr/bin/time ]] || missing+=(time)
command -v curl >/dev/null || missing+=(curl)
if (( ${#missing[@]} > 0 )); then
    (( EUID == 0 )) || die "missing ${missing[*]}; run as root to install them with apt-get, or install them yourself"
    log "installing: ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
    [[ $TARGET == nginx ]] && NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
fi
if [[ $TARGET == nginx ]]; then
    [[ -x $NGINX_BIN ]] || die "nginx not found after install"
    "$NGINX_BIN" -V 2>&1 | grep -q http_stub_status_module \
        || die "$NGINX_BIN was built without stub_status, which counts the requests"
fi

# --- 2. Build stampede (and stampede-target) ---------------------------------

BIN_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release
STAMPEDE_BIN=${STAMPEDE_BIN:-$BIN_DIR/stampede}
TARGET_BIN=${TARGET_BIN:-$BIN_DIR/stampede-target}
if [[ -z ${SKIP_BUILD:-} ]]; then
    packages=()
    [[ $STAMPEDE_BIN == "$BIN_DIR/stampede" ]] && packages+=(-p stampede-engine)
    [[ $TARGET == stampede-target && $TARGET_BIN == "$BIN_DIR/stampede-target" ]] && packages+=(-p stampede-target)
    if (( ${#packages[@]} > 0 )); then
        log "building: cargo build --release ${packages[*]}"
        (cd "$REPO_ROOT" && cargo build --release "${packages[@]}") || die "cargo build failed"
    fi
fi
[[ -x $STAMPEDE_BIN ]] || die "stampede binary not found at $STAMPEDE_BIN"
[[ $TARGET != stampede-target || -x $TARGET_BIN ]] || die "stampede-target not found at $TARGET_BIN"
if has_mode web && ! "$STAMPEDE_BIN" run --help 2>&1 | grep -q -- '--web'; then
    die "$STAMPEDE_BIN run has no --web (the web UI has not landed in this build); MODES=plain runs the rest"
fi

# --- 3. Start the target on loopback, pinned to SERVER_CPU -------------------

TMP_DIR=$(mktemp -d /tmp/stampede-bench-web.XXXXXX)
SERVER_PID=""
GEN_PID=""
CLIENT_PIDS=()

# Stops the web clients, the generator (if a run was interrupted) and the
# target, then removes the temp dir. Runs on every exit, including Ctrl-C.
stop_clients() {
    local p
    for p in "${CLIENT_PIDS[@]:-}"; do
        if [[ -n $p ]]; then kill -TERM "$p" 2>/dev/null || true; fi
    done
    for p in "${CLIENT_PIDS[@]:-}"; do
        if [[ -n $p ]]; then wait "$p" 2>/dev/null || true; fi
    done
    CLIENT_PIDS=()
}
cleanup() {
    stop_clients
    if [[ -n $GEN_PID ]] && kill -0 "$GEN_PID" 2>/dev/null; then
        # GEN_PID is /usr/bin/time; the generator is its child.
        for child in $(cat /proc/"$GEN_PID"/task/*/children 2>/dev/null); do
            kill -TERM "$child" 2>/dev/null || true
        done
        kill -TERM "$GEN_PID" 2>/dev/null || true
        wait "$GEN_PID" 2>/dev/null || true
    fi
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ -n ${RUN_DIR:-} && -s $TMP_DIR/error.log ]]; then
        cp "$TMP_DIR/error.log" "$RUN_DIR/target-error.log"
    fi
    rm -rf "$TMP_DIR"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

if [[ $TARGET == nginx ]]; then
    PORT=$(free_port)
    chmod 755 "$TMP_DIR"
    mkdir -p "$TMP_DIR/www"
    sed -e "s|@DIR@|$TMP_DIR|g" -e "s|@PORT@|$PORT|g" \
        "$BENCH_DIR/nginx.conf.template" >"$TMP_DIR/nginx.conf"
    taskset -c "$SERVER_CPU" "$NGINX_BIN" -p "$TMP_DIR" -e "$TMP_DIR/error.log" \
        -c "$TMP_DIR/nginx.conf" -g 'daemon off;' &
    SERVER_PID=$!
    URL="http://127.0.0.1:$PORT"
    # nginx's "requests" counter; it counts this read too.
    target_requests() {
        curl -sf --max-time 5 "$URL/nginx_status" | awk 'NR == 3 {print $3}'
    }
    STATUS_READ_COUNTS=1
else
    taskset -c "$SERVER_CPU" "$TARGET_BIN" --listen 127.0.0.1:0 --threads 1 \
        >"$TMP_DIR/target.out" 2>"$TMP_DIR/error.log" &
    SERVER_PID=$!
    for _ in $(seq 50); do
        grep -q '^listening on ' "$TMP_DIR/target.out" 2>/dev/null && break
        sleep 0.1
    done
    ADDR=$(awk '/^listening on / {print $3; exit}' "$TMP_DIR/target.out")
    [[ -n $ADDR ]] || { cat "$TMP_DIR/error.log" >&2; die "stampede-target did not start"; }
    URL="http://$ADDR"
    # stampede-target's counter; /__stats leaves itself out.
    target_requests() {
        curl -sf --max-time 5 "$URL/__stats" | python3 -c 'import json, sys; print(json.load(sys.stdin)["requests"])'
    }
    STATUS_READ_COUNTS=0
fi

for _ in $(seq 50); do
    target_requests >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$TMP_DIR/error.log" >&2; die "$TARGET did not start"; }
    sleep 0.1
done
target_requests >/dev/null || { cat "$TMP_DIR/error.log" >&2; die "$TARGET is not answering on $URL"; }
if [[ $TARGET == nginx ]]; then
    SERVER_WORKER=$(cat /proc/"$SERVER_PID"/task/*/children | awk '{print $1}')
    [[ -n $SERVER_WORKER ]] || die "could not find the nginx worker process"
else
    SERVER_WORKER=$SERVER_PID
fi
CLK_TCK=$(getconf CLK_TCK)

# The target's CPU time (user + sys) in clock ticks.
server_ticks() { awk '{print $14 + $15}' /proc/"$SERVER_WORKER"/stat; }

# "busy steal" clock ticks: all busy time of GEN_CPU, steal of both CPUs.
cpu_ticks() {
    awk -v g="cpu$GEN_CPU" -v s="cpu$SERVER_CPU" '
        $1 == g { busy = $2 + $3 + $4 + $7 + $8 }
        $1 == g || $1 == s { steal += $9 }
        END { print busy, steal }' /proc/stat
}

log "$TARGET $URL: pid $SERVER_WORKER pinned to CPU $(taskset -pc "$SERVER_WORKER" | awk '{print $NF}')"

# --- Results dir and machine description -------------------------------------

RUN_DIR="$BENCH_DIR/results/web-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$RUN_DIR/raw"
RESULTS="$RUN_DIR/results.tsv"
printf 'mode\trun\twall_s\tuser_s\tsys_s\tcpu_s\tmax_rss_kb\trequests\trps\treq_per_cpu_s\tp50_ms\tp99_ms\tself_requests\tself_failures\tsse_clients\tsse_events_min\tsse_events_max\tpolls_ok\tpolls\tserver_cpu_s\tgen_cpu_busy_s\tsteal_s\tshard_cpu_s\tother_cpu_s\n' >"$RESULTS"

{
    echo "date: $(date -Is)"
    echo "host: $(hostname)"
    echo "nproc: $(nproc)"
    echo "cpu: $(lscpu | awk -F: '/^Model name/ {sub(/^ +/, "", $2); print $2; exit}')"
    echo "kernel: $(uname -r)"
    echo "io_uring_disabled: $(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo n/a)"
    echo "memlock limit: $(ulimit -l)"
    if [[ $TARGET == nginx ]]; then
        echo "target: $("$NGINX_BIN" -v 2>&1)"
    else
        echo "target: $TARGET_BIN --threads 1"
    fi
    echo "curl: $(curl --version | head -n1)"
    echo "stampede: $STAMPEDE_BIN $("$STAMPEDE_BIN" --version 2>&1 | head -n1 || true)"
    echo "stampede commit: $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo n/a)$(git -C "$REPO_ROOT" diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "settings: REPEATS=$REPEATS DURATION=${DURATION}s USERS=$USERS SSE_CLIENTS=$SSE_CLIENTS MODES='$MODES' TARGET=$TARGET GEN_CPU=$GEN_CPU SERVER_CPU=$SERVER_CPU TOLERANCE_PCT=$TOLERANCE_PCT"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$RUN_DIR/machine.txt"
[[ $TARGET == nginx ]] && cp "$TMP_DIR/nginx.conf" "$RUN_DIR/nginx.conf"

# --- 4. Runs ------------------------------------------------------------------

# Prints "p50_ms p99_ms requests failures" from stampede's --json summary.
parse_stampede() {
    python3 - "$1" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))["totals"]
print(t["latency_ms"]["p50"], t["latency_ms"]["p99"], t["requests"], t.get("failures", "NA"))
EOF
}

# Waits (at most 10 s) until the server answers PATH (/api/state) with 200.
wait_for_web() {
    local web=$1 path=${2:-/api/state} code
    for _ in $(seq 100); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$web$path" || true)
        [[ $code == 200 ]] && return 0
        kill -0 "$GEN_PID" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# Starts the web clients on SERVER_CPU (off the generator's CPU): SSE readers
# of /api/stream and one poller of /api/stats, each bounded in time; they end
# by themselves when stampede quits and closes their connections.
start_clients() {
    local web=$1 tag=$2 poll_path=${3:-/api/stats} sse=${4:-$SSE_CLIENTS} i limit=$(( DURATION + 30 ))
    for i in $(seq "$sse"); do
        taskset -c "$SERVER_CPU" curl -sN --max-time "$limit" "$web/api/stream" \
            >"$RUN_DIR/raw/$tag.sse$i" 2>/dev/null &
        CLIENT_PIDS+=("$!")
    done
    taskset -c "$SERVER_CPU" bash -c '
        web=$1 out=$2 limit=$3 gen=$4 path=$5
        end=$(( SECONDS + limit ))
        while (( SECONDS < end )) && kill -0 "$gen" 2>/dev/null; do
            curl -s -o /dev/null -w "%{http_code}\n" --max-time 2 "$web$path" >>"$out" || echo 000 >>"$out"
            sleep 1
        done' web-poller "$web" "$RUN_DIR/raw/$tag.polls" "$limit" "$GEN_PID" "$poll_path" &
    CLIENT_PIDS+=("$!")
}

# Samples the CPU ticks of each of stampede's threads every 0.2 s until it
# exits, keeping the last reading: the shard threads (stampede-shard-N) do
# the requests; every other thread (run loop, web server, streams) is what
# watching the run costs. Prints "shard_ticks other_ticks".
thread_ticks() {
    local time_pid=$1 out=$2 pid=""
    for _ in $(seq 50); do
        pid=$(pgrep -P "$time_pid" | head -n1 || true)
        [[ -n $pid ]] && break
        sleep 0.1
    done
    [[ -n $pid ]] || { echo "NA NA" >"$out"; return; }
    while kill -0 "$pid" 2>/dev/null; do
        python3 - "$pid" >"$out.tmp" 2>/dev/null <<'PY' && mv "$out.tmp" "$out"
import os, sys
pid = sys.argv[1]
shard = other = 0
for tid in os.listdir(f"/proc/{pid}/task"):
    try:
        stat = open(f"/proc/{pid}/task/{tid}/stat").read()
    except OSError:
        continue
    comm = stat[stat.index("(") + 1:stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2:].split()
    ticks = int(fields[11]) + int(fields[12])
    if comm.startswith("stampede-shard"):
        shard += ticks
    else:
        other += ticks
print(shard, other)
PY
        sleep 0.2
    done
}

run_one() {
    local mode=$1 run=$2
    local tag="$mode-$run"
    local out="$RUN_DIR/raw/$tag.out" err="$RUN_DIR/raw/$tag.err" timef="$RUN_DIR/raw/$tag.time"
    local json="$RUN_DIR/raw/$tag.json"
    local cmd=("$STAMPEDE_BIN" run --host "$URL/" -u "$USERS" --threads 1 -t "${DURATION}s" --json "$json")
    local web=""
    if [[ $mode == web ]]; then
        local web_port; web_port=$(free_port)
        web="http://127.0.0.1:$web_port"
        cmd+=(--web "127.0.0.1:$web_port" --autostart --autoquit 0)
    elif [[ $mode == metrics ]]; then
        local metrics_port; metrics_port=$(free_port)
        web="http://127.0.0.1:$metrics_port"
        cmd+=(--metrics "127.0.0.1:$metrics_port")
    fi
    echo "${cmd[*]}" >"$RUN_DIR/raw/$tag.cmd"

    local before after srv_before srv_after cpu_before cpu_after rc=0
    before=$(target_requests)
    srv_before=$(server_ticks)
    cpu_before=$(cpu_ticks)
    /usr/bin/time -o "$timef" -f '%e %U %S %M' \
        taskset -c "$GEN_CPU" "${cmd[@]}" >"$out" 2>"$err" &
    GEN_PID=$!
    thread_ticks "$GEN_PID" "$RUN_DIR/raw/$tag.threads" &
    local sampler=$!
    # The sampler and the readers it starts stay off the generator's CPU.
    taskset -cp "$SERVER_CPU" "$sampler" >/dev/null 2>&1 || true
    if [[ $mode == web ]]; then
        if wait_for_web "$web"; then
            start_clients "$web" "$tag"
        else
            log "web: $web/api/state did not answer 200 within 10 s"
        fi
    elif [[ $mode == metrics ]]; then
        if wait_for_web "$web" /metrics; then
            start_clients "$web" "$tag" /metrics 0
        else
            log "metrics: $web/metrics did not answer 200 within 10 s"
        fi
    fi
    wait "$GEN_PID" || rc=$?
    GEN_PID=""
    wait "$sampler" 2>/dev/null || true
    local shard_ticks other_ticks
    read -r shard_ticks other_ticks <"$RUN_DIR/raw/$tag.threads" || { shard_ticks=NA; other_ticks=NA; }
    stop_clients
    kill -0 "$SERVER_WORKER" 2>/dev/null || die "$TARGET stopped during the run (see $RUN_DIR/target-error.log)"
    cpu_after=$(cpu_ticks)
    srv_after=$(server_ticks)
    after=$(target_requests)
    if (( rc != 0 )); then
        log "stampede failed (exit $rc): ${cmd[*]}"
        tail -n 20 "$err" >&2
        die "raw output kept in $RUN_DIR/raw/$tag.*"
    fi
    [[ -s $json ]] || die "stampede exited 0 but wrote no JSON at $json"

    local wall user sys rss p50 p99 self_n self_fail
    read -r wall user sys rss < <(tail -n1 "$timef")
    read -r p50 p99 self_n self_fail < <(parse_stampede "$json")

    # Events each SSE client got, and the poller's answers.
    local sse_min=NA sse_max=NA polls_ok=NA polls=NA
    if [[ $mode == metrics ]]; then
        polls=$(wc -l <"$RUN_DIR/raw/$tag.polls" 2>/dev/null || echo 0)
        polls_ok=$(grep -cx 200 "$RUN_DIR/raw/$tag.polls" 2>/dev/null || true)
    fi
    if [[ $mode == web ]]; then
        local counts=() i
        for i in $(seq "$SSE_CLIENTS"); do
            counts+=("$(grep -c '^data:' "$RUN_DIR/raw/$tag.sse$i" 2>/dev/null || true)")
        done
        if (( SSE_CLIENTS > 0 )); then
            sse_min=$(printf '%s\n' "${counts[@]}" | sort -n | head -n1)
            sse_max=$(printf '%s\n' "${counts[@]}" | sort -n | tail -n1)
        fi
        polls=$(wc -l <"$RUN_DIR/raw/$tag.polls" 2>/dev/null || echo 0)
        polls_ok=$(grep -cx 200 "$RUN_DIR/raw/$tag.polls" 2>/dev/null || true)
    fi

    local requests=$(( after - before - STATUS_READ_COUNTS ))
    awk -v mode="$mode" -v run="$run" -v wall="$wall" -v user="$user" -v sys="$sys" \
        -v rss="$rss" -v n="$requests" -v p50="$p50" -v p99="$p99" -v self_n="$self_n" \
        -v self_fail="$self_fail" -v sse_n="$( [[ $mode == web ]] && echo "$SSE_CLIENTS" || echo NA )" \
        -v sse_min="$sse_min" -v sse_max="$sse_max" -v polls_ok="${polls_ok:-0}" -v polls="$polls" \
        -v srv="$(( srv_after - srv_before ))" -v tck="$CLK_TCK" \
        -v busy="$(( ${cpu_after% *} - ${cpu_before% *} ))" \
        -v steal="$(( ${cpu_after#* } - ${cpu_before#* } ))" \
        -v shard_t="$shard_ticks" -v other_t="$other_ticks" '
        function f3(v) { return (v == "NA" || v == "") ? "NA" : sprintf("%.3f", v) }
        BEGIN {
            cpu = user + sys
            printf "%s\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%d\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%.2f\t%.2f\t%s\t%s\n",
                mode, run, wall, user, sys, cpu, rss, n, n / wall, (cpu > 0 ? n / cpu : 0),
                f3(p50), f3(p99), self_n, self_fail, sse_n, sse_min, sse_max, polls_ok, polls,
                srv / tck, busy / tck, steal / tck,
                (shard_t == "NA" ? "NA" : sprintf("%.2f", shard_t / tck)),
                (other_t == "NA" ? "NA" : sprintf("%.2f", other_t / tck))
        }' | tee -a "$RESULTS" | awk -F'\t' '{
            extra = ($1 == "web") ? sprintf("  sse events %s-%s  polls %s/%s", $16, $17, $18, $19) : ""
            printf "  %-5s run %d: %9d req  %8.0f rps  cpu %5.2f s  %7.0f req/cpu-s  p99 %s ms%s\n",
                $1, $2, $8, $9, $6, $10, $12, extra
        }' >&2
    sleep "$PAUSE"
}

log "running: modes '$MODES' against $TARGET, $REPEATS x ${DURATION}s each: about $(( REPEATS * $(wc -w <<<"$MODES") * (DURATION + PAUSE + 1) )) s"

# Modes take turns within each repeat, so a slow period of the host hits both.
for run in $(seq "$REPEATS"); do
    for mode in $MODES; do
        run_one "$mode" "$run"
    done
done

# --- 5. Summary -----------------------------------------------------------------

verdict=0
python3 - "$RESULTS" "$MODES" "$TOLERANCE_PCT" "$DURATION" "$METRICS_TOLERANCE_PCT" <<'EOF' | tee "$RUN_DIR/summary.txt" || verdict=$?
import csv, statistics, sys

path, modes, tol, duration = sys.argv[1], sys.argv[2].split(), float(sys.argv[3]), float(sys.argv[4])
tolerances = {"web": tol, "metrics": float(sys.argv[5])}
rows = list(csv.DictReader(open(path), delimiter="\t"))

def num(v):
    try:
        return float(v)
    except ValueError:
        return None

def med(rs, key):
    vals = [num(r[key]) for r in rs if num(r[key]) is not None]
    return statistics.median(vals) if vals else None

def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)

print("\nweb UI and /metrics cost (medians of runs; req/CPU-s = target-counted requests / stampede user+sys seconds)")
head = ["mode", "runs", "RPS", "CPU s", "req/CPU-s", "min-max", "spread %", "p50 ms", "p99 ms", "RSS MB", "target CPU%"]
table, medians, notes = [], {}, []
for mode in modes:
    rs = [r for r in rows if r["mode"] == mode]
    if not rs:
        continue
    rpc = [float(r["req_per_cpu_s"]) for r in rs]
    medians[mode] = m = statistics.median(rpc)
    spread = (max(rpc) - min(rpc)) / m * 100 if m > 0 else 0.0
    srv_pct = statistics.median(float(r["server_cpu_s"]) / float(r["wall_s"]) * 100 for r in rs)
    gen_pct = statistics.median(float(r["cpu_s"]) / float(r["wall_s"]) * 100 for r in rs)
    table.append([mode, str(len(rs)), fmt(med(rs, "rps"), ".0f"), fmt(med(rs, "cpu_s"), ".2f"),
                  f"{m:.0f}", f"{min(rpc):.0f}-{max(rpc):.0f}", f"{spread:.1f}",
                  fmt(med(rs, "p50_ms"), ".3f"), fmt(med(rs, "p99_ms"), ".3f"),
                  f"{max(int(r['max_rss_kb']) for r in rs) / 1024:.1f}", f"{srv_pct:.0f}"])
    if spread > 15:
        notes.append(f"{mode}: req/CPU-s spread is over 15% of the median; the host was noisy, repeat with more REPEATS")
    if srv_pct >= 95:
        notes.append(f"{mode}: the target was at {srv_pct:.0f}% CPU, so RPS is its ceiling; compare req/CPU-s, not RPS")
    other_pct = statistics.median((float(r["gen_cpu_busy_s"]) - float(r["cpu_s"])) / float(r["wall_s"]) * 100 for r in rs)
    steal_pct = statistics.median(float(r["steal_s"]) / float(r["wall_s"]) * 100 for r in rs)
    if other_pct > 5:
        notes.append(f"{mode}: other processes took {other_pct:.0f}% of the generator's CPU "
                     f"(it got {gen_pct:.0f}%); its runs are doubtful, rerun on a quiet machine")
    elif gen_pct < 90:
        notes.append(f"{mode}: stampede used only {gen_pct:.0f}% of its CPU, so it was waiting on the target")
    if steal_pct > 2:
        notes.append(f"{mode}: the hypervisor stole {steal_pct:.0f}% of a CPU during its runs")
    failed = sum(int(num(r["self_failures"]) or 0) for r in rs)
    if failed:
        notes.append(f"{mode}: stampede reported {failed} failed requests over its runs; see raw/")
    for r in rs:
        self_n, n = num(r["self_requests"]), int(r["requests"])
        if self_n is not None and n > 0 and abs(self_n - n) / n > 0.01:
            notes.append(f"{mode} run {r['run']}: stampede reported {self_n:.0f} requests, the target counted {n}")
        if mode == "web":
            clients, lo = num(r["sse_clients"]), num(r["sse_events_min"])
            if clients and (lo is None or lo < duration / 2):
                notes.append(f"web run {r['run']}: an SSE client got only {r['sse_events_min']} events "
                             f"in {duration:.0f} s (expected about one a second); the web load was lighter than asked")
        if mode in ("web", "metrics"):
            ok, polls = num(r["polls_ok"]) or 0, num(r["polls"]) or 0
            if polls < duration / 2 or ok < polls:
                what = "/api/stats" if mode == "web" else "/metrics"
                notes.append(f"{mode} run {r['run']}: {what} answered 200 to {ok:.0f} of {polls:.0f} polls")

# The direct measure: CPU of the threads that are not shards (run loop, web
# server, streams), as a share of the process's CPU, per mode. Its difference
# to plain is what watching costs, free of the run-to-run noise in req/CPU-s.
other_share = {}
for mode in modes:
    rs = [r for r in rows if r["mode"] == mode and num(r.get("other_cpu_s", "NA")) is not None]
    if rs:
        other_share[mode] = statistics.median(
            float(r["other_cpu_s"]) / max(float(r["other_cpu_s"]) + float(r["shard_cpu_s"]), 1e-9) * 100 for r in rs)

widths = [max(len(x) for x in col) for col in zip(head, *table)]
for row in [head] + table:
    print("  ".join(x.rjust(wd) if i else x.ljust(wd) for i, (x, wd) in enumerate(zip(row, widths))))

status = 0
judged = [m for m in ("web", "metrics") if m in medians]
if "plain" in medians and medians["plain"] > 0 and judged:
    for mode in judged:
        allowed = tolerances[mode]
        ratio = medians[mode] / medians["plain"]
        print(f"{mode}/plain req per CPU-s (medians): {ratio:.4f} ({(ratio - 1) * 100:+.2f}%)")
        if ratio < 1 - allowed / 100:
            print(f"FAIL: {mode} costs {(1 - ratio) * 100:.2f}% of the requests per CPU-second (allowed: {allowed:g}%)")
            status = 1
        elif ratio > 1 + allowed / 100:
            print(f"PASS: {mode} is not slower; it is {(ratio - 1) * 100:.2f}% faster, which is noise: repeat with more REPEATS")
        else:
            print(f"PASS: {mode} within {allowed:g}%")
    widest = max(float(row[6]) for row in table)
    if widest > min(tolerances[m] for m in judged):
        notes.append(f"the run-to-run spread ({widest:.1f}%) is larger than the tolerance being judged; "
                     f"more REPEATS make the medians steadier")
else:
    print("no verdict: needs plain and at least one of web, metrics in MODES")
if other_share:
    print("CPU of non-shard threads (run loop, web server, streams), share of the process's CPU (medians):")
    for mode, share in other_share.items():
        extra = ""
        if mode != "plain" and "plain" in other_share:
            extra = f"  ({share - other_share['plain']:+.2f} points over plain)"
        print(f"  {mode:8s} {share:.2f}%{extra}")
for note in notes:
    print(f"note: {note}")
sys.exit(status)
EOF

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RUN_DIR/machine.txt"
log ""
log "raw results: $RESULTS"
log "machine:     $RUN_DIR/machine.txt"
log "per-run output: $RUN_DIR/raw/"
exit "$verdict"
