"""A stand-in worker for tests of common/workers.py: `python -m tests.support.idle_worker`.

It installs no signal handler, like a real worker still importing its modules, and sleeps for at
most SLEEP_SECONDS; with IDLE_WORKER_EXIT_CODE set, worker 0 exits at once with that code instead.
"""

import os
import sys
import time

SLEEP_SECONDS = 60

if __name__ == "__main__":
    code = os.environ.get("IDLE_WORKER_EXIT_CODE")
    if code is not None and os.environ.get("IRIS_WORKER_INDEX") == "0":
        sys.exit(int(code))
    time.sleep(SLEEP_SECONDS)
