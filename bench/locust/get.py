"""A plain GET in a loop: Locust's side of bench/vs_locust.sh's `get` flow
(stampede: `stampede run --path /`). One task, `GET BENCH_PATH` (default
`/`); the user class and wait come from common.py (BENCH_CLIENT,
BENCH_WAIT_MIN, BENCH_WAIT_MAX).

    BENCH_CLIENT=fast locust -f bench/locust/get.py --headless -u 50 -r 50 -t 10s -H http://127.0.0.1:8080
"""

import os

from locust import task

from common import BaseUser, wait_time

PATH = os.environ.get("BENCH_PATH", "/")


class Getter(BaseUser):
    wait_time = wait_time()

    @task
    def get(self):
        self.client.get(PATH)
