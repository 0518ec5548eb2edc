#!/usr/bin/env bash
# Side-by-side benchmark: stampede against wrk (and oha when it is available)
# on one local nginx. The figure that matters is requests per generator
# CPU-second, measured the same way for every tool: CPU from /usr/bin/time,
# requests from nginx's stub_status counter. See bench/README.md.
#
# Usage: bench/compare.sh            (as root: installs nginx, wrk, time)
# Env:   REPEATS=3 DURATION=10 CONNECTIONS=50 TOOLS="wrk stampede oha"
#        BODIES="/ /28k" GEN_CPU=0 SERVER_CPU=1 PAUSE=1
#        STAMPEDE_BIN=path (skips the cargo build) SKIP_BUILD=1 OHA_ARGS=""
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)

REPEATS=${REPEATS:-3}
DURATION=${DURATION:-10}          # seconds per run
CONNECTIONS=${CONNECTIONS:-50}    # keep-alive connections (stampede: users)
TOOLS=${TOOLS:-"wrk stampede scenario oha"}
BODIES=${BODIES:-"/ /28k"}
GEN_CPU=${GEN_CPU:-0}             # the generator under test runs here
SERVER_CPU=${SERVER_CPU:-1}       # nginx runs here
PAUSE=${PAUSE:-1}                 # seconds of quiet between runs
OHA_ARGS=${OHA_ARGS:-}            # extra oha flags, e.g. "--worker-threads 1"
BODY_28K_BYTES=28672

log() { printf '%s\n' "$*" >&2; }
die() { log "compare.sh: $*"; exit 1; }
has_tool() { [[ " $TOOLS " == *" $1 "* ]]; }
drop_tool() { TOOLS=$(printf '%s\n' $TOOLS | grep -vx "$1" | xargs || true); }

[[ $REPEATS =~ ^[1-9][0-9]*$ ]] || die "REPEATS must be a positive integer, got '$REPEATS'"
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "DURATION must be whole seconds, got '$DURATION'"
[[ $CONNECTIONS =~ ^[1-9][0-9]*$ ]] || die "CONNECTIONS must be a positive integer, got '$CONNECTIONS'"
for t in $TOOLS; do
    case $t in wrk|stampede|scenario|oha) ;; *) die "unknown tool '$t' in TOOLS (known: wrk stampede scenario oha)";; esac
done
for b in $BODIES; do
    case $b in /|/28k) ;; *) die "unknown body '$b' in BODIES (known: / /28k)";; esac
done
(( $(nproc) > GEN_CPU && $(nproc) > SERVER_CPU )) \
    || die "needs CPUs $GEN_CPU and $SERVER_CPU; this machine has $(nproc)"
(( GEN_CPU != SERVER_CPU )) || die "GEN_CPU and SERVER_CPU must differ"
command -v taskset >/dev/null || die "taskset not found (package util-linux)"
command -v python3 >/dev/null || die "python3 not found"

# --- 1. Install what we compare against --------------------------------------

NGINX_BIN=$(command -v nginx || true)
[[ -z $NGINX_BIN && -x /usr/sbin/nginx ]] && NGINX_BIN=/usr/sbin/nginx

missing=()
[[ -n $NGINX_BIN ]] || missing+=(nginx)
has_tool wrk && ! command -v wrk >/dev/null && missing+=(wrk)
[[ -x /usr/bin/time ]] || missing+=(time)
if has_tool oha && ! command -v oha >/dev/null; then
    oha_candidate=$(apt-cache policy oha 2>/dev/null | awk '/Candidate:/ {print $2}')
    if [[ -n $oha_candidate && $oha_candidate != "(none)" ]]; then
        missing+=(oha)
    else
        log "note: oha is not on PATH and apt has no 'oha' package here; skipping oha."
        drop_tool oha
    fi
fi
if (( ${#missing[@]} > 0 )); then
    (( EUID == 0 )) || die "missing ${missing[*]}; run as root to install them with apt-get, or install them yourself"
    log "installing: ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
    NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
fi
[[ -x $NGINX_BIN ]] || die "nginx not found after install"
"$NGINX_BIN" -V 2>&1 | grep -q http_stub_status_module \
    || die "$NGINX_BIN was built without stub_status, which counts the requests"
[[ -n $TOOLS ]] || die "no tools left to run"

# --- 2. Build stampede -------------------------------------------------------

if has_tool stampede || has_tool scenario; then
    if [[ -z ${STAMPEDE_BIN:-} ]]; then
        STAMPEDE_BIN=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/stampede
        if [[ -z ${SKIP_BUILD:-} ]]; then
            log "building: cargo build --release -p stampede-engine"
            (cd "$REPO_ROOT" && cargo build --release -p stampede-engine) \
                || die "cargo build failed; fix the build or run with TOOLS=wrk"
        fi
    fi
    [[ -x $STAMPEDE_BIN ]] || die "stampede binary not found at $STAMPEDE_BIN"
fi

# --- 3. Start nginx on loopback, pinned to SERVER_CPU ------------------------

TMP_DIR=$(mktemp -d /tmp/stampede-bench.XXXXXX)
NGINX_PID=""
GEN_PID=""

# Stops the generator (if a run was interrupted) and nginx, then removes the
# temp dir. Runs on every exit, including Ctrl-C.
cleanup() {
    if [[ -n $GEN_PID ]] && kill -0 "$GEN_PID" 2>/dev/null; then
        # GEN_PID is /usr/bin/time; the generator is its child.
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

# The nginx worker may run as another user: the files must be world-readable.
chmod 755 "$TMP_DIR"
mkdir -p "$TMP_DIR/www"
head -c "$BODY_28K_BYTES" /dev/zero | tr '\0' 'x' >"$TMP_DIR/www/28k"
chmod 644 "$TMP_DIR/www/28k"
sed -e "s|@DIR@|$TMP_DIR|g" -e "s|@PORT@|$PORT|g" \
    "$BENCH_DIR/nginx.conf.template" >"$TMP_DIR/nginx.conf"

taskset -c "$SERVER_CPU" "$NGINX_BIN" -p "$TMP_DIR" -e "$TMP_DIR/error.log" \
    -c "$TMP_DIR/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!

# Prints nginx's "requests" counter. The counter includes this request.
nginx_requests() {
    python3 - "$URL/nginx_status" <<'EOF'
import sys, urllib.request
lines = urllib.request.urlopen(sys.argv[1], timeout=5).read().decode().splitlines()
# "server accepts handled requests" is followed by the three numbers.
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

size=$(python3 -c 'import sys, urllib.request; print(len(urllib.request.urlopen(sys.argv[1]).read()))' "$URL/28k")
(( size == BODY_28K_BYTES )) || die "/28k served $size bytes, expected $BODY_28K_BYTES"

# Prints the nginx worker's CPU time (user + sys) in clock ticks.
server_ticks() { awk '{print $14 + $15}' /proc/"$NGINX_WORKER"/stat; }

# Prints "busy steal" clock ticks of GEN_CPU (busy counts every process and
# interrupt on it) and steal ticks of both CPUs, from /proc/stat.
cpu_ticks() {
    awk -v g="cpu$GEN_CPU" -v s="cpu$SERVER_CPU" '
        $1 == g { busy = $2 + $3 + $4 + $7 + $8 }
        $1 == g || $1 == s { steal += $9 }
        END { print busy, steal }' /proc/stat
}

log "nginx $URL: master $NGINX_PID, worker $NGINX_WORKER pinned to CPU $(taskset -pc "$NGINX_WORKER" | awk '{print $NF}')"

# --- Results dir and machine description -------------------------------------

RUN_DIR="$BENCH_DIR/results/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$RUN_DIR/raw"
RESULTS="$RUN_DIR/results.tsv"
printf 'body\ttool\trun\twall_s\tuser_s\tsys_s\tcpu_s\tmax_rss_kb\trequests\trps\treq_per_cpu_s\tp50_ms\tp99_ms\tself_requests\tself_failures\tself_cpu_s\tserver_cpu_s\tgen_cpu_busy_s\tsteal_s\n' >"$RESULTS"

{
    echo "date: $(date -Is)"
    echo "host: $(hostname)"
    echo "nproc: $(nproc)"
    echo "cpu: $(lscpu | awk -F: '/^Model name/ {sub(/^ +/, "", $2); print $2; exit}')"
    echo "kernel: $(uname -r)"
    echo "io_uring_disabled: $(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo n/a)"
    echo "memlock limit: $(ulimit -l)"
    echo "nginx: $("$NGINX_BIN" -v 2>&1)"
    has_tool wrk && echo "wrk: $(wrk -v 2>&1 | head -n1 || true)"
    has_tool oha && echo "oha: $(oha --version 2>&1 | head -n1 || true)"
    if has_tool stampede; then
        echo "stampede: $STAMPEDE_BIN $("$STAMPEDE_BIN" --version 2>&1 | head -n1 || true)"
        echo "stampede commit: $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo n/a)$(git -C "$REPO_ROOT" diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
    fi
    echo "settings: REPEATS=$REPEATS DURATION=${DURATION}s CONNECTIONS=$CONNECTIONS TOOLS='$TOOLS' BODIES='$BODIES' GEN_CPU=$GEN_CPU SERVER_CPU=$SERVER_CPU"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$RUN_DIR/machine.txt"
cp "$TMP_DIR/nginx.conf" "$RUN_DIR/nginx.conf"

# --- 4. Runs ------------------------------------------------------------------

slug() { local s=${1#/}; s=${s//\//_}; echo "${s:-root}"; }

# Prints "p50_ms p99_ms self_requests self_failures self_cpu_s" from a
# generator's output; NA for what the tool does not report.
parse_wrk() {
    awk '
        function ms(v) {
            if (v ~ /us$/) return v / 1000
            if (v ~ /ms$/) return v + 0
            if (v ~ /s$/)  return v * 1000
            if (v ~ /m$/)  return v * 60000
            if (v ~ /h$/)  return v * 3600000
            return "NA"
        }
        /^ +50% / { p50 = ms($2) }
        /^ +99% / { p99 = ms($2) }
        / requests in / { n = $1 }
        /Socket errors:/ { gsub(/,/, ""); fail += $4 + $6 + $8 + $10 }
        /Non-2xx or 3xx responses:/ { fail += $NF }
        END { printf "%s %s %s %d NA\n", (p50 == "" ? "NA" : p50), (p99 == "" ? "NA" : p99), (n == "" ? "NA" : n), fail }
    ' "$1"
}
parse_stampede() {
    python3 - "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
t, g = d["totals"], d.get("generator", {})
print(t["latency_ms"]["p50"], t["latency_ms"]["p99"], t["requests"], t.get("failures", "NA"), g.get("cpu_seconds", "NA"))
EOF
}
parse_oha() {
    python3 - "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
p = d.get("latencyPercentiles", {})
ms = lambda v: "NA" if v is None else v * 1000  # oha reports seconds
print(ms(p.get("p50")), ms(p.get("p99")), "NA", "NA", "NA")
EOF
}

run_one() {
    local tool=$1 path=$2 run=$3
    local tag; tag="$tool-$(slug "$path")-$run"
    local out="$RUN_DIR/raw/$tag.out" err="$RUN_DIR/raw/$tag.err" timef="$RUN_DIR/raw/$tag.time"
    local json="$RUN_DIR/raw/$tag.json"
    local cmd=()
    case $tool in
        wrk) cmd=(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$URL$path") ;;
        stampede) cmd=("$STAMPEDE_BIN" run --host "$URL" --path "$path" -u "$CONNECTIONS"
                       --threads 1 -t "${DURATION}s" --json "$json") ;;
        # The same load through a scenario whose one GET has a templated header.
        scenario) cmd=(env BENCH_PATH="$path" "$STAMPEDE_BIN" run -f "$REPO_ROOT/bench/templated.toml" --host "$URL"
                       -u "$CONNECTIONS" --threads 1 -t "${DURATION}s" --json "$json") ;;
        # shellcheck disable=SC2206
        oha) cmd=(oha -z "${DURATION}s" -c "$CONNECTIONS" --no-tui -j $OHA_ARGS "$URL$path") ;;
    esac
    echo "${cmd[*]}" >"$RUN_DIR/raw/$tag.cmd"

    local before after srv_before srv_after cpu_before cpu_after rc=0
    before=$(nginx_requests)
    srv_before=$(server_ticks)
    cpu_before=$(cpu_ticks)
    /usr/bin/time -o "$timef" -f '%e %U %S %M' \
        taskset -c "$GEN_CPU" "${cmd[@]}" >"$out" 2>"$err" &
    GEN_PID=$!
    wait "$GEN_PID" || rc=$?
    GEN_PID=""
    kill -0 "$NGINX_WORKER" 2>/dev/null || die "nginx stopped during the run (see $RUN_DIR/nginx-error.log)"
    cpu_after=$(cpu_ticks)
    srv_after=$(server_ticks)
    after=$(nginx_requests)
    if (( rc != 0 )); then
        log "$tool failed (exit $rc): ${cmd[*]}"
        tail -n 20 "$err" >&2
        die "raw output kept in $RUN_DIR/raw/$tag.*"
    fi

    local wall user sys rss p50 p99 self_n self_fail self_cpu
    read -r wall user sys rss < <(tail -n1 "$timef")
    case $tool in
        wrk) read -r p50 p99 self_n self_fail self_cpu < <(parse_wrk "$out") ;;
        stampede|scenario)
            [[ -s $json ]] || die "stampede exited 0 but wrote no JSON at $json (does it accept --json?)"
            read -r p50 p99 self_n self_fail self_cpu < <(parse_stampede "$json") ;;
        oha) cp "$out" "$json"; read -r p50 p99 self_n self_fail self_cpu < <(parse_oha "$json") ;;
    esac

    # The "after" read counts itself; the "before" read was counted already.
    local requests=$(( after - before - 1 ))
    awk -v body="$path" -v tool="$tool" -v run="$run" -v wall="$wall" -v user="$user" \
        -v sys="$sys" -v rss="$rss" -v n="$requests" -v p50="$p50" -v p99="$p99" \
        -v self_n="$self_n" -v self_fail="$self_fail" -v self_cpu="$self_cpu" \
        -v srv="$(( srv_after - srv_before ))" -v tck="$CLK_TCK" \
        -v busy="$(( ${cpu_after% *} - ${cpu_before% *} ))" \
        -v steal="$(( ${cpu_after#* } - ${cpu_before#* } ))" '
        function f3(v) { return (v == "NA" || v == "") ? "NA" : sprintf("%.3f", v) }
        BEGIN {
            cpu = user + sys
            printf "%s\t%s\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%d\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%s\t%.2f\t%.2f\t%.2f\n",
                body, tool, run, wall, user, sys, cpu, rss, n, n / wall,
                (cpu > 0 ? n / cpu : 0), f3(p50), f3(p99), self_n, self_fail, f3(self_cpu), srv / tck, busy / tck, steal / tck
        }' | tee -a "$RESULTS" | awk -F'\t' '{
            printf "  %-8s %-5s run %d: %9d req  %8.0f rps  cpu %5.2f s  %7.0f req/cpu-s  p99 %s ms\n",
                $2, $1, $3, $9, $10, $7, $11, $13
        }' >&2
    sleep "$PAUSE"
}

total=0
for _ in $BODIES; do total=$(( total + REPEATS * $(wc -w <<<"$TOOLS") )); done
log "running: bodies '$BODIES', tools '$TOOLS', $REPEATS x ${DURATION}s each: about $(( total * (DURATION + PAUSE) )) s"

# Tools take turns within each repeat, so a slow period of the host hits
# every tool rather than one.
for path in $BODIES; do
    for run in $(seq "$REPEATS"); do
        for tool in $TOOLS; do
            run_one "$tool" "$path" "$run"
        done
    done
done

# --- 5. Summary -----------------------------------------------------------------

python3 - "$RESULTS" "$BODIES" "$TOOLS" <<'EOF' | tee "$RUN_DIR/summary.txt"
import csv, statistics, sys

path, bodies, tools = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
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

for body in bodies:
    print(f"\nbody {body}  (medians of runs; req/CPU-s = nginx-counted requests / generator user+sys seconds)")
    head = ["tool", "runs", "RPS", "CPU s", "req/CPU-s", "min-max", "p50 ms", "p99 ms", "RSS MB", "nginx CPU%", "x wrk"]
    table, medians, notes = [], {}, []
    for tool in tools:
        rs = [r for r in rows if r["body"] == body and r["tool"] == tool]
        if not rs:
            continue
        rpc = [float(r["req_per_cpu_s"]) for r in rs]
        medians[tool] = m = statistics.median(rpc)
        srv_pct = statistics.median(float(r["server_cpu_s"]) / float(r["wall_s"]) * 100 for r in rs)
        gen_pct = statistics.median(float(r["cpu_s"]) / float(r["wall_s"]) * 100 for r in rs)
        table.append([tool, str(len(rs)), fmt(med(rs, "rps"), ".0f"), fmt(med(rs, "cpu_s"), ".2f"),
                      f"{m:.0f}", f"{min(rpc):.0f}-{max(rpc):.0f}",
                      fmt(med(rs, "p50_ms"), ".3f"), fmt(med(rs, "p99_ms"), ".3f"),
                      f"{max(int(r['max_rss_kb']) for r in rs) / 1024:.1f}", f"{srv_pct:.0f}"])
        if m > 0 and (max(rpc) - min(rpc)) / m > 0.15:
            notes.append(f"{tool}: req/CPU-s spread is over 15% of the median; the host was noisy, repeat with more REPEATS")
        if srv_pct >= 95:
            notes.append(f"{tool}: nginx was at {srv_pct:.0f}% CPU, so RPS is nginx's ceiling; compare req/CPU-s, not RPS")
        other_pct = statistics.median((float(r["gen_cpu_busy_s"]) - float(r["cpu_s"])) / float(r["wall_s"]) * 100 for r in rs)
        steal_pct = statistics.median(float(r["steal_s"]) / float(r["wall_s"]) * 100 for r in rs)
        if other_pct > 5:
            notes.append(f"{tool}: other processes took {other_pct:.0f}% of the generator's CPU "
                         f"(it got {gen_pct:.0f}%); its runs are doubtful, rerun on a quiet machine")
        elif gen_pct < 90:
            notes.append(f"{tool}: the generator used only {gen_pct:.0f}% of its CPU, so it was waiting on nginx")
        if steal_pct > 2:
            notes.append(f"{tool}: the hypervisor stole {steal_pct:.0f}% of a CPU during its runs")
        failed = sum(int(num(r["self_failures"]) or 0) for r in rs)
        if failed:
            notes.append(f"{tool}: reported {failed} failed requests over its runs; see raw/")
        for r in rs:
            self_n, n = num(r["self_requests"]), int(r["requests"])
            if self_n is not None and n > 0 and abs(self_n - n) / n > 0.01:
                notes.append(f"{tool} run {r['run']}: reported {self_n:.0f} requests, nginx counted {n}")
    for row in table:
        w = medians.get("wrk")
        row.append(f"{medians[row[0]] / w:.2f}" if w else "n/a")
    widths = [max(len(x) for x in col) for col in zip(head, *table)]
    for row in [head] + table:
        print("  ".join(x.rjust(wd) if i else x.ljust(wd) for i, (x, wd) in enumerate(zip(row, widths))))
    if "stampede" in medians and "wrk" in medians:
        print(f"stampede/wrk req per CPU-s (medians): {medians['stampede'] / medians['wrk']:.3f}")
    if "scenario" in medians and "stampede" in medians:
        print(f"scenario/stampede req per CPU-s (medians): {medians['scenario'] / medians['stampede']:.3f}")
    for note in notes:
        print(f"note: {note}")
EOF

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RUN_DIR/machine.txt"
log ""
log "raw results: $RESULTS"
log "machine:     $RUN_DIR/machine.txt"
log "per-run output of each tool: $RUN_DIR/raw/"
