"""Read a /metrics answer with prometheus-client's own parser, as Prometheus would."""

import pathlib
import urllib.request

from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample in Prometheus text: (sample name, its labels) -> value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/plain")
        return parse(answer.read().decode())


def value(samples: Samples, name: str, /, **labels: str) -> float:
    """The sample with exactly these labels, or 0.0 if there is none (a counter not yet counted)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def label_values(samples: Samples, name: str, label: str) -> set[str]:
    """Every value `label` takes in the samples called `name`."""
    return {dict(labels)[label] for sample, labels in samples if sample == name and label in dict(labels)}


def per_process(directory: pathlib.Path, name: str) -> dict[int, float]:
    """{pid: the sum of `name`'s samples} over the counter files one --workers parent's processes
    wrote to their shared metrics directory (common/worker_metrics.py), one file per process."""
    totals = {}
    for path in directory.glob("counter_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        families = MultiProcessCollector.merge([str(path)], accumulate=False)
        totals[pid] = sum(
            sample.value for family in families for sample in family.samples if sample.name == name
        )
    return totals


def workers_metrics_directory(tmp_dir: pathlib.Path) -> pathlib.Path:
    """The metrics directory a --workers parent started with TMPDIR=`tmp_dir` made there."""
    [directory] = tmp_dir.glob("iris-metrics-*")
    return directory
