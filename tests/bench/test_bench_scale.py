"""bench/scale.py: the scale group's ratios are taken within a round, efficiency is
rate(N) / (N x rate(1)), then the median and range over rounds; workers are pinned a CPU each."""

import os

import pytest

from bench import scale
from tests.bench.test_bench_report import point


def proxy_point(workers, rps, round_index, status="ok"):
    label = f"proxy {workers} workers"
    return point("scale: proxy", label, 64, rps, round_index, status=status, step=f"scale {label}")


def scale_round(round_index, one, two, four):
    return [
        proxy_point(1, one, round_index),
        proxy_point(2, two, round_index),
        proxy_point(4, four, round_index),
    ]


def test_efficiency_is_each_rounds_rate_over_n_times_its_one_worker_rate_then_the_median():
    """At 4 workers the rounds give 0.5, 0.75 and 1.0 (median 0.75); the ratio of the medians would
    be 2000 / (4 x 1000) = 0.5, so the test fails if the medians are taken first."""
    rows = [
        *scale_round(0, 1000, 1800, 2000),
        *scale_round(1, 2000, 3000, 6000),
        *scale_round(2, 500, 1000, 2000),
    ]

    ratios = {ratio["ratio"]: ratio for ratio in scale.scale_ratios(rows)}

    assert ratios["proxy efficiency at 2 workers"]["value"] == pytest.approx(0.9)
    four = ratios["proxy efficiency at 4 workers"]
    assert (four["value"], four["low"], four["high"]) == pytest.approx((0.75, 0.5, 1.0))
    assert ratios["REST: proxy 4 workers / 1 worker (goal on 16 cores: 3.2)"]["value"] == pytest.approx(3.0)


def test_a_ratio_without_both_points_is_left_out():
    rows = scale_round(0, 1000, 1800, 2000)
    names = {ratio["ratio"] for ratio in scale.scale_ratios(rows)}
    assert "server efficiency at 2 workers" not in names
    assert "proxy efficiency at 2 workers" in names


def test_failed_points_count_in_no_ratio():
    rows = [
        *scale_round(0, 1000, 1800, 2000),
        proxy_point(1, 0, 1, status="FAILED"),
    ]
    rows.append(proxy_point(2, 5000, 1))
    ratios = {ratio["ratio"]: ratio for ratio in scale.scale_ratios(rows)}
    assert ratios["proxy efficiency at 2 workers"]["value"] == pytest.approx(0.9)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning two workers apart needs 2 CPUs")
def test_pin_workers_puts_each_worker_on_a_cpu_of_its_own(tmp_path):
    """A real --workers 2 server: every thread of each worker is held to one CPU, a different one for
    each worker; freed, they may use every CPU again."""
    from bench.checks import grpc_health
    from bench.processes import Service, free_port, wait_until

    port = free_port()
    args = ["-m", "server", "--workers", "2", "--port", str(port), "--metrics-port", "0"]
    with Service("pinned", args, None, tmp_path / "server.log") as server:
        wait_until(lambda: grpc_health(port))
        wait_until(lambda: (tmp_path / "server.log").read_text().count("server started") == 2)
        cpus = scale.pin_workers(server, 2)
        pids = sorted(scale.worker_pids(server, 2))
        for pid, cpu in zip(pids, cpus, strict=True):
            threads = [int(thread) for thread in os.listdir(f"/proc/{pid}/task")]
            assert len(threads) > 1  # gRPC's and onnxruntime's threads, not only the main one
            assert {frozenset(os.sched_getaffinity(thread)) for thread in threads} == {frozenset({cpu})}
        assert len(set(cpus)) == 2
        scale.pin_workers(server, 2, pinned=False)
        for pid in pids:
            assert os.sched_getaffinity(pid) == os.sched_getaffinity(0)
