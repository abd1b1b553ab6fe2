"""Run the real gRPC server (`python -m server`) as a child process for tests.

`running_server(...)` starts it on a free 127.0.0.1 port, waits until its health service says
SERVING, and always stops it (SIGTERM, then SIGKILL if it hangs) when the block ends.
"""

import contextlib
import dataclasses
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "artifacts"
START_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 30


def free_port() -> int:
    """A port the OS just handed out on 127.0.0.1 (free unless someone takes it meanwhile)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM a child process we started and wait for it; SIGKILL it if it hangs."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclasses.dataclass
class ServerProcess:
    process: subprocess.Popen
    port: int
    log_path: pathlib.Path

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        """Everything the server wrote to stderr (its log) so far."""
        return self.log_path.read_text()

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Signal the server and wait for it to exit; its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"server ignored {signal.Signals(signum).name}; log:\n{self.log()}"
            ) from None


def open_channel(target: str, credentials: grpc.ChannelCredentials | None = None) -> grpc.Channel:
    """A plaintext channel, or a TLS one with `credentials`."""
    if credentials is None:
        return grpc.insecure_channel(target)
    return grpc.secure_channel(target, credentials)


def wait_until_serving(
    server: ServerProcess,
    timeout: float = START_TIMEOUT_SECONDS,
    credentials: grpc.ChannelCredentials | None = None,
) -> None:
    """Block until the server's health service answers SERVING; fail at once if it exits.

    `credentials` are for a server with TLS on (tests/support/tls_files.py makes them)."""
    deadline = time.monotonic() + timeout
    with open_channel(server.target, credentials) as channel:
        ready = grpc.channel_ready_future(channel)
        while not ready.done():
            if server.process.poll() is not None:
                raise AssertionError(f"server exited with {server.process.returncode}; log:\n{server.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"server not listening after {timeout} s; log:\n{server.log()}")
            with contextlib.suppress(grpc.FutureTimeoutError):
                ready.result(timeout=0.1)
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=""), timeout=max(deadline - time.monotonic(), 1)
        )
        try:
            for answer in watch:
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return
        finally:
            watch.cancel()


def server_command(*args: str, launcher: Sequence[str] = ("-m", "server")) -> list[str]:
    # No /metrics unless the test asks with its own --metrics-port in `args` (the last one wins):
    # with the default port, 9090, only the first of several servers could start. No drain delay
    # on SIGTERM either (it would add a second to every stop), unless asked with --drain-seconds.
    return [sys.executable, *launcher, "--metrics-port", "0", "--drain-seconds", "0", *args]


@contextlib.contextmanager
def running_server(
    log_dir: pathlib.Path,
    *args: str,
    port: int | None = None,
    launcher: Sequence[str] = ("-m", "server"),
    env: dict[str, str] | None = None,
    credentials: grpc.ChannelCredentials | None = None,
) -> Iterator[ServerProcess]:
    """A SERVING server with `args` (text logs, 127.0.0.1, a free port); stopped on exit.

    With TLS on (--tls-cert ...), `credentials` let the readiness check connect."""
    port = free_port() if port is None else port
    log_path = log_dir / f"server-{port}.log"
    command = server_command(
        "--host", "127.0.0.1", "--port", str(port), "--log-format", "text", *args, launcher=launcher
    )
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stderr=log, env={**os.environ, **(env or {})})
    server = ServerProcess(process, port, log_path)
    try:
        wait_until_serving(server, credentials=credentials)
        yield server
    finally:
        stop_process(process)
