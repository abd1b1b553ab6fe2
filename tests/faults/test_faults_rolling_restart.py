"""Fault: a rolling restart of two server replicas behind one proxy, under steady REST load.

Each replica in turn gets SIGTERM and drains: its health turns NOT_SERVING at once, and the
proxy, which watches every replica's health, stops sending it calls; it keeps answering for
--drain-seconds, then refuses new calls and lets those in flight finish (--grace-seconds), and
exits 0. It starts again on the same port, and the next replica is stopped only once the proxy
sends the returned one calls again (as an orchestrator waits for a replica to be ready in the
load balancer). No request fails.
"""

import asyncio
import contextlib
import signal
import time
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from common.names import ACCEPTING_CALLS_HEALTH_NAME
from iris_pb import iris_pb2, iris_pb2_grpc
from tests.support.proxy_process import running_proxy
from tests.support.rest_load import FLOWER, FLOWER_SPECIES, LoadResult, steady_load, wait_for_successes
from tests.support.server_process import ServerProcess, free_port, running_server

LOAD_WORKERS = 8
# Successes wanted between steps, so every phase of the restart is under load.
SUCCESSES_PER_PHASE = 200
PHASE_TIMEOUT_SECONDS = 60.0
# The proxy reconnects to a returned replica within its reconnect backoff (at most 2 s).
TAKEN_BACK_TIMEOUT_SECONDS = 20.0
DRAIN_ARGS = ("--drain-seconds", "1", "--grace-seconds", "5")


def two_replica_target(ports: list[int]) -> str:
    """A static gRPC target listing both replicas; the proxy balances over them (round_robin)."""
    return "ipv4:" + ",".join(f"127.0.0.1:{port}" for port in ports)


def iris_calls_answered(metrics_port: int) -> float:
    """How many iris.v1 calls (Predict, PredictBatch, ...) a server answered OK, from its /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "iris_grpc_requests_total"
        and sample.labels.get("method", "").startswith("/iris.v1.IrisPredictor/")
        and sample.labels.get("code") == "OK"
    )


def wait_until_taken_back(metrics_port: int) -> float:
    """Block until the server on `metrics_port` has answered a call (from the proxy); the seconds it took."""
    started = time.monotonic()
    while iris_calls_answered(metrics_port) == 0:
        if time.monotonic() - started > TAKEN_BACK_TIMEOUT_SECONDS:
            raise AssertionError(
                f"the proxy sent no call to the returned replica in {TAKEN_BACK_TIMEOUT_SECONDS} s"
            )
        time.sleep(0.1)  # polling the replica's own counter
    return time.monotonic() - started


async def test_rolling_restart_fails_no_request(tmp_path):
    """SIGTERM and restart each of two replicas in turn under load: zero failed requests."""
    ports = [free_port(), free_port()]
    taken_back_after = []
    with contextlib.ExitStack() as processes:

        def start(port: int, generation: int, *args: str) -> ServerProcess:
            log_dir = tmp_path / f"server-{port}-{generation}"
            log_dir.mkdir()
            return processes.enter_context(running_server(log_dir, *DRAIN_ARGS, *args, port=port))

        servers = [start(port, 0) for port in ports]
        proxy = processes.enter_context(running_proxy(tmp_path, two_replica_target(ports)))
        stop, result = asyncio.Event(), LoadResult()
        load = asyncio.create_task(steady_load(f"{proxy.url}/", stop, result, workers=LOAD_WORKERS))
        try:
            await wait_for_successes(result, SUCCESSES_PER_PHASE, PHASE_TIMEOUT_SECONDS)
            for index, port in enumerate(ports):
                exit_code = await asyncio.to_thread(servers[index].stop, signal.SIGTERM)
                assert exit_code == 0, servers[index].log()
                await wait_for_successes(result, SUCCESSES_PER_PHASE, PHASE_TIMEOUT_SECONDS)
                metrics_port = free_port()
                servers[index] = await asyncio.to_thread(start, port, 1, "--metrics-port", str(metrics_port))
                taken_back_after.append(await asyncio.to_thread(wait_until_taken_back, metrics_port))
                await wait_for_successes(result, SUCCESSES_PER_PHASE, PHASE_TIMEOUT_SECONDS)
        finally:
            stop.set()
            await load
        assert proxy.process.poll() is None, "the proxy must not restart"
        print(
            f"rolling restart: {result.summary()}; the proxy sent calls to each returned replica "
            f"{', '.join(f'{seconds:.1f}' for seconds in taken_back_after)} s after it was SERVING"
        )
        assert result.failures == [], result.summary() + "\n" + "\n".join(result.failures[:20])
        assert result.ok >= 5 * SUCCESSES_PER_PHASE


def test_a_draining_server_says_so_and_still_answers_until_its_drain_ends(tmp_path):
    """After SIGTERM: health NOT_SERVING (readiness and accepting calls) at once, calls still
    answered during --drain-seconds, then exit 0."""
    with (
        running_server(tmp_path, "--drain-seconds", "3") as server,
        grpc.insecure_channel(server.target) as channel,
    ):
        health = health_pb2_grpc.HealthStub(channel)

        def status(name: str) -> int:
            return health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5).status

        assert status(ACCEPTING_CALLS_HEALTH_NAME) == health_pb2.HealthCheckResponse.SERVING
        watch = health.Watch(health_pb2.HealthCheckRequest(service=ACCEPTING_CALLS_HEALTH_NAME), timeout=10)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        server.process.send_signal(signal.SIGTERM)
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING  # pushed, not polled
        watch.cancel()
        assert status("") == health_pb2.HealthCheckResponse.NOT_SERVING
        reply = iris_pb2_grpc.IrisPredictorStub(channel).Predict(iris_pb2.PredictRequest(**FLOWER), timeout=5)
        assert str(reply.species) == FLOWER_SPECIES
        assert server.process.wait(30) == 0
