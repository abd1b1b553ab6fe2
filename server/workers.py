"""--workers N for the server: N processes share the gRPC port (common/workers.py); the parent
loads no model and serves no call.

With --metrics-port set, the parent serves the HTTP endpoints for them all (server/http_endpoints.py):
their metrics summed, and /readyz, which says ready while the parent is not stopping and every
worker's own iris_serving gauge says 1.
"""

import functools
import logging
import threading
from collections.abc import Sequence

from common.logs import configure_logging, log_event
from common.worker_metrics import forget_worker, multiprocess_directory, workers_registry
from common.workers import read_workers_file, run_workers
from server.config import Settings
from server.http_endpoints import HttpEndpoints, make_http_app
from server.metrics import serving_pids

logger = logging.getLogger("server.workers")


def run_server_workers(settings: Settings, argv: Sequence[str]) -> int:
    """Start settings.workers copies of `python -m server <argv>` and wait for them all."""
    configure_logging(settings.log_level, settings.log_format)
    if not settings.metrics_port:
        return run_workers("server", argv, settings.workers)
    with multiprocess_directory() as metrics_dir:
        registry = workers_registry(metrics_dir)
        stopping = threading.Event()

        def ready() -> bool:
            workers = read_workers_file(metrics_dir)
            return not stopping.is_set() and bool(workers) and set(workers) <= serving_pids(registry)

        try:
            http = HttpEndpoints(settings.host, settings.metrics_port, make_http_app(registry, ready))
        except RuntimeError as error:
            log_event(logger, logging.ERROR, f"server cannot start: {error}", error=str(error))
            return 1
        try:
            return run_workers(
                "server",
                argv,
                settings.workers,
                metrics_dir,
                on_stop=stopping.set,
                on_exit=functools.partial(forget_worker, metrics_dir),
            )
        finally:
            http.stop()
