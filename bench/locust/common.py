"""Settings shared by the bench locustfiles, read from the environment.

BENCH_CLIENT    fast (FastHttpUser, the default) or http (HttpUser)
BENCH_WAIT_MIN  seconds; with BENCH_WAIT_MAX the wait after each task,
BENCH_WAIT_MAX  between(min, max); both 0 (the default) is constant(0)
"""

import os

from locust import FastHttpUser, HttpUser, between, constant

CLIENTS = {"fast": FastHttpUser, "http": HttpUser}
CLIENT = os.environ.get("BENCH_CLIENT", "fast")
if CLIENT not in CLIENTS:
    raise SystemExit(f"BENCH_CLIENT={CLIENT!r}: expected one of {', '.join(CLIENTS)}")

# The user class the bench users derive from.
BaseUser = CLIENTS[CLIENT]

_wait_min = float(os.environ.get("BENCH_WAIT_MIN") or 0)
_wait_max = float(os.environ.get("BENCH_WAIT_MAX") or 0)


def wait_time():
    """The wait_time of the bench users: between(min, max), or constant(0)."""
    return between(_wait_min, _wait_max) if _wait_max > 0 else constant(0)
