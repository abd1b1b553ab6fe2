"""`--workers auto` counts the CPUs this process may use: its affinity, capped by its cgroup's CPU
quota (v2 cpu.max or v1 cpu.cfs_quota_us, on its own cgroup or an ancestor), never the host's cores."""

import os

import pytest

from common.cpus import usable_cpus
from server.config import parse_settings


def cgroup_v2(tmp_path, cpu_max: dict[str, str], own: str = "/"):
    """A cgroup v2 tree under tmp_path with `cpu_max` {relative dir: cpu.max text}; this process in `own`."""
    root = tmp_path / "cgroup"
    for directory, text in cpu_max.items():
        (root / directory).mkdir(parents=True, exist_ok=True)
        (root / directory / "cpu.max").write_text(text)
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(f"0::{own}\n")
    return root, proc


def allowed() -> int:
    return len(os.sched_getaffinity(0))


def test_no_quota_means_every_cpu_in_the_affinity(tmp_path):
    root, proc = cgroup_v2(tmp_path, {"": "max 100000"})
    assert usable_cpus(root, proc) == allowed()


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs in the affinity to show a cap")
def test_a_quota_of_one_cpu_caps_at_one(tmp_path):
    root, proc = cgroup_v2(tmp_path, {"": "100000 100000"})
    assert usable_cpus(root, proc) == 1


def test_a_fraction_rounds_down_but_never_below_one(tmp_path):
    root, proc = cgroup_v2(tmp_path, {"": "50000 100000"})
    assert usable_cpus(root, proc) == 1
    root, proc = cgroup_v2(tmp_path / "b", {"": "150000 100000"})
    assert usable_cpus(root, proc) == 1


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs in the affinity to show a cap")
def test_an_ancestors_quota_counts_for_a_host_process(tmp_path):
    """The quota on a parent cgroup limits this process's own, found through /proc/self/cgroup."""
    root, proc = cgroup_v2(
        tmp_path, {"": "max 100000", "app": "100000 100000", "app/svc": "max 100000"}, "/app/svc"
    )
    assert usable_cpus(root, proc) == 1


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs in the affinity to show a cap")
def test_a_cgroup_v1_quota_counts(tmp_path):
    root = tmp_path / "cgroup"
    (root / "cpu").mkdir(parents=True)
    (root / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (root / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text("3:cpu,cpuacct:/\n")
    assert usable_cpus(root, proc) == 1


def test_a_quota_larger_than_the_affinity_changes_nothing(tmp_path):
    root, proc = cgroup_v2(tmp_path, {"": f"{(allowed() + 4) * 100000} 100000"})
    assert usable_cpus(root, proc) == allowed()


def test_server_workers_auto_is_the_usable_cpu_count():
    assert parse_settings(["--workers", "auto"], {}).workers == usable_cpus()
    assert parse_settings([], {"IRIS_WORKERS": "AUTO"}).workers == usable_cpus()
