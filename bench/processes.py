"""Start the servers under test as pinned processes, wait until they answer, measure and stop them."""

import pathlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable

READY_TIMEOUT_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], bool], timeout: float = READY_TIMEOUT_SECONDS) -> None:
    """Poll `check` until it returns True; raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as error:  # not ready yet: connection refused, UNAVAILABLE, ...
            last_error = error
        time.sleep(0.05)
    raise TimeoutError(f"not ready after {timeout:g}s: {last_error}")


class Service:
    """A server process of the benchmark, pinned to `cpu` (None: unpinned), logging to `log_path`:
    `program args...`, by default this Python."""

    def __init__(
        self,
        name: str,
        args: list[str],
        cpu: str | None,
        log_path: pathlib.Path,
        program: str = sys.executable,
    ):
        self.name = name
        command = [program, *args]
        if cpu is not None:
            command = ["taskset", "-c", cpu, *command]
        self.log = log_path.open("wb")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)

    def rss_mib(self) -> float:
        """Resident memory of the process and all its descendants, in MiB."""
        total_kib = 0
        pending = [self.process.pid]
        while pending:
            pid = pending.pop()
            try:
                status = pathlib.Path(f"/proc/{pid}/status").read_text()
                children = pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                continue
            total_kib += next(
                int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
            )
            pending.extend(int(child) for child in children)
        return total_kib / 1024

    def wait_ready(self, check: Callable[[], bool]) -> None:
        """wait_until(check); if it never passes, stop the process before raising."""
        try:
            wait_until(check)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def __enter__(self) -> "Service":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
