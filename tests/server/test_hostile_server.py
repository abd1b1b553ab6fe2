"""Hostile input to the server's request validation, property-based: OnnxModel directly, and the
gRPC services (iris.v1, KServe V2, raw undecodable bytes) through a real `python -m server`.

Any input is answered, or refused with a client-error status (INVALID_ARGUMENT, NOT_FOUND,
RESOURCE_EXHAUSTED) and a message; never INTERNAL or UNKNOWN, never a crash. After each hostile
example the tutorial's flower still gets species 2.
"""

from collections.abc import Iterator

import grpc
import hypothesis
import numpy as np
import pytest
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from inference_pb import grpc_predict_v2_pb2 as pb
from inference_pb import grpc_predict_v2_pb2_grpc as pb_grpc
from iris_pb import iris_pb2, iris_pb2_grpc
from server.model import BatchTooLargeError, InvalidInput, OnnxModel, Prediction
from server.repository import ModelRepository
from tests.support.rest_load import FLOWER
from tests.support.server_process import ARTIFACTS

HOSTILE = hypothesis.settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)
FLOWER_ROW = np.array([list(FLOWER.values())], dtype=np.float32)
FLOWER_SPECIES = 2
MAX_ROWS = 64
TIMEOUT_SECONDS = 10
CLIENT_ERRORS = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}

any_float32 = st.floats(width=32)  # NaN, infinities, subnormals and the extremes included


@pytest.fixture(scope="module")
def model() -> OnnxModel:
    return ModelRepository(ARTIFACTS).load(
        "iris", None, intra_op_threads=1, inter_op_threads=1, max_batch_rows=MAX_ROWS
    )


@pytest.fixture(scope="module")
def channel(iris_server) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(iris_server.target) as channel:
        yield channel


def assert_model_still_answers(model: OnnxModel) -> None:
    assert model.predict(FLOWER_ROW).labels.tolist() == [FLOWER_SPECIES]


def assert_server_still_answers(channel: grpc.Channel) -> None:
    reply = iris_pb2_grpc.IrisPredictorStub(channel).Predict(
        iris_pb2.PredictRequest(**FLOWER), timeout=TIMEOUT_SECONDS
    )
    assert reply.species == FLOWER_SPECIES


def assert_refused_as_client_error(error: grpc.RpcError) -> None:
    assert error.code() in CLIENT_ERRORS, f"{error.code().name}: {error.details()}"
    assert error.details().strip()


def assert_sound_answer(labels: np.ndarray, probabilities: np.ndarray, rows: int) -> None:
    assert labels.shape == (rows,)
    assert set(labels.tolist()) <= {0, 1, 2}
    assert probabilities.shape == (rows, 3)
    assert np.isfinite(probabilities).all()
    assert ((probabilities >= 0) & (probabilities <= 1)).all()


feature_arrays = hnp.arrays(
    dtype=st.sampled_from([np.float32, np.float64, np.float16, np.int64, np.int32]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6),
) | hnp.arrays(
    dtype=np.float32,
    shape=st.tuples(st.integers(0, MAX_ROWS + 4), st.just(4)),
    elements=any_float32,
)


@HOSTILE
@hypothesis.given(feature_arrays)
def test_model_answers_or_refuses_any_array_by_name(model, features):
    outcome = predict_or_refusal(model, features)
    if isinstance(outcome, InvalidInput):
        assert str(outcome).strip()
        assert outcome.row is None or 0 <= outcome.row < len(features)
    elif isinstance(outcome, BatchTooLargeError):
        assert "--max-batch-rows" in str(outcome)
    else:
        assert_sound_answer(outcome.labels, outcome.probabilities, len(features))
    assert_model_still_answers(model)


def predict_or_refusal(
    model: OnnxModel, features: np.ndarray
) -> Prediction | InvalidInput | BatchTooLargeError:
    try:
        return model.predict(features)
    except (InvalidInput, BatchTooLargeError) as error:
        return error


@HOSTILE
@hypothesis.given(st.fixed_dictionaries({}, optional={name: any_float32 for name in FLOWER}))
def test_predict_answers_or_refuses_any_flower(channel, fields):
    try:
        reply = iris_pb2_grpc.IrisPredictorStub(channel).Predict(
            iris_pb2.PredictRequest(**fields), timeout=TIMEOUT_SECONDS
        )
    except grpc.RpcError as error:
        assert_refused_as_client_error(error)
    else:
        assert_sound_answer(np.array([reply.species]), np.array([reply.probabilities]), 1)
    assert_server_still_answers(channel)


@HOSTILE
@hypothesis.given(st.lists(any_float32, max_size=41))
def test_predict_batch_answers_or_refuses_any_features(channel, features):
    try:
        reply = iris_pb2_grpc.IrisPredictorStub(channel).PredictBatch(
            iris_pb2.PredictBatchRequest(features=features), timeout=TIMEOUT_SECONDS
        )
    except grpc.RpcError as error:
        assert_refused_as_client_error(error)
    else:
        rows = len(features) // 4
        probabilities = np.array(reply.probabilities).reshape(rows, 3)
        assert_sound_answer(np.array(reply.species, dtype=np.int64), probabilities, rows)
    assert_server_still_answers(channel)


UNARY_METHODS = (
    "/iris.v1.IrisPredictor/Predict",
    "/iris.v1.IrisPredictor/PredictBatch",
    "/inference.GRPCInferenceService/ModelInfer",
    "/inference.GRPCInferenceService/ModelMetadata",
    "/inference.GRPCInferenceService/ModelReady",
)


@HOSTILE
@hypothesis.given(st.sampled_from(UNARY_METHODS), st.binary(max_size=64))
def test_any_bytes_as_a_request_message_are_answered_or_refused(channel, method, data):
    """Bytes that do not decode as the method's request message are INVALID_ARGUMENT, not INTERNAL."""
    call = channel.unary_unary(method)  # no serializers: the bytes go on the wire as they are
    try:
        call(data, timeout=TIMEOUT_SECONDS)
    except grpc.RpcError as error:
        assert_refused_as_client_error(error)
    assert_server_still_answers(channel)


@HOSTILE
@hypothesis.given(st.lists(st.binary(max_size=24), max_size=5))
def test_any_bytes_in_a_request_stream_are_answered_or_refused(channel, messages):
    call = channel.stream_stream("/iris.v1.IrisPredictor/PredictStream")
    try:
        for _ in call(iter(messages), timeout=TIMEOUT_SECONDS):
            pass
    except grpc.RpcError as error:
        assert_refused_as_client_error(error)
    assert_server_still_answers(channel)


V2_DATATYPES = ["FP32", "FP64", "FP16", "INT64", "INT32", "INT8", "UINT8", "BOOL", "BYTES", "BF16"]


@st.composite
def v2_infer_requests(draw) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(
        model_name=draw(st.sampled_from(["iris", ""]) | st.text(max_size=8)),
        model_version=draw(st.sampled_from(["", "1", "2"]) | st.text(max_size=4)),
    )
    raw = draw(st.booleans())
    for _ in range(draw(st.integers(0, 2))):
        tensor = request.inputs.add(
            name=draw(st.sampled_from(["input", "x"])),
            datatype=draw(st.sampled_from(V2_DATATYPES) | st.text(max_size=4)),
            shape=draw(st.lists(st.integers(-2, 6) | st.integers(-(2**63), 2**63 - 1), max_size=3)),
        )
        if raw:
            request.raw_input_contents.append(draw(st.binary(max_size=48)))
        else:
            tensor.contents.fp32_contents.extend(draw(st.lists(any_float32, max_size=12)))
            tensor.contents.int64_contents.extend(
                draw(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=2))
            )
    for name in draw(st.lists(st.sampled_from(["label", "probabilities"]) | st.text(max_size=5), max_size=2)):
        request.outputs.add(name=name)
    return request


@HOSTILE
@hypothesis.given(v2_infer_requests())
def test_v2_model_infer_answers_or_refuses_any_tensors(channel, request):
    try:
        pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=TIMEOUT_SECONDS)
    except grpc.RpcError as error:
        assert_refused_as_client_error(error)
    assert_server_still_answers(channel)


def test_undecodable_request_is_invalid_argument_naming_the_message_type(channel):
    """Bytes that are no PredictBatchRequest: INVALID_ARGUMENT naming the type, not gRPC's INTERNAL."""
    with pytest.raises(grpc.RpcError) as raised:
        channel.unary_unary("/iris.v1.IrisPredictor/PredictBatch")(b"\xff\xff\xff", timeout=TIMEOUT_SECONDS)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() == (
        "the request is not a valid iris.v1.PredictBatchRequest message: its bytes do not decode"
    )


def test_undecodable_stream_message_ends_the_stream_after_the_ones_before_it(channel):
    """In PredictStream, the flowers before an undecodable message are answered, then INVALID_ARGUMENT."""
    flower = iris_pb2.PredictRequest(**FLOWER).SerializeToString()
    call = channel.stream_stream(
        "/iris.v1.IrisPredictor/PredictStream", response_deserializer=iris_pb2.PredictReply.FromString
    )
    replies = call(iter([flower, flower, b"\xff\xff\xff", flower]), timeout=TIMEOUT_SECONDS)
    answered = []
    with pytest.raises(grpc.RpcError) as raised:
        answered.extend(reply.species for reply in replies)
    assert answered == [FLOWER_SPECIES, FLOWER_SPECIES]
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details().startswith("message 2 of the stream is not a valid iris.v1.PredictRequest")
