#!/usr/bin/env bash
# Makes (once) the Python venv that holds the real Locust, which the tests use
# as an oracle for Locust's web API field names (tests/src/locust.rs),
# botocore, the oracle for SigV4 signatures (engine/tests/sigv4_botocore.rs),
# and moto's server with boto3, the S3 server of the S3 tests (tests/src/moto.rs,
# tests/tests/s3_moto.rs), and prints the venv's bin directory on stdout. Everything
# else goes to stderr.
#
# Usage: tests/python-env.sh            -> /root/.cache/stampede-pyenv/bin
# Env:   STAMPEDE_PYENV=DIR   where the venv lives (default ~/.cache/stampede-pyenv)
#        STAMPEDE_PYTHON=EXE  the interpreter to make it with (default: Debian's
#                             /usr/bin/python3, then python3 on PATH)
#
# Fast when already done: it only runs `locust --version` and reads the
# installed versions of botocore, boto3 and moto. Safe to run from
# several processes at once (flock). When no interpreter can make a venv and
# we are root, it installs Debian's python3-venv (apt-get update first).
set -euo pipefail

LOCUST_VERSION=2.47.0    # pinned: the field names the tests compare against
BOTOCORE_VERSION=1.44.18 # pinned: the SigV4 signatures the tests compare against
BOTO3_VERSION=1.44.18    # pinned: goes with botocore; the S3 tests' client
MOTO_VERSION=5.2.5       # pinned: moto_server, the S3 server of the S3 tests
VENV=${STAMPEDE_PYENV:-${HOME:-/root}/.cache/stampede-pyenv}

log() { printf 'python-env.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# "locust 2.47.0 from /.../locust (Python 3.11.2)" -> is it the pinned one?
# And are botocore, boto3 and moto (with its server) the pinned ones?
locust_ok() {
    local out
    out=$("$VENV/bin/locust" --version 2>/dev/null) || return 1
    [[ $out == "locust $LOCUST_VERSION "* ]] || return 1
    out=$("$VENV/bin/python" -c 'from importlib.metadata import version as v
print(v("botocore"), v("boto3"), v("moto"))' 2>/dev/null) || return 1
    [[ $out == "$BOTOCORE_VERSION $BOTO3_VERSION $MOTO_VERSION" ]] || return 1
    [[ -x $VENV/bin/moto_server ]]
}

if locust_ok; then
    echo "$VENV/bin"
    exit 0
fi

mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9
# Another process may have finished the job while we waited for the lock.
if locust_ok; then
    echo "$VENV/bin"
    exit 0
fi

candidates() {
    [[ -n ${STAMPEDE_PYTHON:-} ]] && echo "$STAMPEDE_PYTHON"
    [[ -x /usr/bin/python3 ]] && echo /usr/bin/python3
    command -v python3 2>/dev/null || true
}

# Makes the venv with the first interpreter that can; returns 1 if none can.
make_venv() {
    local py
    while read -r py; do
        [[ -n $py ]] || continue
        rm -rf "$VENV"
        log "making a venv at $VENV with $py ($("$py" --version 2>&1))"
        if "$py" -m venv "$VENV" >&2 && "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
            return 0
        fi
        log "$py could not make a venv with pip"
    done < <(candidates | awk '!seen[$0]++')
    rm -rf "$VENV"
    return 1
}

# Keep a working venv (only locust is missing or another version); else remake it.
if ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    if ! make_venv; then
        (( EUID == 0 )) || die "no python3 here can make a venv; install python3-venv (Debian) or run as root"
        command -v apt-get >/dev/null || die "no python3 can make a venv and there is no apt-get to install python3-venv"
        log "installing python3 and python3-venv with apt-get"
        apt-get update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3 python3-venv >&2
        make_venv || die "still no venv at $VENV after installing python3-venv"
    fi
fi

pins=("locust==$LOCUST_VERSION" "botocore==$BOTOCORE_VERSION" "boto3==$BOTO3_VERSION"
      "moto[server]==$MOTO_VERSION")
log "installing ${pins[*]} from PyPI"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q "${pins[@]}" >&2 \
    || die "pip install ${pins[*]} failed"
locust_ok || die "the venv does not hold ${pins[*]} after installing them: \
$("$VENV/bin/locust" --version 2>&1 || true); $("$VENV/bin/python" -m pip list 2>&1 \
    | grep -iE '^(botocore|boto3|moto) ' | tr '\n' ' ')"
log "ready: $("$VENV/bin/locust" --version 2>&1)"
echo "$VENV/bin"
