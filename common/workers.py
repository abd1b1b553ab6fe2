"""--workers N: a parent process runs N copies of a program that share one port (SO_REUSEPORT).

Each worker is a fresh `python -m <module>` started with posix_spawn, not a fork: nothing of the
parent (no gRPC object, no event loop) is shared, as gRPC requires of processes that use it
(grpc/grpc examples/python/multiprocessing). The parent serves no calls. It forwards SIGTERM and
SIGINT to the workers and exits 0 when they have all drained and exited 0. If a worker exits on
its own (it could not start, or it crashed), the parent stops the others and exits 1, so the
orchestrator restarts the lot.

With a metrics directory, each worker writes its Prometheus values there (PROMETHEUS_MULTIPROC_DIR)
and the parent keeps WORKERS_FILE in it up to date: {pid: index} of the workers running now, for
whoever serves their aggregate (common/worker_metrics.py).
"""

import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence

from common.logs import log_event

# Set by the parent for each process it starts (0, 1, ...); not a user setting.
WORKER_INDEX_ENV = "IRIS_WORKER_INDEX"
MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
WORKERS_FILE = "workers.json"


def worker_index(environ: Mapping[str, str]) -> int | None:
    """This process's index among the --workers processes, or None if no parent started it."""
    text = environ.get(WORKER_INDEX_ENV)
    return None if text is None else int(text)


def _signal_all(pids: Sequence[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # exited already; os.wait reports it
            os.kill(pid, signum)


def write_workers_file(directory: str, workers: Mapping[int, int]) -> None:
    """Replace `directory`/WORKERS_FILE with {pid: index} in one step (readers never see half)."""
    path = os.path.join(directory, WORKERS_FILE)
    with open(path + ".new", "w") as file:
        json.dump({str(pid): index for pid, index in workers.items()}, file)
    os.replace(path + ".new", path)


def read_workers_file(directory: str) -> dict[int, int]:
    """{pid: index} of the workers running now, as the parent last wrote it ({} before it has)."""
    try:
        with open(os.path.join(directory, WORKERS_FILE)) as file:
            return {int(pid): index for pid, index in json.load(file).items()}
    except FileNotFoundError:
        return {}


def run_workers(
    module: str,
    argv: Sequence[str],
    count: int,
    metrics_dir: str | None = None,
    on_stop: Callable[[], None] = lambda: None,
    on_exit: Callable[[int], None] = lambda pid: None,
) -> int:
    """Run `count` copies of `python -m module argv` until they have all exited; the exit code.

    `on_stop()` runs at the first SIGTERM or SIGINT, before the workers are told; `on_exit(pid)`
    after each worker has exited."""
    logger = logging.getLogger(f"{module}.workers")
    workers: dict[int, int] = {}  # pid -> worker index
    stopping = False
    forwarded: set[int] = set()  # signals the workers were sent

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        if not stopping:
            on_stop()
        stopping = True
        forwarded.add(signum)
        _signal_all(list(workers), signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    metrics_environ = {MULTIPROC_DIR_ENV: metrics_dir} if metrics_dir is not None else {}
    for index in range(count):
        environ = {**os.environ, WORKER_INDEX_ENV: str(index), **metrics_environ}
        pid = os.posix_spawn(sys.executable, [sys.executable, "-m", module, *argv], environ)
        workers[pid] = index
    if metrics_dir is not None:
        write_workers_file(metrics_dir, workers)
    log_event(
        logger, logging.INFO, "workers started", workers=count, pids=sorted(workers), metrics_dir=metrics_dir
    )

    exit_code = 0
    while workers:
        pid, status = os.wait()
        index = workers.pop(pid, None)
        if index is None:
            continue
        if metrics_dir is not None:
            write_workers_file(metrics_dir, workers)
        on_exit(pid)
        code = os.waitstatus_to_exitcode(status)
        # A worker still starting when told to stop has no handler yet: it ends by the signal itself.
        as_asked = stopping and (code == 0 or -code in forwarded)
        level = logging.INFO if as_asked else logging.ERROR
        log_event(logger, level, "worker exited", worker=index, pid=pid, code=code)
        if not as_asked:
            exit_code = 1
        if not stopping:  # it quit on its own: take the others down too
            stopping = True
            on_stop()
            forwarded.add(signal.SIGTERM)
            _signal_all(list(workers), signal.SIGTERM)
    log_event(logger, logging.INFO, "workers stopped", code=exit_code)
    return exit_code
