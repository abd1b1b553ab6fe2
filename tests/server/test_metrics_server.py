"""The server's Prometheus metrics, read from its /metrics port as Prometheus reads them: calls of
every service by method and status, latency, in-flight calls, rows and model runs, model info,
process metrics, and the sum over --workers processes. Also its --metrics-port and
--max-connection-age-seconds settings."""

import json
import pathlib
import queue
import re
import socket
import subprocess
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client import REGISTRY

from common.settings import SettingsError
from inference_pb import grpc_predict_v2_pb2, grpc_predict_v2_pb2_grpc
from iris_pb import iris_pb2, iris_pb2_grpc
from server.config import parse_settings
from server.metrics import _final_code, _measured
from tests.support.prometheus_text import label_values, scrape, value
from tests.support.server_process import ARTIFACTS, REPO_ROOT, free_port, running_server, server_command

SETOSA = iris_pb2.PredictRequest(sepal_length=5.1, sepal_width=3.5, petal_length=1.4, petal_width=0.2)
PREDICT = "/iris.v1.IrisPredictor/Predict"
TIMEOUT = 30
ENDS = ("OK", "CANCELLED")  # how a stream its client cancels can be counted (see the test)


class MeteredServer:
    def __init__(self, target: str, metrics_port: int):
        self.target = target
        self.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"

    def scrape(self):
        return scrape(self.metrics_url)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server with metrics, shared by the tests here: they compare counts before and after."""
    metrics_port = free_port()
    log_dir = tmp_path_factory.mktemp("metered-server")
    with running_server(log_dir, "--metrics-port", str(metrics_port)) as process:
        yield MeteredServer(process.target, metrics_port)


@pytest.fixture
def stub(server):
    with grpc.insecure_channel(server.target) as channel:
        yield iris_pb2_grpc.IrisPredictorStub(channel)


def test_calls_are_counted_by_method_and_status_code(server, stub):
    """Successful and failed (INVALID_ARGUMENT) calls each add one to their method and code."""
    before = server.scrape()
    for _ in range(3):
        stub.Predict(SETOSA, timeout=TIMEOUT)
    for _ in range(2):
        with pytest.raises(grpc.RpcError) as failure:
            stub.Predict(iris_pb2.PredictRequest(sepal_length=float("nan")), timeout=TIMEOUT)
        assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    after = server.scrape()

    def added(code):
        name = "iris_grpc_requests_total"
        return value(after, name, method=PREDICT, code=code) - value(before, name, method=PREDICT, code=code)

    assert (added("OK"), added("INVALID_ARGUMENT")) == (3, 2)


def test_call_latency_histogram_moves(server, stub):
    """Each call adds one observation to its method's latency histogram, in a bucket up to 10 s."""
    before = server.scrape()
    for _ in range(4):
        stub.Predict(SETOSA, timeout=TIMEOUT)
    after = server.scrape()
    name = "iris_grpc_request_duration_seconds"

    def added(sample, **labels):
        labels["method"] = PREDICT
        return value(after, sample, **labels) - value(before, sample, **labels)

    assert added(f"{name}_count") == 4
    assert added(f"{name}_bucket", le="+Inf") == 4
    assert added(f"{name}_sum") > 0
    buckets = sorted(float(le) for le in label_values(after, f"{name}_bucket", "le"))
    assert buckets[0] <= 0.0001  # sub-millisecond
    assert buckets[-2] >= 10  # to multi-second, then +Inf


def test_rows_model_runs_and_batch_sizes_are_recorded(server, stub):
    """A PredictBatch of 7 rows is one model run of 7 rows."""
    before = server.scrape()
    rows = iris_pb2.PredictBatchRequest(features=[5.1, 3.5, 1.4, 0.2] * 7)
    reply = stub.PredictBatch(rows, timeout=TIMEOUT)
    assert len(reply.species) == 7
    after = server.scrape()

    def added(sample, **labels):
        labels.update(model="iris", version="1")
        return value(after, sample, **labels) - value(before, sample, **labels)

    assert added("iris_predicted_rows_total") == 7
    assert added("iris_batch_rows_count") == 1
    assert added("iris_batch_rows_sum") == 7
    assert (added("iris_batch_rows_bucket", le="5.0"), added("iris_batch_rows_bucket", le="10.0")) == (0, 1)
    assert added("iris_inference_duration_seconds_count") == 1
    assert added("iris_inference_duration_seconds_bucket", le="+Inf") == 1


def test_every_service_is_counted(server):
    """Health and KServe V2 calls are counted like iris.v1; calls of unknown methods under one label."""
    before = server.scrape()
    with grpc.insecure_channel(server.target) as channel:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT)
        grpc_predict_v2_pb2_grpc.GRPCInferenceServiceStub(channel).ServerLive(
            grpc_predict_v2_pb2.ServerLiveRequest(), timeout=TIMEOUT
        )
        with pytest.raises(grpc.RpcError) as failure:
            channel.unary_unary("/no.such.Service/Method")(b"", timeout=TIMEOUT)
        assert failure.value.code() == grpc.StatusCode.UNIMPLEMENTED
    after = server.scrape()
    counts = {
        (method, code): value(after, "iris_grpc_requests_total", method=method, code=code)
        - value(before, "iris_grpc_requests_total", method=method, code=code)
        for method, code in [
            ("/grpc.health.v1.Health/Check", "OK"),
            ("/inference.GRPCInferenceService/ServerLive", "OK"),
            ("unknown", "UNIMPLEMENTED"),
        ]
    }
    assert set(counts.values()) == {1}
    assert "/no.such.Service/Method" not in label_values(after, "iris_grpc_requests_total", "method")


def test_an_open_stream_is_in_flight_until_it_ends(server, stub):
    """An open PredictStream counts as one call in flight; once it has ended, none is."""
    rows: queue.Queue = queue.Queue()
    call = stub.PredictStream(iter(rows.get, None), timeout=TIMEOUT)
    rows.put(SETOSA)
    assert next(call).species == 0
    assert value(server.scrape(), "iris_grpc_requests_in_flight") == 1
    rows.put(None)  # ends the request stream
    assert list(call) == []
    assert value(server.scrape(), "iris_grpc_requests_in_flight") == 0


def test_a_stream_the_client_cancels_is_counted_once_as_it_ended(server, stub):
    """A PredictStream cancelled by its client leaves the in-flight gauge and is counted once:
    CANCELLED, or OK when gRPC told the handler of the request stream's end before the
    cancellation (two completions of the same RST_STREAM, in either order; about 1 run in 6 here).
    Which one the server picks is test_final_code_asks_only_streams_whether_the_client_left's."""
    stream = "/iris.v1.IrisPredictor/PredictStream"

    def ended_calls(scraped) -> float:
        return sum(value(scraped, "iris_grpc_requests_total", method=stream, code=code) for code in ENDS)

    before = ended_calls(server.scrape())
    rows: queue.Queue = queue.Queue()
    call = stub.PredictStream(iter(rows.get, None), timeout=TIMEOUT)
    rows.put(SETOSA)
    assert next(call).species == 0
    call.cancel()
    rows.put(None)
    deadline = time.monotonic() + TIMEOUT
    while value(server.scrape(), "iris_grpc_requests_in_flight") != 0 and time.monotonic() < deadline:
        time.sleep(0.01)  # the server learns of the cancellation on its own schedule
    after = server.scrape()
    assert value(after, "iris_grpc_requests_in_flight") == 0
    assert ended_calls(after) == before + 1


def test_reflection_streams_the_client_cancels_are_counted_cancelled_never_unknown(server):
    """grpcurl cancels its reflection stream once it has its answer. Reflection's handler reads its
    requests itself, and the read raises when the call is cancelled: that is the client leaving
    (CANCELLED, or OK as above), not a failure of the handler (UNKNOWN)."""
    method = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
    cancels = 10

    def counted(scraped, codes) -> float:
        return sum(value(scraped, "iris_grpc_requests_total", method=method, code=code) for code in codes)

    before = server.scrape()
    with grpc.insecure_channel(server.target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        for _ in range(cancels):
            requests: queue.Queue = queue.Queue()
            call = stub.ServerReflectionInfo(iter(requests.get, None), timeout=TIMEOUT)
            requests.put(reflection_pb2.ServerReflectionRequest(list_services=""))
            assert next(call).HasField("list_services_response")
            call.cancel()
            requests.put(None)
            deadline = time.monotonic() + TIMEOUT
            while value(server.scrape(), "iris_grpc_requests_in_flight") != 0 and time.monotonic() < deadline:
                time.sleep(0.01)  # the server learns of the cancellation on its own schedule
    after = server.scrape()
    assert value(after, "iris_grpc_requests_in_flight") == 0
    assert counted(after, ["UNKNOWN"]) == counted(before, ["UNKNOWN"])
    assert counted(after, ENDS) == counted(before, ENDS) + cancels


class FinishedCall:
    """What _final_code reads of a call whose handler has finished (a grpc.ServicerContext's part)."""

    def __init__(self, client_left: bool, seconds_left: float = 10.0):
        self.client_left = client_left
        self.seconds_left = seconds_left
        self.asked_is_active = False

    def code(self):
        return None  # no abort or set_code

    def time_remaining(self) -> float:
        return self.seconds_left

    def is_active(self) -> bool:
        self.asked_is_active = True
        return not self.client_left


def test_final_code_asks_only_streams_whether_the_client_left():
    """A stream whose client left is CANCELLED; a unary call counts by what its handler did (OK),
    without taking the call's lock to ask; a passed deadline is DEADLINE_EXCEEDED for both."""
    left_stream, left_unary = FinishedCall(client_left=True), FinishedCall(client_left=True)

    assert _final_code(left_stream, raised=False, streaming=True) == "CANCELLED"
    assert _final_code(FinishedCall(client_left=False), raised=False, streaming=True) == "OK"
    assert _final_code(left_unary, raised=False, streaming=False) == "OK"
    assert not left_unary.asked_is_active
    for streaming in (True, False):
        expired = FinishedCall(client_left=True, seconds_left=0.0)
        assert _final_code(expired, raised=False, streaming=streaming) == "DEADLINE_EXCEEDED"
        assert _final_code(FinishedCall(client_left=False), raised=True, streaming=streaming) == "UNKNOWN"


@pytest.mark.parametrize("streaming", [True, False])
def test_final_code_of_a_handler_that_raised_after_its_client_left_is_cancelled(streaming):
    """gRPC's request iterator raises grpc.RpcError once the client has cancelled: the handler's
    raise is then the call's end, CANCELLED (or DEADLINE_EXCEEDED), not a failure (UNKNOWN)."""
    assert _final_code(FinishedCall(client_left=True), raised=True, streaming=streaming) == "CANCELLED"
    expired = FinishedCall(client_left=True, seconds_left=0.0)
    assert _final_code(expired, raised=True, streaming=streaming) == "DEADLINE_EXCEEDED"


def test_a_stream_handler_whose_request_read_raises_after_the_client_left_is_counted_cancelled():
    """Through the interceptor's wrapper: a handler like reflection's, whose read of the requests
    raises when its client has cancelled, is counted CANCELLED; while the client is there, UNKNOWN."""
    method = "/test.metrics.Wrapper/Reflect"

    def reflect(requests, context):
        yield from requests

    def cancelled_requests():
        yield "first"
        raise grpc.RpcError()  # what grpc's request iterator raises once the client has cancelled

    measured = _measured(grpc.stream_stream_rpc_method_handler(reflect), method).stream_stream
    for client_left in (True, False):
        with pytest.raises(grpc.RpcError):
            list(measured(cancelled_requests(), FinishedCall(client_left=client_left)))

    def count(code: str) -> float:
        return REGISTRY.get_sample_value("iris_grpc_requests_total", {"method": method, "code": code})

    assert (count("CANCELLED"), count("UNKNOWN")) == (1, 1)


def test_model_info_names_the_served_model(server):
    """iris_model_info is 1 with the model's name, version and the sha256 of its ONNX file."""
    manifest = json.loads((ARTIFACTS / "iris" / "1" / "model.json").read_text())
    labels = {"model": "iris", "version": str(manifest["version"]), "sha256": manifest["onnx"]["sha256"]}
    assert value(server.scrape(), "iris_model_info", **labels) == 1


def test_process_metrics_are_reported(server):
    """The standard process metrics (memory, CPU, file descriptors) are there."""
    samples = server.scrape()
    assert value(samples, "process_resident_memory_bytes") > 0
    assert value(samples, "process_cpu_seconds_total") > 0
    assert value(samples, "process_open_fds") > 0


def test_workers_report_the_calls_of_every_worker(tmp_path):
    """With --workers 2 the parent's /metrics counts every call, whichever worker answered it."""
    metrics_port = free_port()
    calls = 24  # each on a new connection: SO_REUSEPORT spreads them over both workers
    with running_server(tmp_path, "--workers", "2", "--metrics-port", str(metrics_port)) as process:
        for _ in range(calls):
            with grpc.insecure_channel(process.target) as channel:
                iris_pb2_grpc.IrisPredictorStub(channel).Predict(SETOSA, timeout=TIMEOUT)
        samples = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
        assert value(samples, "iris_grpc_requests_total", method=PREDICT, code="OK") == calls
        assert value(samples, "iris_grpc_request_duration_seconds_count", method=PREDICT) == calls
        assert value(samples, "iris_predicted_rows_total", model="iris", version="1") == calls
        assert value(samples, "iris_grpc_requests_in_flight") == 0
        assert label_values(samples, "process_resident_memory_bytes", "worker") == {"0", "1", "parent"}
        assert len(label_values(samples, "iris_model_info", "sha256")) == 1
        assert process.stop() == 0
        metrics_dir = re.search(r"metrics_dir=(\S+)", process.log()).group(1)
    assert not pathlib.Path(metrics_dir).exists()


def test_a_taken_metrics_port_stops_start_up():
    """If --metrics-port cannot be bound the server exits 1 naming it, like a taken gRPC port."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        address = ["--host", "127.0.0.1", "--port", str(free_port())]
        command = server_command(*address, "--metrics-port", str(port))
        result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"server cannot start: cannot serve HTTP on --metrics-port={port}" in result.stderr


def test_connections_are_closed_after_their_maximum_age(tmp_path):
    """With --max-connection-age-seconds 1 the server closes an open connection; the client reconnects."""
    with (
        running_server(tmp_path, "--max-connection-age-seconds", "1") as process,
        grpc.insecure_channel(process.target) as channel,
    ):
        stub = iris_pb2_grpc.IrisPredictorStub(channel)
        stub.Predict(SETOSA, timeout=TIMEOUT)
        left_ready = threading.Event()
        ready_seen = threading.Event()

        def watch(state):
            if state == grpc.ChannelConnectivity.READY:
                ready_seen.set()
            elif ready_seen.is_set():
                left_ready.set()

        channel.subscribe(watch)
        assert left_ready.wait(TIMEOUT), "the connection was not closed"
        channel.unsubscribe(watch)
        assert stub.Predict(SETOSA, timeout=TIMEOUT).species == 0


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        ([], {}, (9090, 30.0)),
        (["--metrics-port", "0", "--max-connection-age-seconds", "0"], {}, (0, 0.0)),
        ([], {"IRIS_METRICS_PORT": "9100", "IRIS_MAX_CONNECTION_AGE_SECONDS": "2.5"}, (9100, 2.5)),
        (["--metrics-port", "9200"], {"IRIS_METRICS_PORT": "9100"}, (9200, 30.0)),
    ],
)
def test_metrics_port_and_connection_age_settings(argv, environ, expected):
    """Both settings have a flag and an IRIS_* twin; 9090 and 30 s by default, 0 switches them off."""
    settings = parse_settings(argv, environ)
    assert (settings.metrics_port, settings.max_connection_age_seconds) == expected


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--metrics-port", "65536"], "--metrics-port='65536' is not valid: expected an integer from 0"),
        (["--max-connection-age-seconds", "-1"], "--max-connection-age-seconds='-1' is not valid"),
        (["--port", "9300", "--metrics-port", "9300"], "--metrics-port=9300 with --port=9300 is not valid"),
    ],
)
def test_bad_metrics_settings_are_named(argv, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        parse_settings(argv, {})
