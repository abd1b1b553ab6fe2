"""common/workers.py, the --workers supervisor of both services: it stops every worker on SIGTERM
and exits 0 when they stopped as asked, even ones still starting; a worker that quits on its own
takes the others down and makes the parent exit 1."""

import os
import signal
import subprocess
import sys
import time

from common.workers import read_workers_file
from tests.support.server_process import REPO_ROOT

TIMEOUT = 30
SUPERVISE = (
    "import sys; from common.logs import configure_logging; from common.workers import run_workers; "
    "configure_logging('info', 'text'); "
    "sys.exit(run_workers('tests.support.idle_worker', [], 2, sys.argv[1]))"
)


def start_parent(tmp_path, env: dict[str, str] | None = None) -> subprocess.Popen:
    log = (tmp_path / "parent.log").open("w")
    return subprocess.Popen(
        [sys.executable, "-c", SUPERVISE, str(tmp_path)],
        cwd=REPO_ROOT,
        stderr=log,
        env={**os.environ, **(env or {})},
    )


def wait_for_workers(tmp_path, count: int) -> dict[int, int]:
    deadline = time.monotonic() + TIMEOUT
    while len(workers := read_workers_file(str(tmp_path))) < count:
        assert time.monotonic() < deadline, (tmp_path / "parent.log").read_text()
        time.sleep(0.02)
    return workers


def test_sigterm_stops_workers_still_starting_and_the_parent_exits_0(tmp_path):
    """Workers without a handler yet end by SIGTERM itself: that is stopping as asked."""
    parent = start_parent(tmp_path)
    wait_for_workers(tmp_path, 2)
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(TIMEOUT) == 0, (tmp_path / "parent.log").read_text()
    log = (tmp_path / "parent.log").read_text()
    assert log.count(f"code=-{signal.SIGTERM.value}") == 2
    assert "ERROR" not in log
    assert "workers stopped  code=0" in log


def test_a_worker_that_quits_on_its_own_takes_the_others_down_and_the_parent_exits_1(tmp_path):
    parent = start_parent(tmp_path, {"IDLE_WORKER_EXIT_CODE": "3"})
    assert parent.wait(TIMEOUT) == 1
    log = (tmp_path / "parent.log").read_text()
    assert "worker exited  worker=0" in log
    assert "code=3" in log
    assert "workers stopped  code=1" in log
