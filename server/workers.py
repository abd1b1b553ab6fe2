"""--workers N: a parent process runs N server processes sharing the port (SO_REUSEPORT).

The parent loads no model and serves nothing. It forwards SIGTERM and SIGINT to the workers and
exits 0 when they have all drained and exited 0. If a worker exits on its own (it could not start,
or it crashed), the parent stops the others and exits 1, so the orchestrator restarts the lot.
With --metrics-port set, the parent serves the metrics of all the workers (server/metrics_http.py).
"""

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence

from common.logs import configure_logging, log_event
from server.config import WORKER_INDEX_ENV, Settings
from server.metrics_http import (
    MULTIPROC_DIR_ENV,
    forget_worker,
    multiprocess_directory,
    start_metrics_server,
    workers_registry,
)

logger = logging.getLogger("server.workers")


def _signal_all(pids: Sequence[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # exited already; os.wait reports it
            os.kill(pid, signum)


def run_workers(settings: Settings, argv: Sequence[str]) -> int:
    """Start settings.workers copies of `python -m server <argv>` and wait for them all."""
    configure_logging(settings.log_level, settings.log_format)
    if not settings.metrics_port:
        return _supervise(settings, argv, metrics_dir=None)
    with multiprocess_directory() as metrics_dir:
        return _supervise(settings, argv, metrics_dir)


def _supervise(settings: Settings, argv: Sequence[str], metrics_dir: str | None) -> int:
    workers: dict[int, int] = {}  # pid -> worker index
    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        _signal_all(list(workers), signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    metrics_server = None
    if metrics_dir is not None:
        try:
            registry = workers_registry(metrics_dir, lambda: dict(workers))
            metrics_server = start_metrics_server(settings.host, settings.metrics_port, registry)
        except RuntimeError as error:
            log_event(logger, logging.ERROR, f"server cannot start: {error}", error=str(error))
            return 1
    metrics_environ = {MULTIPROC_DIR_ENV: metrics_dir} if metrics_dir is not None else {}
    for index in range(settings.workers):
        environ = {**os.environ, WORKER_INDEX_ENV: str(index), **metrics_environ}
        pid = os.posix_spawn(sys.executable, [sys.executable, "-m", "server", *argv], environ)
        workers[pid] = index
    log_event(
        logger,
        logging.INFO,
        "workers started",
        workers=settings.workers,
        pids=sorted(workers),
        metrics_port=settings.metrics_port or None,
        metrics_dir=metrics_dir,
    )

    exit_code = 0
    while workers:
        pid, status = os.wait()
        index = workers.pop(pid, None)
        if index is None:
            continue
        code = os.waitstatus_to_exitcode(status)
        if metrics_dir is not None:
            forget_worker(metrics_dir, pid)
        log_event(
            logger,
            logging.INFO if code == 0 else logging.ERROR,
            "worker exited",
            worker=index,
            pid=pid,
            code=code,
        )
        if code != 0 or not stopping:
            exit_code = 1
        if not stopping:  # it quit on its own: take the others down too
            stopping = True
            _signal_all(list(workers), signal.SIGTERM)
    if metrics_server is not None:
        metrics_server.stop()
    log_event(logger, logging.INFO, "workers stopped", code=exit_code)
    return exit_code
