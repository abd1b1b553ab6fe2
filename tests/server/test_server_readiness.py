"""The server's HTTP readiness path, GET /readyz on --metrics-port, for load balancers that cannot
speak grpc.health.v1 (the HAProxy edge): the same state as grpc.health.v1's "", not ready while the
model loads and warms up nor while draining, for one process and for a --workers parent."""

import contextlib
import os
import pathlib
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from iris_pb import iris_pb2, iris_pb2_grpc
from tests.support.server_process import REPO_ROOT, free_port, running_server, server_command, stop_process

TIMEOUT = 30
HELD_WARM_UP = REPO_ROOT / "tests" / "support" / "held_warm_up"
VIRGINICA = iris_pb2.PredictRequest(sepal_length=6.8, sepal_width=3.2, petal_length=5.9, petal_width=2.3)


def http_status(url: str) -> int | None:
    """The status GET `url` answers, or None while nothing listens there."""
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
    except (ConnectionError, urllib.error.URLError):
        return None


def wait_for_status(url: str, wanted: int) -> None:
    deadline = time.monotonic() + TIMEOUT
    while (status := http_status(url)) != wanted:
        assert time.monotonic() < deadline, f"GET {url} still answers {status}, not {wanted}"
        time.sleep(0.02)


def grpc_health(target: str) -> int:
    """grpc.health.v1's answer for "", once the gRPC port is bound (it opens after the HTTP port)."""
    with grpc.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        return health.Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT, wait_for_ready=True).status


@contextlib.contextmanager
def held_server(tmp_path, *args: str) -> Iterator[tuple[subprocess.Popen, str, int, pathlib.Path]]:
    """A server whose warm-up waits for tmp_path/release-<worker> (tests/support/held_warm_up); its
    process, /readyz URL, gRPC port and log."""
    port, metrics_port = free_port(), free_port()
    log_path = tmp_path / "server.log"
    command = server_command(
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--metrics-port",
        str(metrics_port),
        "--log-format",
        "text",
        *args,
    )
    env = {**os.environ, "PYTHONPATH": str(HELD_WARM_UP), "IRIS_TEST_RELEASE_DIR": str(tmp_path)}
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stderr=log, env=env)
    try:
        yield process, f"http://127.0.0.1:{metrics_port}/readyz", port, log_path
    finally:
        stop_process(process)


def wait_for_log(log_path, text: str, count: int = 1) -> None:
    deadline = time.monotonic() + TIMEOUT
    while log_path.read_text().count(text) < count:
        assert time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.02)


def test_a_warming_server_is_not_ready_until_its_warm_up_ends(tmp_path):
    """/readyz answers 503 while the model warms up (health NOT_SERVING), then 200 (SERVING)."""
    with held_server(tmp_path) as (_, readyz, port, _log):
        wait_for_status(readyz, 503)
        assert grpc_health(f"127.0.0.1:{port}") == health_pb2.HealthCheckResponse.NOT_SERVING
        (tmp_path / "release-0").touch()
        wait_for_status(readyz, 200)
        assert grpc_health(f"127.0.0.1:{port}") == health_pb2.HealthCheckResponse.SERVING


def test_a_draining_server_is_not_ready_while_it_still_answers(tmp_path):
    """After SIGTERM /readyz answers 503 at once, while gRPC calls are still answered (--drain-seconds)."""
    metrics_port = free_port()
    args = ("--metrics-port", str(metrics_port), "--drain-seconds", "5")
    with running_server(tmp_path, *args) as server, grpc.insecure_channel(server.target) as channel:
        readyz = f"http://127.0.0.1:{metrics_port}/readyz"
        assert http_status(readyz) == 200
        assert http_status(f"http://127.0.0.1:{metrics_port}/healthz") == 200
        assert http_status(f"http://127.0.0.1:{metrics_port}/nowhere") == 404
        server.process.send_signal(signal.SIGTERM)
        wait_for_status(readyz, 503)
        assert iris_pb2_grpc.IrisPredictorStub(channel).Predict(VIRGINICA, timeout=TIMEOUT).species == 2
        assert server.process.wait(TIMEOUT) == 0


def test_a_workers_parent_is_ready_only_when_every_worker_is(tmp_path):
    """--workers 2: /readyz is 503 while one worker still warms up, 200 once both serve, and 503
    again as soon as SIGTERM reaches the parent."""
    with held_server(tmp_path, "--workers", "2", "--drain-seconds", "5") as (process, readyz, _, log):
        wait_for_status(readyz, 503)
        (tmp_path / "release-0").touch()
        wait_for_log(log, "server started")
        assert http_status(readyz) == 503, "worker 1 is still warming up"
        (tmp_path / "release-1").touch()
        wait_for_status(readyz, 200)
        process.send_signal(signal.SIGTERM)
        wait_for_status(readyz, 503)
        assert process.wait(TIMEOUT) == 0
