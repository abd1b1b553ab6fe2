"""--workers N for the proxy: N processes share the HTTP port (common/workers.py). The parent serves
nothing; with metrics on, every worker's GET /metrics answers the sum over all of them."""

import functools
from collections.abc import Sequence

from common.worker_metrics import forget_worker, multiprocess_directory
from common.workers import run_workers
from proxy.config import Settings


def run_proxy_workers(settings: Settings, argv: Sequence[str]) -> int:
    """Start settings.workers copies of `python -m proxy <argv>` and wait for them all."""
    if not settings.metrics:
        return run_workers("proxy", argv, settings.workers)
    with multiprocess_directory() as metrics_dir:
        on_exit = functools.partial(forget_worker, metrics_dir)
        return run_workers("proxy", argv, settings.workers, metrics_dir, on_exit=on_exit)
