"""Run `python -m client` as a user does: from the repository root, its output captured."""

import subprocess
import sys

from tests.support.server_process import REPO_ROOT


def run_client(port: int, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`python -m client --host 127.0.0.1 --port PORT ARGS...`, ended after `timeout` seconds."""
    command = [sys.executable, "-m", "client", "--host", "127.0.0.1", "--port", str(port), *args]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)
