"""The real server over gRPC: the same answers as onnxruntime, every bad input refused by name,
health, reflection and the health-check command."""

import json
import math
import subprocess
import sys
from collections.abc import Iterator

import grpc
import numpy as np
import onnxruntime
import pytest
from google.protobuf import descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from sklearn.datasets import load_iris

from iris_pb import iris_pb2, iris_pb2_grpc
from tests.support.server_process import ARTIFACTS, REPO_ROOT, ServerProcess, free_port, running_server
from tests.support.status_details import field_violations

FIELDS = ("sepal_length", "sepal_width", "petal_length", "petal_width")
CLASS_NAMES = ["setosa", "versicolor", "virginica"]
MAX_BATCH_ROWS = 10_000  # the server's default
MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # the server's default
TIMEOUT = 10


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("grpc")) as server:
        yield server


@pytest.fixture(scope="module")
def channel(server) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.target) as channel:
        yield channel


@pytest.fixture(scope="module")
def stub(channel) -> iris_pb2_grpc.IrisPredictorStub:
    return iris_pb2_grpc.IrisPredictorStub(channel)


@pytest.fixture(scope="module")
def iris_rows() -> np.ndarray:
    return load_iris().data.astype(np.float32)


@pytest.fixture(scope="module")
def expected(iris_rows) -> tuple[np.ndarray, np.ndarray]:
    """Labels and probabilities from onnxruntime run directly on the committed model."""
    session = onnxruntime.InferenceSession(str(ARTIFACTS / "iris" / "1" / "model.onnx"))
    return tuple(session.run(["label", "probabilities"], {"input": iris_rows}))


def flower(*values: float) -> iris_pb2.PredictRequest:
    return iris_pb2.PredictRequest(**dict(zip(FIELDS, values, strict=True)))


def assert_answers_correctly(stub: iris_pb2_grpc.IrisPredictorStub) -> None:
    """The server still answers a good request right (after a bad one)."""
    reply = stub.Predict(flower(5.1, 3.5, 1.4, 0.2), timeout=TIMEOUT)
    assert (reply.species, reply.species_name) == (0, "setosa")


def test_predict_matches_onnxruntime_for_every_iris_flower(stub, iris_rows, expected):
    labels, probabilities = expected
    for row, values in enumerate(iris_rows.tolist()):
        reply = stub.Predict(flower(*values), timeout=TIMEOUT)
        assert reply.species == labels[row]
        assert reply.species_name == CLASS_NAMES[labels[row]]
        np.testing.assert_allclose(reply.probabilities, probabilities[row], rtol=1e-6, atol=1e-7)
        assert (reply.model_name, reply.model_version) == ("iris", "1")


def test_predict_batch_matches_onnxruntime_on_the_whole_iris_data(stub, iris_rows, expected):
    labels, probabilities = expected
    reply = stub.PredictBatch(
        iris_pb2.PredictBatchRequest(features=iris_rows.ravel().tolist()), timeout=TIMEOUT
    )
    np.testing.assert_array_equal(reply.species, labels)
    np.testing.assert_allclose(np.reshape(reply.probabilities, (-1, 3)), probabilities, rtol=1e-6, atol=1e-7)
    assert list(reply.class_names) == CLASS_NAMES
    assert (reply.model_name, reply.model_version) == ("iris", "1")


def test_predict_stream_answers_every_row_in_order(stub, iris_rows, expected):
    labels, probabilities = expected
    replies = list(stub.PredictStream(iter([flower(*v) for v in iris_rows.tolist()]), timeout=TIMEOUT))
    assert [r.species for r in replies] == labels.tolist()
    np.testing.assert_allclose([list(r.probabilities) for r in replies], probabilities, rtol=1e-6, atol=1e-7)


def test_an_empty_batch_gets_an_empty_answer(stub):
    reply = stub.PredictBatch(iris_pb2.PredictBatchRequest(), timeout=TIMEOUT)
    assert (list(reply.species), list(reply.probabilities)) == ([], [])
    assert list(reply.class_names) == CLASS_NAMES


def test_concurrent_calls_each_get_their_own_answer(stub, iris_rows, expected):
    calls = [stub.Predict.future(flower(*values), timeout=TIMEOUT) for values in iris_rows.tolist()]
    assert [call.result().species for call in calls] == expected[0].tolist()


def batch(*values: float) -> iris_pb2.PredictBatchRequest:
    return iris_pb2.PredictBatchRequest(features=values)


def rows(count: int) -> iris_pb2.PredictBatchRequest:
    return iris_pb2.PredictBatchRequest(features=[1.0] * 4 * count)


INVALID = grpc.StatusCode.INVALID_ARGUMENT
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED


def without(field: str) -> iris_pb2.PredictRequest:
    request = flower(5, 3, 1, 1)
    request.ClearField(field)
    return request


NOT_FINITE = "; features must be finite numbers"


@pytest.mark.parametrize(
    ("method", "request_message", "code", "message"),
    [
        ("Predict", without("sepal_length"), INVALID, "sepal_length is missing"),
        ("Predict", without("petal_width"), INVALID, "petal_width is missing"),
        ("Predict", flower(5, math.nan, 1, 1), INVALID, "sepal_width is NaN" + NOT_FINITE),
        ("Predict", flower(5, 3, math.inf, 1), INVALID, "petal_length is +inf" + NOT_FINITE),
        ("Predict", flower(-math.inf, 3, 1, 1), INVALID, "sepal_length is -inf" + NOT_FINITE),
        ("PredictBatch", batch(1, 2, 3, 4, 5, 6, 7), INVALID, "features has 7 values, not a multiple of 4"),
        (
            "PredictBatch",
            batch(1, 2, 3, 4, 1, 2, 3, 4, 1, math.nan, 3, 4),
            INVALID,
            "row 2: sepal_width is NaN",
        ),
        ("PredictBatch", batch(1, 2, 3, -math.inf), INVALID, "row 0: petal_width is -inf" + NOT_FINITE),
        ("Predict", flower(5, 3, 1, 1e38), INVALID, "features too large for the model"),
        ("PredictBatch", batch(1, 2, 3, 4, 5, 3, 1, 3e38), INVALID, "row 1: features too large for"),
        ("PredictBatch", rows(MAX_BATCH_ROWS + 1), EXHAUSTED, "10001 rows in one call; the limit is 10000"),
        # Larger than --max-message-bytes: gRPC itself refuses it before the service sees it.
        ("PredictBatch", rows(MAX_MESSAGE_BYTES // 16 + 1), EXHAUSTED, "Received message larger than max"),
    ],
)
def test_a_bad_request_gets_its_status_and_a_message_naming_the_field(
    stub, method, request_message, code, message
):
    with pytest.raises(grpc.RpcError) as error:
        getattr(stub, method)(request_message, timeout=TIMEOUT)
    assert error.value.code() == code
    assert message in error.value.details()
    assert_answers_correctly(stub)


def test_a_full_size_batch_is_answered(stub):
    reply = stub.PredictBatch(rows(MAX_BATCH_ROWS), timeout=TIMEOUT)
    assert len(reply.species) == MAX_BATCH_ROWS


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (flower(1, 2, 3, math.nan), "row 5: petal_width is NaN"),
        (without("sepal_width"), "row 5: sepal_width is missing"),
    ],
)
def test_a_bad_row_ends_the_stream_after_the_rows_before_it_are_answered(stub, bad, message):
    requests = [flower(5.1, 3.5, 1.4, 0.2)] * 5 + [bad] + [flower(5.1, 3.5, 1.4, 0.2)] * 3
    answers = []
    with pytest.raises(grpc.RpcError) as error:
        answers.extend(reply.species for reply in stub.PredictStream(iter(requests), timeout=TIMEOUT))
    assert answers == [0] * 5
    assert error.value.code() == INVALID
    assert message in error.value.details()
    assert_answers_correctly(stub)


TOO_LARGE = "features too large for the model: its class probabilities are not finite numbers"


@pytest.mark.parametrize(
    ("method", "request_message", "violations"),
    [
        ("Predict", without("petal_width"), [("petal_width", "petal_width is missing")]),
        ("Predict", flower(5, math.nan, 1, 1), [("sepal_width", "sepal_width is NaN" + NOT_FINITE)]),
        ("Predict", flower(5, 3, 1, 1e38), [("", TOO_LARGE)]),
        (
            "PredictBatch",
            batch(1, 2, 3, 4, 5, 6, 7),
            [
                (
                    "features",
                    "features has 7 values, not a multiple of 4 "
                    "(each row is sepal_length, sepal_width, petal_length, petal_width)",
                )
            ],
        ),
        (
            "PredictBatch",
            batch(1, 2, 3, 4, 1, 2, 3, 4, 1, math.nan, 3, 4),
            [("rows[2].sepal_width", "sepal_width is NaN" + NOT_FINITE)],
        ),
        ("PredictBatch", batch(1, 2, 3, 4, 5, 3, 1, 3e38), [("rows[1]", TOO_LARGE)]),
        ("PredictBatch", rows(MAX_BATCH_ROWS + 1), None),  # RESOURCE_EXHAUSTED names no field
    ],
)
def test_a_bad_request_names_its_row_and_field_in_bad_request_details(
    stub, method, request_message, violations
):
    """INVALID_ARGUMENT carries a google.rpc.BadRequest: `rows[k].<feature>`, `rows[k]`, or the
    request's field (common/error_details.py), described without the message's row prefix."""
    with pytest.raises(grpc.RpcError) as error:
        getattr(stub, method)(request_message, timeout=TIMEOUT)
    assert field_violations(error.value) == violations


@pytest.mark.parametrize(
    ("bad", "violation"),
    [
        (flower(1, 2, 3, math.nan), ("rows[5].petal_width", "petal_width is NaN" + NOT_FINITE)),
        (without("sepal_width"), ("rows[5].sepal_width", "sepal_width is missing")),
    ],
)
def test_a_bad_row_of_a_stream_is_named_by_its_position_in_the_details(stub, bad, violation):
    requests = [flower(5.1, 3.5, 1.4, 0.2)] * 5 + [bad]
    with pytest.raises(grpc.RpcError) as error:
        list(stub.PredictStream(iter(requests), timeout=TIMEOUT))
    assert field_violations(error.value) == [violation]


def test_an_error_is_logged_with_the_callers_request_id(server, stub):
    with pytest.raises(grpc.RpcError):
        stub.Predict(flower(1, 2, 3, math.nan), timeout=TIMEOUT, metadata=[("x-request-id", "req-7f3a")])
    with pytest.raises(grpc.RpcError):
        stub.Predict(flower(1, 2, 3, math.inf), timeout=TIMEOUT)
    log = server.log()
    assert (
        "code=INVALID_ARGUMENT error=petal_width is NaN; features must be finite numbers request_id=req-7f3a"
        in log
    )
    assert "error=petal_width is +inf; features must be finite numbers request_id=-" in log


def test_the_log_names_each_model_version_loaded_and_the_start(server):
    manifest = json.loads((ARTIFACTS / "iris" / "1" / "model.json").read_text())
    manifest_sha256 = manifest["onnx"]["sha256"]
    assert f"model version loaded  model=iris version=1 sha256={manifest_sha256}" in server.log()
    assert "server started  models=iris (version 1) iris_model=iris" in server.log()


@pytest.mark.parametrize("service", ["", "iris.v1.IrisPredictor"])
def test_health_is_serving_once_started(channel, service):
    answer = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT
    )
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_health_of_an_unknown_service_is_not_found(channel):
    with pytest.raises(grpc.RpcError) as error:
        health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="nope.V1"), timeout=TIMEOUT
        )
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


def test_reflection_lists_the_services_and_describes_the_api(channel):
    database = ProtoReflectionDescriptorDatabase(channel)
    assert set(database.get_services()) >= {
        "iris.v1.IrisPredictor",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    service = descriptor_pool.DescriptorPool(database).FindServiceByName("iris.v1.IrisPredictor")
    assert [m.name for m in service.methods] == ["Predict", "PredictBatch", "PredictStream"]


def run_healthcheck(port: int) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "server.healthcheck", "--port", str(port), "--timeout", "5"]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)


def test_the_healthcheck_command_exits_0_for_a_serving_server(server):
    result = run_healthcheck(server.port)
    assert (result.returncode, result.stdout.strip()) == (0, "SERVING")


def test_the_healthcheck_command_exits_1_when_nothing_listens():
    result = run_healthcheck(free_port())
    assert result.returncode == 1
    assert "unhealthy: UNAVAILABLE" in result.stderr
