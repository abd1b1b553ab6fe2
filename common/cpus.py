"""How many CPUs this process may use: the number `--workers auto` starts.

Not the host's core count (os.cpu_count): a container or a taskset sees fewer. The answer is the
CPUs in this process's affinity mask, lowered to its cgroup's CPU quota (docker --cpus,
Kubernetes limits.cpu), rounded down, and at least 1. Workers beyond the quota would only be
throttled by the kernel in turn.
"""

import math
import os
import pathlib

CGROUP_ROOT = pathlib.Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = pathlib.Path("/proc/self/cgroup")


def usable_cpus(cgroup_root: pathlib.Path = CGROUP_ROOT, proc_cgroup: pathlib.Path = PROC_SELF_CGROUP) -> int:
    """CPUs in this process's affinity, capped by its cgroup CPU quota; at least 1."""
    allowed = len(os.sched_getaffinity(0))
    quota = cgroup_cpu_quota(cgroup_root, proc_cgroup)
    return max(1, min(allowed, math.floor(quota))) if quota is not None else allowed


def cgroup_cpu_quota(cgroup_root: pathlib.Path, proc_cgroup: pathlib.Path) -> float | None:
    """The tightest CPU quota (in CPUs) on this process's cgroup path, v2 or v1; None if unlimited."""
    quotas = [quota for path in _quota_files(cgroup_root, proc_cgroup) if (quota := _read_quota(path))]
    return min(quotas) if quotas else None


def _quota_files(cgroup_root: pathlib.Path, proc_cgroup: pathlib.Path) -> list[pathlib.Path]:
    """cpu.max (v2) and cpu.cfs_quota_us (v1) of this process's cgroup and of each ancestor.

    A container sees its own cgroup at the root of the mount; a host process finds its path in
    /proc/self/cgroup ("0::/path" for v2, "N:cpu,cpuacct:/path" for v1)."""
    paths = {"v2": "/", "v1": "/"}
    try:
        for line in proc_cgroup.read_text().splitlines():
            hierarchy, controllers, path = line.split(":", 2)
            if hierarchy == "0" and not controllers:
                paths["v2"] = path
            elif "cpu" in controllers.split(","):
                paths["v1"] = path
    except (OSError, ValueError):
        pass
    files = []
    for base, name, path in (
        (cgroup_root, "cpu.max", paths["v2"]),
        (cgroup_root / "cpu", "cpu.cfs_quota_us", paths["v1"]),
    ):
        directory = base / path.lstrip("/")
        while True:
            files.append(directory / name)
            if directory == base or base not in directory.parents:
                break
            directory = directory.parent
    return files


def _read_quota(path: pathlib.Path) -> float | None:
    try:
        text = path.read_text().split()
        if path.name == "cpu.max":  # "max 100000" or "150000 100000"
            quota, period = text[0], text[1]
        else:  # cpu.cfs_quota_us, -1 for none, beside cpu.cfs_period_us
            quota, period = text[0], (path.parent / "cpu.cfs_period_us").read_text().split()[0]
    except (OSError, IndexError):
        return None
    if quota in ("max", "-1"):
        return None
    return int(quota) / int(period)
