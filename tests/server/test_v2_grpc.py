"""The server's KServe V2 gRPC service as Triton's own client sees it: health, metadata, answers
equal to iris.v1's, typed and raw tensors, and every mistake refused with the server's message."""

from collections.abc import Iterator

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from inference_pb import grpc_predict_v2_pb2 as pb
from inference_pb import grpc_predict_v2_pb2_grpc as pb_grpc
from server.app import start_server
from server.config import Settings
from server.repository import ModelRepository
from server.served_models import ServedModels
from tests.support.server_process import ARTIFACTS
from tests.support.status_details import field_violations
from tests.support.triton_grpc import triton
from tests.support.v2_answers import assert_same_answers, flowers, iris_v1_answers, refused

TIMEOUT = 10
V2_SERVICE = "inference.GRPCInferenceService"


@pytest.fixture(scope="module")
def client(iris_server) -> Iterator[triton.InferenceServerClient]:
    with triton.InferenceServerClient(iris_server.target) as client:
        yield client


@pytest.fixture(scope="module")
def channel(iris_server) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(iris_server.target) as channel:
        yield channel


@pytest.fixture(scope="module")
def v2_stub(channel) -> pb_grpc.GRPCInferenceServiceStub:
    """A plain stub, for what tritonclient never sends (typed contents, malformed requests)."""
    return pb_grpc.GRPCInferenceServiceStub(channel)


def triton_input(rows: np.ndarray, datatype: str = "FP32", name: str = "input") -> triton.InferInput:
    tensor = triton.InferInput(name, list(rows.shape), datatype)
    tensor.set_data_from_numpy(rows)
    return tensor


def test_server_is_live_and_ready(client):
    assert client.is_server_live()
    assert client.is_server_ready()


@pytest.mark.parametrize("version", ["", "1"])
def test_model_is_ready_under_its_manifest_name_and_version(client, version):
    assert client.is_model_ready("iris", version)


@pytest.mark.parametrize(
    ("name", "version", "message"),
    [
        ("nope", "", "unknown model 'nope'; this server serves iris (version 1)"),
        ("iris", "2", "model 'iris' has no version '2' served; this server serves iris (version 1)"),
    ],
)
def test_unknown_model_or_version_is_not_found(client, name, version, message):
    """get_model_metadata and infer raise NOT_FOUND with the server's message; is_model_ready
    answers False, as Triton does."""
    calls = [
        lambda: client.get_model_metadata(name, version),
        lambda: client.infer(name, [triton_input(flowers(1))], model_version=version),
    ]
    for call in calls:
        error = refused(call)
        assert (error.status(), error.message()) == ("StatusCode.NOT_FOUND", message)
    assert client.is_model_ready(name, version) is False


@pytest.mark.parametrize(
    ("name", "version", "field"),
    [("../iris", "", "name"), ("iris/1", "", "name"), ("iris", "1.0", "version"), ("iris", "01", "version")],
)
def test_malformed_model_name_or_version_is_invalid_argument(client, name, version, field):
    error = refused(lambda: client.get_model_metadata(name, version))
    assert error.status() == "StatusCode.INVALID_ARGUMENT"
    assert f"model {field} {(name if field == 'name' else version)!r} is not valid" in error.message()


def test_server_metadata(client):
    metadata = client.get_server_metadata(as_json=True)
    assert metadata["name"] == "iris-predictor"
    assert metadata["version"]


def test_model_metadata(client):
    assert client.get_model_metadata("iris", as_json=True) == {
        "name": "iris",
        "versions": ["1"],
        "platform": "onnx_onnxv1",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": ["-1", "4"]}],
        "outputs": [
            {"name": "label", "datatype": "INT64", "shape": ["-1"]},
            {"name": "probabilities", "datatype": "FP32", "shape": ["-1", "3"]},
        ],
    }


@pytest.mark.parametrize("count", [1, 1000])
def test_infer_equals_iris_v1(client, iris_stub, count):
    """Raw FP32 in (what tritonclient sends), both outputs back raw, as iris.v1 answers them."""
    rows = flowers(count)
    result = client.infer("iris", [triton_input(rows)], request_id="req-42")
    assert_same_answers(
        result.as_numpy("label"), result.as_numpy("probabilities"), iris_v1_answers(iris_stub, rows)
    )
    response = result.get_response()
    assert (response.model_name, response.model_version, response.id) == ("iris", "1", "req-42")
    assert [(o.name, o.datatype, list(o.shape)) for o in response.outputs] == [
        ("label", "INT64", [count]),
        ("probabilities", "FP32", [count, 3]),
    ]


def test_fp64_input_is_accepted_as_float32(client, iris_stub):
    rows = flowers(50)
    result = client.infer("iris", [triton_input(rows.astype(np.float64), "FP64")])
    assert_same_answers(
        result.as_numpy("label"), result.as_numpy("probabilities"), iris_v1_answers(iris_stub, rows)
    )


@pytest.mark.parametrize("wanted", [["probabilities"], ["label"], ["probabilities", "label"]])
def test_only_the_requested_outputs_come_back_in_the_requested_order(client, iris_stub, wanted):
    rows = flowers(20)
    outputs = [triton.InferRequestedOutput(name) for name in wanted]
    result = client.infer("iris", [triton_input(rows)], outputs=outputs)
    assert [output.name for output in result.get_response().outputs] == wanted
    labels, probabilities = iris_v1_answers(iris_stub, rows)
    if "label" in wanted:
        np.testing.assert_array_equal(result.as_numpy("label"), labels)
    if "probabilities" in wanted:
        np.testing.assert_allclose(result.as_numpy("probabilities"), probabilities, rtol=0, atol=1e-7)
    for other in {"label", "probabilities"} - set(wanted):
        assert result.as_numpy(other) is None


@pytest.mark.parametrize(("datatype", "field"), [("FP32", "fp32_contents"), ("FP64", "fp64_contents")])
def test_typed_contents_in_get_typed_outputs(v2_stub, iris_stub, datatype, field):
    rows = flowers(30)
    tensor = pb.ModelInferRequest.InferInputTensor(name="input", datatype=datatype, shape=[30, 4])
    getattr(tensor.contents, field).extend(rows.ravel().tolist())
    response = v2_stub.ModelInfer(
        pb.ModelInferRequest(model_name="iris", id="typed", inputs=[tensor]), timeout=TIMEOUT
    )
    assert not response.raw_output_contents
    assert response.id == "typed"
    label, probabilities = response.outputs
    assert (label.name, list(label.shape), probabilities.name, list(probabilities.shape)) == (
        "label",
        [30],
        "probabilities",
        [30, 3],
    )
    assert_same_answers(
        np.array(label.contents.int64_contents),
        np.array(probabilities.contents.fp32_contents, dtype=np.float32).reshape(30, 3),
        iris_v1_answers(iris_stub, rows),
    )


def test_zero_rows_answer_zero_rows(client):
    result = client.infer("iris", [triton_input(np.empty((0, 4), dtype=np.float32))])
    assert result.as_numpy("label").shape == (0,)
    assert result.as_numpy("probabilities").shape == (0, 3)


def with_nan(rows: np.ndarray) -> np.ndarray:
    rows = rows.copy()
    rows[2, 1] = np.nan
    return rows


def lying_about_shape(rows: np.ndarray, shape: list[int]) -> triton.InferInput:
    return triton_input(rows).set_shape(shape)


@pytest.mark.parametrize(
    ("inputs", "outputs", "status", "message"),
    [
        (
            lambda: [triton_input(flowers(2)[:, :3])],
            None,
            "INVALID_ARGUMENT",
            "input 'input' has shape [2, 3]; the model takes [N, 4]",
        ),
        (
            lambda: [triton_input(flowers(2).astype(np.int32), "INT32")],
            None,
            "INVALID_ARGUMENT",
            "input 'input' has datatype 'INT32'; the model takes FP32 or FP64",
        ),
        (
            lambda: [lying_about_shape(flowers(2), [3, 4])],
            None,
            "INVALID_ARGUMENT",
            "input 'input' has 32 bytes of raw data; shape [3, 4] of FP32 takes 48",
        ),
        (
            lambda: [triton_input(with_nan(flowers(4)))],
            None,
            "INVALID_ARGUMENT",
            "row 2: sepal_width is NaN; features must be finite numbers",
        ),
        (
            lambda: [triton_input(flowers(1), name="features")],
            None,
            "INVALID_ARGUMENT",
            "unknown input 'features'; the model takes one input, 'input' FP32 [-1, 4]",
        ),
        (
            lambda: [triton_input(flowers(1))],
            [triton.InferRequestedOutput("species")],
            "INVALID_ARGUMENT",
            "unknown output 'species'; the model's outputs are 'label', 'probabilities'",
        ),
        (
            lambda: [triton_input(flowers(1))],
            [triton.InferRequestedOutput("label", class_count=2)],
            "INVALID_ARGUMENT",
            "output 'label': parameter 'classification' is not supported",
        ),
        (
            lambda: [triton_input(flowers(10_001))],
            None,
            "RESOURCE_EXHAUSTED",
            "10001 rows in one call; the limit is 10000 (--max-batch-rows)",
        ),
    ],
    ids=["shape", "datatype", "byte-count", "nan", "input-name", "output-name", "parameter", "too-many-rows"],
)
def test_mistakes_are_refused_with_the_server_message(client, inputs, outputs, status, message):
    error = refused(lambda: client.infer("iris", inputs(), outputs=outputs))
    assert (error.status(), error.message()) == (f"StatusCode.{status}", message)
    assert client.infer("iris", [triton_input(flowers(1))]).as_numpy("label").shape == (1,)


def fp32_tensor(shape: list[int], values: list[float] | None = None) -> pb.ModelInferRequest.InferInputTensor:
    tensor = pb.ModelInferRequest.InferInputTensor(name="input", datatype="FP32", shape=shape)
    if values is not None:
        tensor.contents.fp32_contents.extend(values)
    return tensor


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (
            pb.ModelInferRequest(model_name="iris", inputs=[fp32_tensor([1, 4], [1, 2, 3])]),
            "input 'input' has 3 values in contents.fp32_contents; shape [1, 4] takes 4",
        ),
        (
            pb.ModelInferRequest(
                model_name="iris", inputs=[fp32_tensor([1, 4], [1, 2, 3, 4])], raw_input_contents=[bytes(16)]
            ),
            "input 'input' has typed contents and raw_input_contents; send one",
        ),
        (
            pb.ModelInferRequest(
                model_name="iris", inputs=[fp32_tensor([1, 4])], raw_input_contents=[bytes(16)] * 2
            ),
            "raw_input_contents has 2 entries for 1 input; send one per input, in the order of inputs",
        ),
        (
            pb.ModelInferRequest(model_name="iris"),
            "input 'input' is missing; the model takes one input, 'input' FP32 [-1, 4]",
        ),
        (
            pb.ModelInferRequest(model_name="iris", inputs=[fp32_tensor([4], [1, 2, 3, 4])]),
            "input 'input' has shape [4]; the model takes [N, 4]",
        ),
    ],
    ids=["value-count", "typed-and-raw", "raw-count", "no-input", "one-dimension"],
)
def test_malformed_requests_are_invalid_argument(v2_stub, request_, message):
    with pytest.raises(grpc.RpcError) as error:
        v2_stub.ModelInfer(request_, timeout=TIMEOUT)
    assert (error.value.code(), error.value.details()) == (grpc.StatusCode.INVALID_ARGUMENT, message)


def test_fp64_beyond_float32_range_is_refused_naming_row_and_feature(v2_stub):
    tensor = pb.ModelInferRequest.InferInputTensor(name="input", datatype="FP64", shape=[2, 4])
    tensor.contents.fp64_contents.extend([1, 2, 3, 4, 1, 2, 1e300, 4])
    with pytest.raises(grpc.RpcError) as error:
        v2_stub.ModelInfer(pb.ModelInferRequest(model_name="iris", inputs=[tensor]), timeout=TIMEOUT)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details() == "row 1: petal_length is 1e+300, beyond the range of FP32"


def fp64_tensor(shape: list[int], values: list[float]) -> pb.ModelInferRequest.InferInputTensor:
    tensor = pb.ModelInferRequest.InferInputTensor(name="input", datatype="FP64", shape=shape)
    tensor.contents.fp64_contents.extend(values)
    return tensor


def infer(*inputs, outputs=(), raw=()) -> pb.ModelInferRequest:
    requested = [pb.ModelInferRequest.InferRequestedOutputTensor(name=name) for name in outputs]
    return pb.ModelInferRequest(model_name="iris", inputs=inputs, outputs=requested, raw_input_contents=raw)


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (infer(fp32_tensor([2, 4], [1, 2, 3, 4, 1, 2, float("nan"), 4])), "rows[1].petal_length"),
        (infer(fp64_tensor([2, 4], [1, 2, 3, 4, 1e300, 2, 3, 4])), "rows[1].sepal_length"),
        (infer(fp32_tensor([1, 4], [1e38] * 4)), "rows[0]"),
        (infer(fp32_tensor([4], [1, 2, 3, 4])), "inputs[0].shape"),
        (infer(fp32_tensor([1, 4], [1, 2, 3])), "inputs[0].contents.fp32_contents"),
        (infer(fp32_tensor([1, 4]), raw=[bytes(12)]), "raw_input_contents[0]"),
        (infer(fp32_tensor([1, 4]), raw=[bytes(16)] * 2), "raw_input_contents"),
        (infer(), "inputs"),
        (infer(fp32_tensor([1, 4], [1, 2, 3, 4]), outputs=["label", "species"]), "outputs[1].name"),
    ],
    ids=[
        "nan",
        "beyond-fp32",
        "too-large",
        "shape",
        "value-count",
        "byte-count",
        "raw-count",
        "no-input",
        "output-name",
    ],
)
def test_mistakes_name_their_row_or_field_in_bad_request_details(v2_stub, request_, field):
    """ModelInfer's INVALID_ARGUMENT carries the same BadRequest convention as iris.v1: rows along
    the input tensor's first dimension, else the request's field (common/error_details.py)."""
    with pytest.raises(grpc.RpcError) as error:
        v2_stub.ModelInfer(request_, timeout=TIMEOUT)
    [(named, description)] = field_violations(error.value)
    assert named == field
    assert error.value.details().endswith(description)


def test_reflection_lists_the_v2_service(channel):
    assert V2_SERVICE in ProtoReflectionDescriptorDatabase(channel).get_services()


def test_health_reports_the_v2_service_serving(channel):
    answer = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=V2_SERVICE), timeout=TIMEOUT
    )
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_not_ready_until_warmed_up_then_ready():
    """Before set_serving(True): ServerReady and ModelReady say false, ModelInfer is UNAVAILABLE."""
    model = ModelRepository(ARTIFACTS).load(
        "iris", None, intra_op_threads=1, inter_op_threads=1, max_batch_rows=100
    )
    running = start_server(Settings(host="127.0.0.1", port=0, threads=4), ServedModels.of(model))
    try:
        with triton.InferenceServerClient(f"127.0.0.1:{running.port}") as client:
            assert client.is_server_live()
            assert not client.is_server_ready()
            assert not client.is_model_ready("iris")
            error = refused(lambda: client.infer("iris", [triton_input(flowers(1))]))
            assert (error.status(), error.message()) == (
                "StatusCode.UNAVAILABLE",
                "model 'iris' is not ready yet; retry shortly",
            )
            running.set_serving(True)
            assert client.is_server_ready()
            assert client.is_model_ready("iris")
            assert client.infer("iris", [triton_input(flowers(1))]).as_numpy("label").shape == (1,)
    finally:
        running.server.stop(None)
