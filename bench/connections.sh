#!/usr/bin/env bash
# Memory per idle connection: stampede holds N keep-alive users, each of
# which sent one request and now waits (wait = constant(60)), against
# stampede-target on loopback, spread over --source-ips. Prints the
# generator's RSS and bytes per connection at each N, minus a 1-user baseline.
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
# Both processes hold one descriptor per connection.
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

TMP=$(mktemp -d /tmp/stampede-conns.XXXXXX)
TARGET_PID=""
cleanup() {
    [[ -n $TARGET_PID ]] && kill "$TARGET_PID" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

target_args=(--listen 127.0.0.1:0 --threads 1)
client_args=()
if [[ $SCHEME == https ]]; then
    target_args+=(--tls-self-signed --tls-cert-out "$TMP/cert.pem")
    client_args+=(--cacert "$TMP/cert.pem")
fi
"$BIN/stampede-target" "${target_args[@]}" >"$TMP/target.out" 2>/dev/null &
TARGET_PID=$!
for _ in $(seq 50); do [[ -s $TMP/target.out ]] && break; sleep 0.1; done
ADDR=$(head -n1 "$TMP/target.out" | sed 's/^listening on //')
printf '[[user]]\nwait = "constant(60)"\n[[user.task]]\n[[user.task.step]]\npath = "/"\n' >"$TMP/idle.toml"

# Prints the max RSS (KiB) of one run holding $1 users for HOLD seconds.
rss_kb() {
    "$BIN/stampede" run -f "$TMP/idle.toml" --host "$SCHEME://$ADDR" -u "$1" -t "${HOLD}s" \
        --threads "$THREADS" --source-ips "$SOURCE_IPS" "${client_args[@]}" \
        --only-summary --quiet --json "$TMP/run.json" >/dev/null 2>"$TMP/err" || { cat "$TMP/err" >&2; exit 1; }
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); g=d["generator"]; t=d["totals"]; print(g["max_rss_kb"], t["requests"], t["failures"])' "$TMP/run.json"
}

read -r base _ _ < <(rss_kb 1)
echo "# $SCHEME, $THREADS shards, baseline (1 user) RSS ${base} KiB; kernel socket memory not included"
printf '%-8s %-10s %-10s %-12s %s\n' users requests failures rss_mib bytes_per_conn
for n in $COUNTS; do
    read -r kb requests failures < <(rss_kb "$n")
    per=$(( (kb - base) * 1024 / n ))
    printf '%-8s %-10s %-10s %-12s %s\n' "$n" "$requests" "$failures" "$(( kb / 1024 ))" "$per"
done
