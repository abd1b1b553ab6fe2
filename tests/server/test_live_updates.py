"""A running server picks up what is published into its repository, under load, losing no call.

A real server (--poll-seconds 0.1) and proxy; gRPC and REST clients call without pause while a
new version is published, a broken one is published, and a serving version's directory is deleted.
"""

import dataclasses
import json
import shutil
import threading
import time
import urllib.parse
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from iris_pb import iris_pb2, iris_pb2_grpc
from tests.support.model_repository import corrupt_onnx, publish_copy
from tests.support.prometheus_text import scrape, value
from tests.support.proxy_process import running_proxy
from tests.support.server_process import free_port, running_server

TIMEOUT = 10
SWITCH_TIMEOUT_SECONDS = 20
FLOWER = {"sepal_length": 6.8, "sepal_width": 3.2, "petal_length": 5.9, "petal_width": 2.3}


@dataclasses.dataclass(frozen=True)
class Answer:
    started: float
    ended: float
    version: str  # the model_version answered, or the error


class SteadyLoad:
    """Client threads calling without pause until stopped; every answer and error is kept."""

    def __init__(self, calls):
        self.answers: list[list[Answer]] = [[] for _ in calls]
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(call, answers), daemon=True)
            for call, answers in zip(calls, self.answers, strict=True)
        ]

    def _run(self, call, answers):
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                version = call()
            except Exception as error:  # every failure is a lost call, kept to be reported
                version = f"error: {error!r}"
            answers.append(Answer(started, time.monotonic(), version))

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(TIMEOUT)

    def all(self) -> list[Answer]:
        return [answer for answers in self.answers for answer in answers]

    def wait_for(self, version: str) -> None:
        give_up = time.monotonic() + SWITCH_TIMEOUT_SECONDS
        while not any(a.version == version for answers in self.answers for a in answers[-5:]):
            assert time.monotonic() < give_up, f"no answer from version {version} within the timeout"
            time.sleep(0.02)

    def calls_after(self, seconds: float) -> None:
        """Let the clients call for `seconds` more."""
        time.sleep(seconds)


@pytest.fixture
def repository(tmp_path):
    publish_copy(tmp_path / "repository", "iris", 1)
    return tmp_path / "repository"


@pytest.fixture
def stack(tmp_path, repository):
    metrics_port = free_port()
    args = ("--repository", str(repository), "--poll-seconds", "0.1", "--metrics-port", str(metrics_port))
    with (
        running_server(tmp_path, *args) as server,
        running_proxy(tmp_path, server.target) as proxy,
        grpc.insecure_channel(server.target) as channel,
    ):
        yield server, proxy, channel, f"http://127.0.0.1:{metrics_port}/metrics"


def clients(proxy, channel):
    stub = iris_pb2_grpc.IrisPredictorStub(channel)
    body = urllib.parse.urlencode(FLOWER).encode()

    def grpc_call():
        return stub.Predict(iris_pb2.PredictRequest(**FLOWER), timeout=TIMEOUT).model_version

    def batch_call():
        rows = iris_pb2.PredictBatchRequest(features=list(FLOWER.values()) * 8)
        return stub.PredictBatch(rows, timeout=TIMEOUT).model_version

    def rest_call():
        with urllib.request.urlopen(f"{proxy.url}/", data=body, timeout=TIMEOUT) as reply:
            answer = json.load(reply)
        assert answer["species"] == "2"
        return answer["model_version"]

    return [grpc_call, batch_call, rest_call]


def test_publishing_a_version_switches_every_client_once_losing_no_call(stack, repository):
    server, proxy, channel, _ = stack
    with SteadyLoad(clients(proxy, channel)) as load:
        load.calls_after(0.3)
        publish_copy(repository, "iris", 2)
        load.wait_for("2")
        load.calls_after(0.5)
    answers = load.all()
    assert {a.version for a in answers} == {"1", "2"}, [a.version for a in answers if "error" in a.version][
        :3
    ]
    switched = min(a.ended for a in answers if a.version == "2")
    assert all(a.version == "2" for a in answers if a.started > switched)  # from one moment on
    for client_answers in load.answers:
        versions = [a.version for a in client_answers]
        assert versions == sorted(versions)  # each client: 1s, then 2s, never back
    assert "model version unloaded  model=iris version=1" in server.log()


def test_a_broken_version_is_refused_while_the_serving_one_goes_on(stack, repository):
    server, proxy, channel, metrics_url = stack
    with SteadyLoad(clients(proxy, channel)) as load:
        corrupt_onnx(publish_copy(repository, "iris", 2))
        give_up = time.monotonic() + SWITCH_TIMEOUT_SECONDS
        while "model version refused  model=iris version=2" not in server.log():
            assert time.monotonic() < give_up, "the broken version was not refused in time"
            time.sleep(0.05)
        load.calls_after(0.3)
    assert {a.version for a in load.all()} == {"1"}
    assert value(scrape(metrics_url), "iris_model_load_failures_total", model="iris", version="2") == 1
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT)
    assert health.status == health_pb2.HealthCheckResponse.SERVING


def test_deleting_the_serving_versions_directory_breaks_no_call(stack, repository):
    _, proxy, channel, metrics_url = stack
    publish_copy(repository, "iris", 2)
    with SteadyLoad(clients(proxy, channel)) as load:
        load.wait_for("2")
        shutil.rmtree(repository / "iris" / "2")  # version 1, still there, is the latest again
        load.wait_for("1")
        load.calls_after(0.3)
    assert {a.version for a in load.all()} == {"1", "2"}
    info = scrape(metrics_url)
    assert value(info, "iris_model_info", model="iris", version="2", sha256=_sha256(repository)) == 0


def _sha256(repository):
    return json.loads((repository / "iris" / "1" / "model.json").read_text())["onnx"]["sha256"]
