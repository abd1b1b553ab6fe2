"""The Prometheus metrics of --workers processes, served as one: the parent's directory of values.

The parent makes a fresh temporary directory (under TMPDIR, e.g. the containers' /tmp tmpfs) and
passes it to the workers as PROMETHEUS_MULTIPROC_DIR (common/workers.py); each worker writes its
values there, and whoever serves /metrics reads their aggregate: counters and histograms summed
over the workers, gauges as each declares (multiprocess_mode). prometheus-client cannot merge
process_* metrics, so each process's own are reported with a `worker` label ("0".."N-1",
"parent"). The directory is removed with everything in it when the parent exits.
"""

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from common.workers import read_workers_file


class WorkerProcessCollector(Collector):
    """process_* metrics of the parent and each worker, told apart by a `worker` label."""

    def __init__(self, directory: str, parent_pid: int):
        self._directory = directory
        self._parent_pid = parent_pid
        self._collectors: dict[int, ProcessCollector] = {}

    def _processes(self) -> Iterator[tuple[str, ProcessCollector]]:
        workers = read_workers_file(self._directory)
        for pid, name in [(self._parent_pid, "parent"), *((pid, str(i)) for pid, i in workers.items())]:
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


def workers_registry(directory: str, parent_pid: int | None = None) -> CollectorRegistry:
    """A registry of the workers' metrics in `directory`, and every process's process_*
    (`parent_pid`: the --workers parent; by default the process calling this)."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    registry.register(WorkerProcessCollector(directory, parent_pid or os.getpid()))
    return registry


def forget_worker(directory: str, pid: int) -> None:
    """Drop an exited worker's live gauges (in-flight calls, readiness); its counters stay counted."""
    mark_process_dead(pid, directory)
