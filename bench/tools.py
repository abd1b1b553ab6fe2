"""The load generators the benchmark needs, installed on Debian-like machines when missing."""

import os
import platform
import shutil
import subprocess
import sys

DEBIAN_PACKAGES = {"h2load": "nghttp2-client", "wrk": "wrk", "taskset": "util-linux", "haproxy": "haproxy"}


def require(commands: list[str]) -> None:
    """Make sure every command exists: apt-get install it as root on Debian, else exit with what to do."""
    missing = [c for c in commands if shutil.which(c) is None]
    if not missing:
        return
    packages = sorted({DEBIAN_PACKAGES[c] for c in missing})
    if shutil.which("apt-get") and os.geteuid() == 0:
        print(f"bench: installing {' '.join(packages)}", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", *packages],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        missing = [c for c in commands if shutil.which(c) is None]
    if missing:
        sys.exit(
            f"bench: missing {', '.join(missing)}; install the packages {', '.join(packages)} "
            "(Debian/Ubuntu names) and run again"
        )
    if (os.cpu_count() or 1) < 2:
        sys.exit("bench: needs at least 2 CPUs (server on CPU 0, load on CPU 1)")


def machine_description() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} x {model}, {platform.system()} {platform.release()}"


HOST_PROBE = """
import time
started = time.perf_counter()
total = 0
for i in range(2_000_000):
    total += i
print(time.perf_counter() - started)
"""


def host_probe_ms(cpu: str) -> float:
    """Milliseconds a fixed CPU-bound loop takes pinned to `cpu`: on a shared virtual machine this
    drifts between rounds, and says how far apart in speed the rounds' numbers were taken."""
    command = ["taskset", "-c", cpu, sys.executable, "-c", HOST_PROBE]
    return float(subprocess.run(command, capture_output=True, text=True, check=True).stdout) * 1000
