"""Run the real REST proxy (`python -m proxy`) as a child process for tests.

`running_proxy(log_dir, upstream, *args)` starts it on a free 127.0.0.1 port, waits until
GET /healthz answers, and always stops it (SIGTERM, then SIGKILL if it hangs) when the block ends.
"""

import contextlib
import dataclasses
import os
import pathlib
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

from tests.support.server_process import REPO_ROOT, free_port, stop_process

START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0
POLL_SECONDS = 0.05


@dataclasses.dataclass
class ProxyProcess:
    process: subprocess.Popen
    port: int
    log_path: pathlib.Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text()


def _wait_until_healthy(proxy: ProxyProcess) -> None:
    give_up = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < give_up:
        if proxy.process.poll() is not None:
            raise AssertionError(f"proxy exited with {proxy.process.returncode}; log:\n{proxy.log()}")
        try:
            with urllib.request.urlopen(f"{proxy.url}/healthz", timeout=1.0) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(POLL_SECONDS)  # not listening yet
    raise AssertionError(f"proxy not answering after {START_TIMEOUT_SECONDS} s; log:\n{proxy.log()}")


@contextlib.contextmanager
def running_proxy(
    log_dir: pathlib.Path, upstream: str, *args: str, env: dict[str, str] | None = None
) -> Iterator[ProxyProcess]:
    """A healthy `python -m proxy --upstream UPSTREAM ARGS` on 127.0.0.1 (text logs)."""
    port = free_port()
    log_path = log_dir / f"proxy-{port}.log"
    command = [sys.executable, "-m", "proxy", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--upstream", upstream, "--log-format", "text", *args]
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
    proxy = ProxyProcess(process, port, log_path)
    try:
        _wait_until_healthy(proxy)
        yield proxy
    finally:
        stop_process(process)
