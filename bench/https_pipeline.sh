#!/usr/bin/env bash
# Issue 6 side-by-side: stampede against wrk over HTTPS, and `--pipeline 16`
# against wrk with a pipelining Lua script at depth 16, on one nginx pinned
# to SERVER_CPU (generators on GEN_CPU). Figure: requests per generator
# CPU-second (requests from nginx's stub_status, CPU from /usr/bin/time),
# medians over REPEATS, and the stampede/wrk ratio. Same method as compare.sh.
#
# Usage: bench/https_pipeline.sh
# Env:   REPEATS=3 DURATION=10 CONNECTIONS=50 DEPTH=16 GEN_CPU=0 SERVER_CPU=1
#        CASES="https pipeline" STAMPEDE_BIN=path SKIP_BUILD=1
# wrk and stampede take turns run by run (a, b, a, b, ...), as in compare.sh.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
REPEATS=${REPEATS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-50}
DEPTH=${DEPTH:-16}
CASES=${CASES:-"https pipeline"}
GEN_CPU=${GEN_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
for tool in wrk openssl taskset python3; do command -v $tool >/dev/null || { echo "missing $tool" >&2; exit 1; }; done
STAMPEDE_BIN=${STAMPEDE_BIN:-${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/stampede}
[[ -n ${SKIP_BUILD:-} ]] || (cd "$REPO_ROOT" && cargo build --release -p stampede-engine >&2)

TMP=$(mktemp -d /tmp/stampede-bench6.XXXXXX)
chmod 755 "$TMP"
NGINX_PID=""
cleanup() {
    [[ -n $NGINX_PID ]] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TLS_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
chmod 644 "$TMP/key.pem" "$TMP/cert.pem"
sed -e "s|@DIR@|$TMP|g" -e "s|@PORT@|$PORT|g" "$BENCH_DIR/nginx.conf.template" >"$TMP/nginx.conf"
# One more server block: the same `/` over TLS (TLS 1.3, session tickets on).
python3 - "$TMP/nginx.conf" "$TLS_PORT" "$TMP" <<'EOF'
import sys
path, port, tmp = sys.argv[1:]
text = open(path).read()
block = f"""
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {tmp}/cert.pem;
        ssl_certificate_key {tmp}/key.pem;
        ssl_protocols TLSv1.3;
        ssl_session_tickets on;
        location = / {{ default_type text/plain; return 200 'ok'; }}
    }}
}}
"""
i = text.rstrip().rfind("}")
open(path, "w").write(text[:i] + block)
EOF
taskset -c "$SERVER_CPU" "$NGINX_BIN" -p "$TMP" -e "$TMP/error.log" -c "$TMP/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
sleep 0.5
nginx_requests() {
    python3 -c 'import sys,urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode().splitlines()[2].split()[2])' \
        "http://127.0.0.1:$PORT/nginx_status"
}
nginx_requests >/dev/null || { cat "$TMP/error.log" >&2; exit 1; }

# wrk pipelining script: DEPTH requests per write, as in wrk's scripts/pipeline.lua.
cat >"$TMP/pipeline.lua" <<EOF
init = function(args)
   local r = {}
   for i = 1, $DEPTH do r[i] = wrk.format(nil, "/") end
   req = table.concat(r)
end
request = function() return req end
EOF

# Runs one generator command pinned to GEN_CPU; prints requests per CPU-second.
measure() {
    local before after cpu
    before=$(nginx_requests)
    /usr/bin/time -f '%U %S' -o "$TMP/time" taskset -c "$GEN_CPU" "$@" >"$TMP/out" 2>&1 || { cat "$TMP/out" >&2; }
    [[ -n ${SHOW:-} ]] && tail -n 15 "$TMP/out" >&2
    after=$(nginx_requests)
    cpu=$(awk '{print $1 + $2}' "$TMP/time")
    python3 -c 'import sys; r=int(sys.argv[2])-int(sys.argv[1])-1; c=float(sys.argv[3]); print(f"{r} {c:.2f} {r/c:.0f}")' "$before" "$after" "$cpu"
}

declare -A RESULTS CMD FIGURES
# Runs two cases in turns (a, b, a, b, ...) so host noise lands on both alike,
# as compare.sh does; RESULTS gets each one's median (min-max).
run_pair() {
    local name i requests cpu per
    for i in $(seq "$REPEATS"); do
        for name in "$1" "$2"; do
            # shellcheck disable=SC2086 # the command is a word list on purpose
            read -r requests cpu per < <(measure ${CMD[$name]})
            echo "$name run $i: $requests requests, $cpu CPU s, $per req/CPU-s" >&2
            FIGURES[$name]+="$per "
            sleep 1
        done
    done
    for name in "$1" "$2"; do
        RESULTS[$name]=$(printf '%s\n' ${FIGURES[$name]} | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)] " (" a[1] "-" a[NR] ")"}')
    done
}

S="$STAMPEDE_BIN run --threads 1 -u $CONNECTIONS -t ${DURATION}s --only-summary"
CMD["wrk https"]="wrk -t1 -c$CONNECTIONS -d${DURATION}s https://127.0.0.1:$TLS_PORT/"
CMD["stampede https"]="$S --host https://127.0.0.1:$TLS_PORT/ --cacert $TMP/cert.pem"
CMD["wrk pipeline $DEPTH"]="wrk -t1 -c$CONNECTIONS -d${DURATION}s -s $TMP/pipeline.lua http://127.0.0.1:$PORT/"
CMD["stampede pipeline $DEPTH"]="$S --host http://127.0.0.1:$PORT/ --pipeline $DEPTH"
NAMES=()
for case in $CASES; do
    case $case in
        https) run_pair "wrk https" "stampede https"; NAMES+=("wrk https" "stampede https") ;;
        pipeline) run_pair "wrk pipeline $DEPTH" "stampede pipeline $DEPTH"; NAMES+=("wrk pipeline $DEPTH" "stampede pipeline $DEPTH") ;;
        *) echo "unknown case '$case' in CASES (https, pipeline)" >&2; exit 2 ;;
    esac
done

echo "# requests per generator CPU-second, median (min-max) of $REPEATS, ${DURATION}s, $CONNECTIONS connections, tools in turns"
for name in "${NAMES[@]}"; do
    printf '%-24s %s\n' "$name" "${RESULTS[$name]}"
done
ratio() { python3 -c 'import sys; print(f"{float(sys.argv[1])/float(sys.argv[2]):.2f}x")' "${RESULTS[$1]%% *}" "${RESULTS[$2]%% *}"; }
[[ -n ${RESULTS["wrk https"]:-} ]] && echo "stampede/wrk https: $(ratio "stampede https" "wrk https")"
[[ -n ${RESULTS["wrk pipeline $DEPTH"]:-} ]] && echo "stampede/wrk pipeline $DEPTH: $(ratio "stampede pipeline $DEPTH" "wrk pipeline $DEPTH")"
exit 0
