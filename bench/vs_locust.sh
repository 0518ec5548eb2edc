#!/usr/bin/env bash
# stampede against Locust (FastHttpUser and HttpUser) and Goose on the same
# flows: the music API of examples/music.toml against stampede-target, and a
# plain GET against nginx. Each target is pinned to SERVER_CPU, each
# generator to GEN_CPU; tools take turns; requests are counted by the target.
# Then how many Locust processes it takes to match one stampede shard, and
# how close each tool's latency percentiles come to the service times that
# stampede-target (--delay) measures itself. See bench/README.md.
#
# Usage: bench/vs_locust.sh          (as root: installs nginx, time, util-linux,
#                                    and OpenSSL's headers for Goose's build)
# Env:   REPEATS=3 DURATION=10 USERS=50 WAIT_MIN=0 WAIT_MAX=0
#        TOOLS="stampede locust-fast locust-http goose" FLOWS="music get"
#        PROCESSES="1 2 4" (empty: no processes table)
#        DELAY=lognormal:20:0.5 DELAY_SEED=1 LOW_USERS=10 HIGH_USERS=1000
#        ACCURACY_REPEATS=2 (DELAY empty: no accuracy table)
#        GEN_CPU=0 SERVER_CPU=1 PAUSE=1 NICE=-20 STALL_MAX_PCT=1 RETRY_STALLED=1
#        SKIP_BUILD=1 SKIP_GOOSE_BUILD=1
#        STAMPEDE_BIN=path TARGET_BIN=path GOOSE_BIN=path
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)

REPEATS=${REPEATS:-3}
DURATION=${DURATION:-10}          # seconds per run
USERS=${USERS:-50}                # users in the throughput and processes runs
WAIT_MIN=${WAIT_MIN:-0}           # seconds: wait between(WAIT_MIN, WAIT_MAX)
WAIT_MAX=${WAIT_MAX:-0}           # after each task; 0 and 0: no wait
TOOLS=${TOOLS:-"stampede locust-fast locust-http goose"}
FLOWS=${FLOWS:-"music get"}
PROCESSES=${PROCESSES-"1 2 4"}    # locust --processes N on the music flow
DELAY=${DELAY-"lognormal:20:0.5"} # stampede-target --delay for the accuracy runs
DELAY_SEED=${DELAY_SEED:-1}
LOW_USERS=${LOW_USERS:-10}        # accuracy: a load below every tool's limit
HIGH_USERS=${HIGH_USERS:-1000}    # accuracy: Goose's limit and well past Locust's
ACCURACY_REPEATS=${ACCURACY_REPEATS:-2}
GEN_CPU=${GEN_CPU:-0}             # the generator under test runs here
SERVER_CPU=${SERVER_CPU:-1}       # the target (and this script) run here
PAUSE=${PAUSE:-1}                 # seconds of quiet between runs
NICE=${NICE:--20}                 # niceness of the target and generators (root only)
STALL_MAX_PCT=${STALL_MAX_PCT:-1} # a core stalled longer than this % of a run marks it
RETRY_STALLED=${RETRY_STALLED:-1} # 1: run a stalled run once more (both are kept)
RUN_TIMEOUT_S=$(( DURATION + 60 )) # a run that takes longer is killed

log() { printf '%s\n' "$*" >&2; }
die() { log "vs_locust.sh: $*"; exit 1; }
has_tool() { [[ " $TOOLS " == *" $1 "* ]]; }
drop_tool() { TOOLS=$(printf '%s\n' $TOOLS | grep -vx "$1" | xargs || true); }
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
is_secs() { [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; }

for v in REPEATS DURATION USERS LOW_USERS HIGH_USERS ACCURACY_REPEATS; do
    is_uint "${!v}" && (( ${!v} > 0 )) || die "$v must be a positive whole number, got '${!v}'"
done
is_uint "$DELAY_SEED" || die "DELAY_SEED must be a whole number, got '$DELAY_SEED'"
is_secs "$STALL_MAX_PCT" || die "STALL_MAX_PCT must be a number, got '$STALL_MAX_PCT'"
[[ $RETRY_STALLED == [01] ]] || die "RETRY_STALLED must be 0 or 1, got '$RETRY_STALLED'"
(( DURATION >= 5 )) || die "DURATION must be at least 5 seconds (the steady window starts at 2-3 s)"
is_secs "$WAIT_MIN" && is_secs "$WAIT_MAX" || die "WAIT_MIN and WAIT_MAX are seconds, such as 0.1"
awk -v a="$WAIT_MIN" -v b="$WAIT_MAX" 'BEGIN { exit !(a <= b) }' || die "WAIT_MIN must not exceed WAIT_MAX"
for t in $TOOLS; do
    case $t in stampede|locust-fast|locust-http|goose) ;;
        *) die "unknown tool '$t' in TOOLS (known: stampede locust-fast locust-http goose)";; esac
done
for f in $FLOWS; do
    case $f in music|get) ;; *) die "unknown flow '$f' in FLOWS (known: music get)";; esac
done
for n in $PROCESSES; do
    is_uint "$n" && (( n >= 1 && n <= 64 )) || die "PROCESSES holds counts from 1 to 64, got '$n'"
done
NPROC=$(nproc)  # before this script pins itself to one core
(( NPROC > GEN_CPU && NPROC > SERVER_CPU )) \
    || die "needs CPUs $GEN_CPU and $SERVER_CPU; this machine has $NPROC"
(( GEN_CPU != SERVER_CPU )) || die "GEN_CPU and SERVER_CPU must differ"
[[ $NICE =~ ^-?[0-9]+$ ]] && (( NICE >= -20 && NICE <= 19 )) || die "NICE must be from -20 to 19, got '$NICE'"
# Other work on a shared machine takes turns with the bench on both cores;
# a lower niceness keeps it from stalling the target and the generator.
(( EUID == 0 || NICE >= 0 )) || { log "note: not root, so NICE=$NICE cannot apply; running at 0"; NICE=0; }

# --- 1. Install what is missing ------------------------------------------------

NGINX_BIN=$(command -v nginx || true)
[[ -z $NGINX_BIN && -x /usr/sbin/nginx ]] && NGINX_BIN=/usr/sbin/nginx
missing=()
[[ " $FLOWS " == *" get "* && -z $NGINX_BIN ]] && missing+=(nginx)
[[ -x /usr/bin/time ]] || missing+=(time)
command -v taskset >/dev/null || missing+=(util-linux)
command -v timeout >/dev/null || missing+=(coreutils)
command -v python3 >/dev/null || missing+=(python3)
# Goose's HTTP client (reqwest with native TLS) builds against OpenSSL.
if has_tool goose && [[ -z ${SKIP_GOOSE_BUILD:-} ]] && ! pkg-config --exists openssl 2>/dev/null; then
    missing+=(pkg-config libssl-dev)
fi
if (( ${#missing[@]} > 0 )); then
    (( EUID == 0 )) || die "missing ${missing[*]}; run as root to install them with apt-get, or install them yourself"
    log "installing: ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
    NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
fi
if [[ " $FLOWS " == *" get "* ]]; then
    [[ -x $NGINX_BIN ]] || die "nginx not found after install"
    "$NGINX_BIN" -V 2>&1 | grep -q http_stub_status_module \
        || die "$NGINX_BIN was built without stub_status, which counts the requests"
fi

# Locust, pinned, in the venv tests/python-env.sh makes (once).
VENV_BIN=""
if has_tool locust-fast || has_tool locust-http || [[ -n $PROCESSES ]]; then
    VENV_BIN=$("$REPO_ROOT/tests/python-env.sh") || die "tests/python-env.sh could not make the Locust venv"
    LOCUST_BIN=$VENV_BIN/locust
    [[ -x $LOCUST_BIN ]] || die "no locust in $VENV_BIN"
fi

# --- 2. Build stampede, stampede-target and the Goose test ---------------------

TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
STAMPEDE_BIN=${STAMPEDE_BIN:-$TARGET_DIR/release/stampede}
TARGET_BIN=${TARGET_BIN:-$TARGET_DIR/release/stampede-target}
if [[ -z ${SKIP_BUILD:-} ]]; then
    log "building: cargo build --release -p stampede-engine -p stampede-target"
    (cd "$REPO_ROOT" && cargo build --release -p stampede-engine -p stampede-target) \
        || die "cargo build failed"
fi
[[ -x $STAMPEDE_BIN ]] || die "stampede binary not found at $STAMPEDE_BIN"
[[ -x $TARGET_BIN ]] || die "stampede-target binary not found at $TARGET_BIN"
"$TARGET_BIN" --help | grep -q -- '--delay SPEC' || die "$TARGET_BIN has no --delay; rebuild it"

GOOSE_NOTE=""
if has_tool goose; then
    GOOSE_BIN=${GOOSE_BIN:-$BENCH_DIR/goose/target/release/goose-bench}
    if [[ -z ${SKIP_GOOSE_BUILD:-} ]]; then
        log "building: cargo build --release --manifest-path bench/goose/Cargo.toml"
        if ! (cd "$BENCH_DIR/goose" && cargo build --release 2>&1 | tail -n 30 >&2; exit "${PIPESTATUS[0]}"); then
            GOOSE_NOTE="goose: the Goose load test (bench/goose) did not build here; Goose is left out"
        fi
    fi
    if [[ -z $GOOSE_NOTE && ! -x $GOOSE_BIN ]]; then
        GOOSE_NOTE="goose: no binary at $GOOSE_BIN; Goose is left out"
    fi
    if [[ -n $GOOSE_NOTE ]]; then
        log "note: $GOOSE_NOTE"
        drop_tool goose
    fi
fi
[[ -n $TOOLS ]] || die "no tools left to run"

# From here on this script and its helpers run on the server's core, so the
# generator's core carries only the generator.
taskset -pc "$SERVER_CPU" $$ >/dev/null

# --- 3. Temp dir, flows, helpers ------------------------------------------------

TMP_DIR=$(mktemp -d /tmp/stampede-vs-locust.XXXXXX)
chmod 755 "$TMP_DIR"
SERVER_PID=""
SERVER_KIND=""
GEN_PID=""
WATCH_PIDS=()
LAST_STALLED=0

# Kills a process and its descendants, children first.
kill_tree() {
    local pid=$1 child
    for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
        kill_tree "$child"
    done
    kill -TERM "$pid" 2>/dev/null || true
}

stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    SERVER_KIND=""
}

cleanup() {
    if [[ -n $GEN_PID ]] && kill -0 "$GEN_PID" 2>/dev/null; then
        kill_tree "$GEN_PID"
    fi
    (( ${#WATCH_PIDS[@]} == 0 )) || kill -TERM "${WATCH_PIDS[@]}" 2>/dev/null || true
    stop_server
    if [[ -n ${RUN_DIR:-} && -s $TMP_DIR/error.log ]]; then
        cp "$TMP_DIR/error.log" "$RUN_DIR/nginx-error.log"
    fi
    rm -rf "$TMP_DIR"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# Accounts: examples/music-target-accounts.csv has four listeners, so only
# four of 50 users would run. The bench writes the same two-column format
# with one listener per user (and spare rows: Locust workers take every
# N-th row), plus the admin for the target.
max_procs=1
for n in $PROCESSES; do (( n > max_procs )) && max_procs=$n; done
ACCOUNTS_N=$(( USERS + max_procs + 16 ))
{
    echo "username,password"
    for i in $(seq "$ACCOUNTS_N"); do printf 'listener%04d,pw-%04d\n' "$i" "$i"; done
} >"$TMP_DIR/accounts.csv"
{ echo "username,password"; echo "admin,admin-pw"; tail -n +2 "$TMP_DIR/accounts.csv"; } \
    >"$TMP_DIR/target-accounts.csv"

if awk -v b="$WAIT_MAX" 'BEGIN { exit !(b > 0) }'; then
    WAIT_EXPR="between($WAIT_MIN, $WAIT_MAX)"
else
    WAIT_EXPR="none"
fi

# stampede's music flow: examples/music.toml itself, with the bench's
# accounts file and wait, and without its thresholds (they only set the
# exit code). -u, -r and -t on the command line override the rest.
sed -e "s|^file = \"music-accounts.csv\".*|file = \"$TMP_DIR/accounts.csv\"|" \
    -e "s|^wait = .*|wait = \"$WAIT_EXPR\"|" \
    -e '/^\[thresholds\]/,$d' \
    "$REPO_ROOT/examples/music.toml" >"$TMP_DIR/music.toml"
grep -q "^file = \"$TMP_DIR/accounts.csv\"" "$TMP_DIR/music.toml" \
    && grep -q "^wait = \"$WAIT_EXPR\"" "$TMP_DIR/music.toml" \
    || die "examples/music.toml changed shape: its feeder file or wait line was not found"

# stampede's get flow: one task, one GET, as bench/locust/get.py.
write_get_toml() {
    cat >"$1" <<EOF
[[user]]
name = "getter"
wait = "$2"
[[user.task]]
name = "get"
[[user.task.step]]
path = "/"
EOF
}
write_get_toml "$TMP_DIR/get.toml" "$WAIT_EXPR"
write_get_toml "$TMP_DIR/get-nowait.toml" "none"

# One helper for every look at the target and the generator: counts,
# /__stats, and the generator tree's CPU ticks and RSS.
cat >"$TMP_DIR/probe.py" <<'EOF'
import json, os, sys, time, urllib.request

def count(url, kind):
    if kind == "nginx":
        lines = urllib.request.urlopen(url + "/nginx_status", timeout=5).read().decode().splitlines()
        return int(lines[2].split()[2])  # counts this request too
    return json.load(urllib.request.urlopen(url + "/__stats", timeout=5))["requests"]

def tree(pid):
    pids, todo = [], [pid]
    while todo and len(pids) < 10000:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += f.read().split()
        except OSError:
            pass
    return pids

def cpu_rss(pid):
    """CPU ticks, resident KiB and run-queue wait (ns) of a process and its descendants."""
    ticks = rss_kb = wait_ns = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
            with open(f"/proc/{p}/status") as f:
                rss_kb += next((int(l.split()[1]) for l in f if l.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/schedstat") as f:
                    wait_ns += int(f.read().split()[1])  # time runnable but not running
        except (OSError, StopIteration, IndexError):
            pass
    return ticks, rss_kb, wait_ns

def cpu_busy(cpus):
    """Busy ticks (all but idle and iowait) of each CPU, and steal of all of them."""
    busy, steal = {}, 0
    with open("/proc/stat") as f:
        for line in f:
            name, *v = line.split()
            if name in cpus:
                v = [int(x) for x in v]
                busy[name] = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
                steal += v[7]
    return [busy[c] for c in cpus] + [steal]

def watch(out):
    """Until SIGTERM: wakes every 10 ms and adds up how late each wake-up
    was (beyond 20 ms), which is how long this core ran nothing of ours,
    whatever the reason (a host that stops the virtual CPU included)."""
    import signal
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    interval, stalled, worst = 0.01, 0.0, 0.0
    last = time.monotonic()
    while not stop:
        time.sleep(interval)
        now = time.monotonic()
        late = now - last - interval
        if late > 0.02:
            stalled += late
            worst = max(worst, late)
        last = now
    with open(out, "w") as f:
        f.write(f"{stalled:.3f} {worst:.3f}\n")

mode = sys.argv[1]
if mode == "watch":
    watch(sys.argv[2])
elif mode == "count":
    print(count(sys.argv[2], sys.argv[3]))
elif mode == "stats":
    print(urllib.request.urlopen(sys.argv[2] + "/__stats", timeout=5).read().decode())
elif mode == "reset":
    urllib.request.urlopen(urllib.request.Request(sys.argv[2] + "/__reset", method="POST"), timeout=5).read()
elif mode == "sample":
    # URL KIND GEN_PID SERVER_PID GEN_CPU SERVER_CPU
    n = count(sys.argv[2], sys.argv[3])
    ticks, rss, wait = cpu_rss(sys.argv[4])
    srv_ticks, _, srv_wait = cpu_rss(sys.argv[5])
    busy_gen, busy_srv, steal = cpu_busy([f"cpu{sys.argv[6]}", f"cpu{sys.argv[7]}"])
    print(f"{time.time():.3f} {n} {ticks} {rss} {srv_ticks} {busy_gen} {busy_srv} {steal} {wait} {srv_wait}")
EOF
probe() { python3 "$TMP_DIR/probe.py" "$@"; }
CLK_TCK=$(getconf CLK_TCK)

# Starts stampede-target (ARGS: its extra flags) pinned to SERVER_CPU.
start_target() {
    stop_server
    nice -n "$NICE" taskset -c "$SERVER_CPU" "$TARGET_BIN" --listen 127.0.0.1:0 --threads 1 \
        --accounts "$TMP_DIR/target-accounts.csv" "$@" >"$TMP_DIR/target.out" 2>"$TMP_DIR/target.err" &
    SERVER_PID=$!
    SERVER_KIND=target
    local line=""
    for _ in $(seq 100); do
        line=$(head -n1 "$TMP_DIR/target.out" 2>/dev/null || true)
        [[ $line == "listening on "* ]] && break
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$TMP_DIR/target.err" >&2; die "stampede-target did not start"; }
        sleep 0.1
    done
    [[ $line == "listening on "* ]] || die "stampede-target printed no address"
    URL="http://${line#listening on }"
    SERVER_WORKER=$SERVER_PID
    log "stampede-target $URL (pid $SERVER_PID, CPU $SERVER_CPU) $*"
}

start_nginx() {
    stop_server
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    URL="http://127.0.0.1:$port"
    mkdir -p "$TMP_DIR/www"
    sed -e "s|@DIR@|$TMP_DIR|g" -e "s|@PORT@|$port|g" \
        "$BENCH_DIR/nginx.conf.template" >"$TMP_DIR/nginx.conf"
    nice -n "$NICE" taskset -c "$SERVER_CPU" "$NGINX_BIN" -p "$TMP_DIR" -e "$TMP_DIR/error.log" \
        -c "$TMP_DIR/nginx.conf" -g 'daemon off;' &
    SERVER_PID=$!
    SERVER_KIND=nginx
    for _ in $(seq 50); do
        probe count "$URL" nginx >/dev/null 2>&1 && break
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$TMP_DIR/error.log" >&2; die "nginx did not start"; }
        sleep 0.1
    done
    probe count "$URL" nginx >/dev/null || die "nginx is not answering on $URL"
    SERVER_WORKER=$(cat /proc/"$SERVER_PID"/task/*/children | awk '{print $1}')
    [[ -n $SERVER_WORKER ]] || die "could not find the nginx worker process"
    log "nginx $URL (worker $SERVER_WORKER, CPU $SERVER_CPU)"
}

server_ticks() { awk '{print $14 + $15}' /proc/"$SERVER_WORKER"/stat; }

# Sleeps until T0 + OFFSET seconds (T0 from date +%s.%N).
sleep_until() {
    local s
    s=$(awk -v t0="$1" -v d="$2" -v now="$(date +%s.%N)" 'BEGIN { s = t0 + d - now; printf "%.3f", (s > 0 ? s : 0) }')
    sleep "$s"
}

# --- 4. Results dir and machine description --------------------------------------

RUN_DIR="$BENCH_DIR/results/vs-locust-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$RUN_DIR/raw"
RESULTS="$RUN_DIR/results.tsv"
printf 'section\tflow\ttool\trun\tusers\tprocs\twall_s\tuser_s\tsys_s\tcpu_s\tmax_rss_kb\trequests\tself_requests\tself_failures\tp50_ms\tp95_ms\tp99_ms\twin_s\twin_requests\twin_cpu_s\twin_rss_kb\twin_srv_cpu_s\tother_gen_cpu_s\tother_srv_cpu_s\tsteal_s\tgen_wait_s\tsrv_wait_s\tserver_cpu_s\tsrv_non2xx\tsrv_p50_ms\tsrv_p95_ms\tsrv_p99_ms\tdrawn_p50_ms\tdrawn_p95_ms\tdrawn_p99_ms\tlogins_once\tlogins_more\tadmin_logins\tstall_gen_s\tstall_srv_s\tstalled\tattempt\n' >"$RESULTS"

{
    echo "date: $(date -Is)"
    echo "host: $(hostname)"
    echo "nproc: $NPROC"
    echo "cpu: $(lscpu | awk -F: '/^Model name/ {sub(/^ +/, "", $2); print $2; exit}')"
    echo "kernel: $(uname -r)"
    echo "memlock limit: $(ulimit -l)"
    echo "stampede: $("$STAMPEDE_BIN" --version 2>&1 | head -n1 || true)"
    echo "stampede commit: $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo n/a)$(git -C "$REPO_ROOT" diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
    [[ -n $VENV_BIN ]] && echo "locust: $("$LOCUST_BIN" --version 2>&1 | head -n1)"
    [[ -n $VENV_BIN ]] && echo "python packages: $("$VENV_BIN/python" -m pip list --disable-pip-version-check 2>/dev/null | awk '$1 ~ /^(gevent|geventhttpclient|requests|urllib3)$/ {printf "%s %s; ", $1, $2}')"
    has_tool goose && echo "goose: $(awk -F'"' '/^name = "goose"$/ {getline; print $2}' "$BENCH_DIR/goose/Cargo.lock" 2>/dev/null || echo '?') (bench/goose, Cargo.lock)"
    [[ -n $GOOSE_NOTE ]] && echo "$GOOSE_NOTE"
    [[ -n $NGINX_BIN ]] && echo "nginx: $("$NGINX_BIN" -v 2>&1)"
    echo "niceness of the target and generators: $NICE"
    echo "settings: REPEATS=$REPEATS DURATION=${DURATION}s USERS=$USERS WAIT='$WAIT_EXPR' TOOLS='$TOOLS' FLOWS='$FLOWS' PROCESSES='$PROCESSES' DELAY='$DELAY' DELAY_SEED=$DELAY_SEED LOW_USERS=$LOW_USERS HIGH_USERS=$HIGH_USERS ACCURACY_REPEATS=$ACCURACY_REPEATS GEN_CPU=$GEN_CPU SERVER_CPU=$SERVER_CPU"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$RUN_DIR/machine.txt"
cp "$TMP_DIR/music.toml" "$TMP_DIR/get.toml" "$RUN_DIR/"

# --- 5. One run ------------------------------------------------------------------------

# Prints "p50 p95 p99 requests failures" (ms; NA where unknown) from a tool's output.
parse_stampede() {
    python3 - "$1" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))["totals"]
l = t["latency_ms"]
print(l["p50"], l["p95"], l["p99"], t["requests"], t["failures"])
EOF
}
# Locust's own percentile function over its merged response-time buckets:
# exactly what its report would print for an "Aggregated" row.
parse_locust() {
    "$VENV_BIN/python" - "$1" <<'EOF'
import json, sys
from collections import Counter
from locust.stats import calculate_response_time_percentile
entries = json.load(open(sys.argv[1]))
times = Counter()
for e in entries:
    times.update({int(k): v for k, v in e["response_times"].items()})
n = sum(e["num_requests"] for e in entries)
fails = sum(e["num_failures"] for e in entries)
p = [calculate_response_time_percentile(times, n, q) if n else "NA" for q in (0.5, 0.95, 0.99)]
print(*p, n, fails)
EOF
}
# Goose's own percentile rule (goose 0.19 src/metrics.rs,
# response_time_percentile) over its microsecond buckets merged across
# requests: the precision of its console table, which has no p95; the
# report file's own percentile table is in whole milliseconds.
parse_goose() {
    python3 - "$1" <<'EOF'
import json, sys
from collections import Counter
d = json.load(open(sys.argv[1]))
reqs = d["raw_metrics"]["requests"].values()
times, total, fails, lo, hi = Counter(), 0, 0, None, 0
for r in reqs:
    raw = r["raw_data"]
    times.update({int(k): v for k, v in raw["times_us"].items()})
    total += raw["counter"]
    fails += r["fail_count"]
    if raw["counter"]:
        lo = raw["minimum_time_us"] if lo is None else min(lo, raw["minimum_time_us"])
        hi = max(hi, raw["maximum_time_us"])

def bucket_value(us):  # goose src/metrics/buckets.rs: 64 sub-buckets per power of two
    bits = 0 if us < 128 else us.bit_length() - 1 - 6
    return ((us >> bits) << bits) + ((1 << bits) >> 1)

def percentile(q):
    rank = int(total * q + 0.5)  # Rust rounds halves away from zero
    if total == 0:
        return "NA"
    if rank >= total:
        return hi / 1000
    if rank <= 1:
        return lo / 1000
    seen = 0
    for us in sorted(times):
        seen += times[us]
        if seen >= rank:
            return min(max(bucket_value(us), lo), hi) / 1000
    return hi / 1000

print(*(percentile(q) for q in (0.5, 0.95, 0.99)), sum(r["success_count"] + r["fail_count"] for r in reqs), fails)
EOF
}

# measure SECTION FLOW TOOL RUN USERS PROCS: one run, and with
# RETRY_STALLED one more when a core stalled during it.
measure() {
    run_one "$@" 1
    if (( LAST_STALLED && RETRY_STALLED )); then
        log "  (a core stalled during that run: once more)"
        run_one "$@" 2
    fi
}

# run_one SECTION FLOW TOOL RUN USERS PROCS ATTEMPT: one run, one TSV line;
# sets LAST_STALLED to 1 when a core stalled for over STALL_MAX_PCT of it.
run_one() {
    local section=$1 flow=$2 tool=$3 run=$4 users=$5 procs=$6 attempt=$7
    local tag="$section-$flow-$tool-u$users-p$procs-$run"
    (( attempt > 1 )) && tag+="-again"
    local out="$RUN_DIR/raw/$tag.out" err="$RUN_DIR/raw/$tag.err" timef="$RUN_DIR/raw/$tag.time"
    local json="$RUN_DIR/raw/$tag.json"
    local wait_min=$WAIT_MIN wait_max=$WAIT_MAX toml="$TMP_DIR/$flow.toml"
    if [[ $section == accuracy-* ]]; then
        wait_min=0 wait_max=0 toml="$TMP_DIR/get-nowait.toml"
    fi
    local cmd=() envs=(BENCH_ACCOUNTS="$TMP_DIR/accounts.csv" BENCH_WAIT_MIN="$wait_min" BENCH_WAIT_MAX="$wait_max")
    case $tool in
        stampede)
            cmd=("$STAMPEDE_BIN" run -f "$toml" --host "$URL" -u "$users" -r "$users"
                 --threads 1 -t "${DURATION}s" --json "$json") ;;
        locust-fast|locust-http)
            envs+=(BENCH_CLIENT="${tool#locust-}")
            cmd=("$LOCUST_BIN" -f "$BENCH_DIR/locust/$flow.py" --headless -u "$users" -r "$users"
                 -t "${DURATION}s" -H "$URL" --json-file "${json%.json}" --only-summary
                 --loglevel WARNING)
            (( procs > 0 )) && cmd+=(--processes "$procs") ;;
        goose)
            envs+=(BENCH_FLOW="$flow")
            cmd=("$GOOSE_BIN" -H "$URL" -u "$users" -r "$users" -t "${DURATION}s"
                 --no-reset-metrics --report-file "$json" -q) ;;
    esac
    echo "env ${envs[*]} ${cmd[*]}" >"$RUN_DIR/raw/$tag.cmd"

    local before srv_before rc=0
    if [[ $SERVER_KIND == target ]]; then
        probe reset "$URL"
    fi
    before=$(probe count "$URL" "$SERVER_KIND")
    srv_before=$(server_ticks)
    # A watcher on each core notes the time it could not run (see probe.py).
    local cpu
    WATCH_PIDS=()
    for cpu in "$GEN_CPU" "$SERVER_CPU"; do
        rm -f "$TMP_DIR/stall.$cpu"
        nice -n "$NICE" taskset -c "$cpu" python3 "$TMP_DIR/probe.py" watch "$TMP_DIR/stall.$cpu" &
        WATCH_PIDS+=($!)
    done
    sleep 0.2
    local t0; t0=$(date +%s.%N)
    /usr/bin/time -o "$timef" -f '%e %U %S %M' \
        timeout --kill-after=10 "$RUN_TIMEOUT_S" \
        nice -n "$NICE" taskset -c "$GEN_CPU" env "${envs[@]}" "${cmd[@]}" >"$out" 2>"$err" &
    GEN_PID=$!
    # The steady window: from 3 s (2 s on short runs) after launch, when
    # every tool has started and spawned its users, to 1 s before the end.
    # The samples run as nice as the target, or a busy target would hold
    # them back on its core.
    local w0=3; (( DURATION < 8 )) && w0=2
    local s1 s2
    sleep_until "$t0" "$w0"
    s1=$(nice -n "$NICE" python3 "$TMP_DIR/probe.py" sample "$URL" "$SERVER_KIND" "$GEN_PID" "$SERVER_WORKER" "$GEN_CPU" "$SERVER_CPU")
    sleep_until "$t0" "$(( DURATION - 1 ))"
    s2=$(nice -n "$NICE" python3 "$TMP_DIR/probe.py" sample "$URL" "$SERVER_KIND" "$GEN_PID" "$SERVER_WORKER" "$GEN_CPU" "$SERVER_CPU")
    wait "$GEN_PID" || rc=$?
    GEN_PID=""
    kill -TERM "${WATCH_PIDS[@]}" 2>/dev/null || true
    wait "${WATCH_PIDS[@]}" 2>/dev/null || true
    WATCH_PIDS=()
    local stall_gen stall_srv _worst
    read -r stall_gen _worst <"$TMP_DIR/stall.$GEN_CPU" || stall_gen=NA
    read -r stall_srv _worst <"$TMP_DIR/stall.$SERVER_CPU" || stall_srv=NA
    kill -0 "$SERVER_WORKER" 2>/dev/null || die "the target stopped during the run"
    local srv_after after
    srv_after=$(server_ticks)
    after=$(probe count "$URL" "$SERVER_KIND")
    # Locust exits 1 when a request failed; its stats are whole all the same.
    if (( rc != 0 )) && ! [[ $tool == locust-* && $rc == 1 && -s $json ]]; then
        log "$tool failed (exit $rc): ${cmd[*]}"
        tail -n 20 "$err" >&2
        die "raw output kept in $RUN_DIR/raw/$tag.*"
    fi

    # nginx counts each status read: the "after" read and the two samples.
    local requests=$(( after - before )) win_requests
    local st1 n1 c1 sc1 bg1 bs1 sl1 w1 sw1 st2 n2 c2 rss2 sc2 bg2 bs2 sl2 w2 sw2
    read -r st1 n1 c1 _ sc1 bg1 bs1 sl1 w1 sw1 <<<"$s1"
    read -r st2 n2 c2 rss2 sc2 bg2 bs2 sl2 w2 sw2 <<<"$s2"
    win_requests=$(( n2 - n1 ))
    # A sample that lost the generator (its tree vanished) voids the window.
    if (( c2 < c1 || rss2 == 0 )); then
        log "  note: the window's second sample did not find $tool's processes; window left out"
        st2=$st1
    fi
    if [[ $SERVER_KIND == nginx ]]; then
        requests=$(( requests - 3 ))
        win_requests=$(( win_requests - 1 ))
    fi

    local p50 p95 p99 self_n self_fail
    case $tool in
        stampede) read -r p50 p95 p99 self_n self_fail < <(parse_stampede "$json") ;;
        locust-*) read -r p50 p95 p99 self_n self_fail < <(parse_locust "$json") ;;
        goose) read -r p50 p95 p99 self_n self_fail < <(parse_goose "$json") ;;
    esac

    # What the target saw: non-2xx, its service times, the logins.
    local srv="NA NA NA NA NA NA NA NA NA NA"
    if [[ $SERVER_KIND == target ]]; then
        srv=$(probe stats "$URL" | python3 -c '
import json, sys
d = json.load(sys.stdin)
s = d.get("service_ms")
f = lambda x, k: "NA" if x is None else x[k]
logins = d.get("logins", {})
users = [n for name, n in logins.items() if name != "admin"]
print(sum(d.get("statuses", {}).values()),
      f(s, "p50"), f(s, "p95"), f(s, "p99"),
      "NA" if s is None else s["drawn"]["p50"], "NA" if s is None else s["drawn"]["p95"],
      "NA" if s is None else s["drawn"]["p99"],
      sum(1 for n in users if n == 1), sum(1 for n in users if n > 1), logins.get("admin", 0))')
    fi

    local wall user sys rss stalled
    read -r wall user sys rss < <(tail -n1 "$timef")
    stalled=$(awk -v g="$stall_gen" -v s="$stall_srv" -v w="$wall" -v p="$STALL_MAX_PCT" \
        'BEGIN { print ((g == "NA" || s == "NA" || g > w * p / 100 || s > w * p / 100) ? 1 : 0) }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$section" "$flow" "$tool" "$run" "$users" "$procs" "$wall" "$user" "$sys" \
        "$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')" "$rss" "$requests" \
        "$self_n" "$self_fail" "$p50" "$p95" "$p99" \
        "$(awk -v a="$st1" -v b="$st2" 'BEGIN { printf "%.3f", b - a }')" "$win_requests" \
        "$(awk -v a="$c1" -v b="$c2" -v t="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / t }')" "$rss2" \
        "$(awk -v a="$sc1" -v b="$sc2" -v t="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / t }')" \
        "$(awk -v a="$bg1" -v b="$bg2" -v g="$(( c2 - c1 ))" -v t="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a - g) / t }')" \
        "$(awk -v a="$bs1" -v b="$bs2" -v g="$(( sc2 - sc1 ))" -v t="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a - g) / t }')" \
        "$(awk -v a="$sl1" -v b="$sl2" -v t="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / t }')" \
        "$(awk -v a="$w1" -v b="$w2" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')" \
        "$(awk -v a="$sw1" -v b="$sw2" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')" \
        "$(awk -v a="$srv_before" -v b="$srv_after" -v t="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / t }')" \
        "$(tr ' ' '\t' <<<"$srv")" "$stall_gen" "$stall_srv" "$stalled" "$attempt" >>"$RESULTS"
    tail -n1 "$RESULTS" | awk -F'\t' '{
        printf "  %-15s %-6s %-12s u%-4s p%s run %s: %8d req  %7.0f rps  cpu %5.2f s  %7.0f req/cpu-s  p50/p95/p99 %s/%s/%s ms  fail %s  stall %s/%s s\n",
            $1, $2, $3, $5, $6, $4, $12, ($18 > 0 ? $19 / $18 : 0), $10, ($10 > 0 ? $12 / $10 : 0), $15, $16, $17, $14, $(NF - 3), $(NF - 2)
    }' >&2
    LAST_STALLED=$stalled
    sleep "$PAUSE"
}

# --- 6. The runs ----------------------------------------------------------------------

n_thr=$(( $(wc -w <<<"$FLOWS") * $(wc -w <<<"$TOOLS") * REPEATS ))
n_proc=0
[[ " $FLOWS " == *" music "* ]] && n_proc=$(( $(wc -w <<<"$PROCESSES") * REPEATS ))
n_acc=0
[[ -n $DELAY ]] && n_acc=$(( 2 * $(wc -w <<<"$TOOLS") * ACCURACY_REPEATS ))
log "running: $(( n_thr + n_proc + n_acc )) runs of ${DURATION}s: about $(( (n_thr + n_proc + n_acc) * (DURATION + PAUSE + 4) / 60 + 1 )) minutes, more when runs are repeated"

# Throughput: every flow, tools in turns within each repeat.
for flow in $FLOWS; do
    case $flow in
        music) start_target ;;
        get) start_nginx ;;
    esac
    for run in $(seq "$REPEATS"); do
        for tool in $TOOLS; do
            measure throughput "$flow" "$tool" "$run" "$USERS" 0
        done
    done
    # How many Locust processes match one stampede shard: the music flow,
    # locust-fast with --processes N, in turns with N.
    if [[ $flow == music && -n $PROCESSES ]]; then
        for run in $(seq "$REPEATS"); do
            for n in $PROCESSES; do
                measure processes music locust-fast "$run" "$USERS" "$n"
            done
        done
    fi
done

# Accuracy: a plain GET against stampede-target with a known service time,
# at a load below every tool's limit and at one that takes Goose to its
# limit and Locust far past it (stampede's is out of reach: the target's
# one core would give out first).
if [[ -n $DELAY ]]; then
    start_target --delay "$DELAY" --delay-seed "$DELAY_SEED"
    for run in $(seq "$ACCURACY_REPEATS"); do
        for load in low high; do
            users=$LOW_USERS
            [[ $load == high ]] && users=$HIGH_USERS
            for tool in $TOOLS; do
                measure "accuracy-$load" get "$tool" "$run" "$users" 0
            done
        done
    done
fi
stop_server

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RUN_DIR/machine.txt"

# --- 7. Summary -------------------------------------------------------------------------

python3 "$BENCH_DIR/vs_locust_summary.py" "$RESULTS" "$DELAY" "$GOOSE_NOTE" | tee "$RUN_DIR/summary.txt"
log ""
log "raw results: $RESULTS"
log "machine:     $RUN_DIR/machine.txt"
log "per-run output of each tool: $RUN_DIR/raw/"
