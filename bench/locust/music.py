"""What examples/music.toml does, as a locustfile: Locust's side of
bench/vs_locust.sh's `music` flow against stampede-target
(`--accounts FILE` with the admin and the listeners).

- The admin logs in once per process that runs users (test_start), and its
  token deletes the playlists. With --processes N that is N admin logins;
  stampede's [[setup]] and Goose's test_start log in once.
- Each user logs in exactly once with its own account from BENCH_ACCOUNTS
  (a `username,password` CSV, default examples/music-accounts.csv): account
  number (users started in this process) x (processes) + (worker index), so
  no two users in any process share one. A user left without an account
  stops, as the scenario's `exhausted = "stop"`.
- Weighted tasks as the scenario's: home 1, songs 3, albums 2, playlist 1
  (create with the user's token, delete with the admin's, grouped as
  `/api/playlist/[id]`), with the same checks: songs are a JSON array,
  albums slower than 40 ms fail, the playlist answer has an id.

The user class and wait come from common.py (BENCH_CLIENT, BENCH_WAIT_MIN,
BENCH_WAIT_MAX).

    BENCH_ACCOUNTS=accounts.csv locust -f bench/locust/music.py --headless -u 50 -r 50 -t 10s -H http://127.0.0.1:8080
"""

import csv
import itertools
import os
import uuid

from locust import events, task
from locust.exception import StopUser
from locust.runners import MasterRunner

from common import CLIENT, BaseUser, wait_time

HERE = os.path.dirname(os.path.abspath(__file__))
ACCOUNTS_FILE = os.environ.get("BENCH_ACCOUNTS") or os.path.join(HERE, "..", "..", "examples", "music-accounts.csv")
with open(ACCOUNTS_FILE, newline="") as f:
    ACCOUNTS = [(row["username"], row["password"]) for row in csv.DictReader(f)]

ADMIN = {"username": "admin", "password": "admin-pw"}
ALBUM_MAX_MS = 40  # the scenario's check = { max_ms = 40 }

# Set by test_start in every process that runs users.
admin_headers = {}
_started = itertools.count()


def _session(environment):
    """A client of the user class's kind, for the admin login (counted in the stats)."""
    if CLIENT == "fast":
        from locust.contrib.fasthttp import FastHttpSession as Session
    else:
        from locust.clients import HttpSession as Session
    return Session(base_url=environment.host, request_event=environment.events.request, user=None)


@events.test_start.add_listener
def admin_login(environment, **_kwargs):
    if isinstance(environment.runner, MasterRunner):
        return  # the master runs no users
    with _session(environment).post("/auth/login", json=ADMIN, catch_response=True) as r:
        token = r.json().get("token") if r.status_code == 200 else None
        if not token:
            r.failure("admin login: no token")
            return
    admin_headers["x-nd-authorization"] = f"Bearer {token}"


def _next_account(environment):
    """This user's account index, unique across all processes of the run."""
    processes = getattr(environment.parsed_options, "processes", None) or 1
    worker = max(getattr(environment.runner, "worker_index", 0), 0)
    return next(_started) * max(processes, 1) + worker


class Listener(BaseUser):
    wait_time = wait_time()

    def on_start(self):
        index = _next_account(self.environment)
        if index >= len(ACCOUNTS):
            raise StopUser()
        self.username, password = ACCOUNTS[index]
        body = {"username": self.username, "password": password}
        with self.client.post("/auth/login", json=body, catch_response=True) as r:
            token = r.json().get("token") if r.status_code == 200 else None
            if not token:
                r.failure("login: no token")
                raise StopUser()
        self.headers = {"x-nd-authorization": f"Bearer {token}"}

    @task(1)
    def home(self):
        self.client.get("/")

    @task(3)
    def songs(self):
        with self.client.get(
            "/api/song?_start=0&_end=10", name="/api/song", headers=self.headers, catch_response=True
        ) as r:
            if r.status_code == 200 and not isinstance(r.json(), list):
                r.failure("songs: not a JSON array")

    @task(2)
    def albums(self):
        with self.client.get("/api/album", headers=self.headers, catch_response=True) as r:
            if r.request_meta["response_time"] > ALBUM_MAX_MS:
                r.failure(f"albums: slower than {ALBUM_MAX_MS} ms")

    @task(1)
    def playlist(self):
        body = {"name": f"mix {uuid.uuid4()}", "owner": self.username}
        with self.client.post("/api/playlist", json=body, headers=self.headers, catch_response=True) as r:
            playlist_id = r.json().get("id") if r.status_code in (200, 201) else None
            if playlist_id is None:
                r.failure("playlist: no id")
                return
        self.client.delete(f"/api/playlist/{playlist_id}", name="/api/playlist/[id]", headers=admin_headers)
