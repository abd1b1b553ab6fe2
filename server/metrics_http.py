"""Serve the server's Prometheus metrics at http://HOST:--metrics-port/metrics from a background thread.

One process (no --workers): it serves its own metrics, with the standard process_* metrics.

--workers N: the parent makes a fresh temporary directory (under TMPDIR, e.g. the containers' /tmp
tmpfs) and passes it to the workers as PROMETHEUS_MULTIPROC_DIR; each worker writes its values
there and the parent serves their aggregate: counters and histograms summed over the workers, the
in-flight gauge summed over live workers, model info once. prometheus-client cannot merge
process metrics, so the parent reports each process's own with a `worker` label ("0".."N-1",
"parent"). The parent removes the directory when it exits.
"""

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import REGISTRY, Collector

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


class MetricsServer:
    """The HTTP server answering /metrics (any path, in fact) in a daemon thread."""

    def __init__(self, httpd: WSGIServer, thread: threading.Thread):
        self._httpd = httpd
        self._thread = thread

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


def start_metrics_server(host: str, port: int, registry: Collector = REGISTRY) -> MetricsServer:
    """Serve `registry` on host:port; raises RuntimeError naming --metrics-port if it cannot bind."""
    address = host.strip("[]")  # the gRPC form of an IPv6 address is bracketed
    try:
        return MetricsServer(*start_http_server(port, address, registry))
    except OSError as error:
        raise RuntimeError(f"cannot serve metrics on --metrics-port={port} at {address}: {error}") from None


class WorkerProcessCollector(Collector):
    """process_* metrics of the parent and each worker, told apart by a `worker` label."""

    def __init__(self, workers: Callable[[], Mapping[int, int]]):
        self._workers = workers  # -> {pid: worker index} of the workers running now
        self._collectors: dict[int, ProcessCollector] = {}

    def _processes(self) -> Iterator[tuple[str, ProcessCollector]]:
        for pid, name in [(os.getpid(), "parent"), *((pid, str(i)) for pid, i in self._workers().items())]:
            if pid not in self._collectors:
                self._collectors[pid] = ProcessCollector(pid=lambda pid=pid: pid, registry=None)
            yield name, self._collectors[pid]

    def collect(self) -> Iterable[Metric]:
        merged: dict[str, Metric] = {}
        for worker, collector in self._processes():
            for family in collector.collect():
                target = merged.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type)
                )
                for sample in family.samples:
                    target.add_sample(sample.name, {**sample.labels, "worker": worker}, sample.value)
        return list(merged.values())


@contextlib.contextmanager
def multiprocess_directory() -> Iterator[str]:
    """A fresh directory for the workers' metric files, removed with everything in it afterwards."""
    directory = tempfile.mkdtemp(prefix="iris-metrics-")
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def workers_registry(directory: str, workers: Callable[[], Mapping[int, int]]) -> CollectorRegistry:
    """The parent's registry: the workers' metrics from `directory`, and every process's process_*."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    registry.register(WorkerProcessCollector(workers))
    return registry


def forget_worker(directory: str, pid: int) -> None:
    """Drop an exited worker's live gauges (in-flight calls, model info); its counters stay counted."""
    mark_process_dead(pid, directory)
