"""PredictBatch's wire codec (server/iris_wire.py) agrees with protobuf on every input it meets."""

import struct

import grpc
import numpy as np
import pytest

from iris_pb import iris_pb2
from server.iris_messages import batch_reply, rows_from_batch
from server.iris_wire import BatchAnswer, decode_batch_request, encode_batch_reply
from server.model import InvalidInput, ModelMetadata, Prediction

METADATA = ModelMetadata(
    name="iris",
    version=1,
    sha256="0" * 64,
    task="classification",
    feature_names=("sepal_length", "sepal_width", "petal_length", "petal_width"),
    class_names=("setosa", "versicolor", "virginica"),
    target_names=(),
    input_name="input",
)


def random_floats(count: int, seed: int) -> np.ndarray:
    """float32 values of every kind: ordinary, huge, tiny, subnormal, signed zeros, inf and NaN."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2**32, size=count, dtype=np.uint64).astype(np.uint32)
    values = bits.view(np.float32).copy()
    values[::3] = rng.normal(5, 2, size=len(values[::3])).astype(np.float32)
    return values


def protobuf_features(data: bytes) -> np.ndarray:
    return np.array(iris_pb2.PredictBatchRequest.FromString(data).features, dtype=np.float32)


def decoded_features(data: bytes) -> np.ndarray:
    decoded = decode_batch_request(data)
    return decoded if isinstance(decoded, np.ndarray) else protobuf_features(data)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype == np.float32 and np.array_equal(a.view(np.uint32), b.view(np.uint32))


@pytest.mark.parametrize("count", [0, 1, 3, 4, 31, 32, 128, 4000, 40_000])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_packed_features_decode_as_protobuf_does(count, seed):
    values = random_floats(count, seed)
    data = iris_pb2.PredictBatchRequest(features=values).SerializeToString()
    decoded = decode_batch_request(data)
    assert isinstance(decoded, np.ndarray)  # the fast path took it
    assert same_bits(decoded, protobuf_features(data))
    assert decoded.flags.writeable
    assert decoded.flags.aligned


def unpacked(values: np.ndarray) -> bytes:
    """Field 1 as one fixed32 record per value (legal; parsers must accept it)."""
    return b"".join(b"\x0d" + struct.pack("<f", value) for value in values.tolist())


def packed_run(values: np.ndarray) -> bytes:
    """Field 1 as one packed record (what protobuf writes for a non-empty array)."""
    return iris_pb2.PredictBatchRequest(features=values).SerializeToString()


UNKNOWN_FIELD = b"\x78\x05"  # field 15, varint 5: unknown to PredictBatchRequest, to be skipped


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(unpacked, id="unpacked floats"),
        pytest.param(lambda v: packed_run(v[:5]) + packed_run(v[5:]), id="two packed runs"),
        pytest.param(lambda v: unpacked(v[:2]) + packed_run(v[2:]), id="unpacked then packed"),
        pytest.param(lambda v: UNKNOWN_FIELD + packed_run(v), id="unknown field first"),
        pytest.param(lambda v: packed_run(v) + UNKNOWN_FIELD, id="unknown field last"),
    ],
)
def test_unusual_wire_forms_give_the_same_features(make):
    values = random_floats(12, seed=7)
    data = make(values)
    assert same_bits(protobuf_features(data), values)  # the form is valid protobuf
    assert same_bits(decoded_features(data), values)
    assert same_bits(rows_from_batch(decode_batch_request(data)).ravel(), values)


def test_a_length_not_a_multiple_of_4_is_invalid_input_either_way():
    for request in (decode_batch_request(packed_run(np.ones(7, np.float32))), iris_pb2.PredictBatchRequest()):
        if not isinstance(request, np.ndarray):
            request.features.extend([1.0] * 7)
        with pytest.raises(InvalidInput, match="features has 7 values, not a multiple of 4"):
            rows_from_batch(request)


def test_bytes_that_are_not_a_message_still_fail_to_decode():
    from google.protobuf.message import DecodeError

    with pytest.raises(DecodeError):
        decode_batch_request(b"\x0a\xff\xff\xff\xff\xff\xff")  # a length that never ends


def prediction(labels: list[int], seed: int) -> Prediction:
    rng = np.random.default_rng(seed)
    probabilities = rng.random((len(labels), 3), dtype=np.float32)
    return Prediction(np.array(labels, dtype=np.int64), probabilities)


@pytest.mark.parametrize("rows", [0, 1, 2, 1000])
@pytest.mark.parametrize("seed", [0, 1])
def test_replies_encode_to_protobufs_own_bytes(rows, seed):
    answer = prediction(np.random.default_rng(seed).integers(0, 3, size=rows).tolist(), seed)
    expected = batch_reply(answer, METADATA).SerializeToString()
    assert encode_batch_reply(BatchAnswer(answer, METADATA)) == expected


@pytest.mark.parametrize("labels", [[0, 127], [128, 1], [2, -1], [2**31 - 1]])
def test_labels_beyond_one_byte_go_through_protobuf(labels):
    answer = prediction(labels, seed=3)
    decoded = iris_pb2.PredictBatchReply.FromString(encode_batch_reply(BatchAnswer(answer, METADATA)))
    assert list(decoded.species) == labels


def test_a_ready_reply_message_is_serialized_as_is():
    reply = iris_pb2.PredictBatchReply(species=[1], model_name="iris")
    assert encode_batch_reply(reply) == reply.SerializeToString()


def test_the_server_answers_unusual_wire_forms_as_packed_ones(iris_server):
    """Through the real server: unpacked floats get the same answer as the packed request."""
    values = np.array([5.1, 3.5, 1.4, 0.2, 6.8, 3.2, 5.9, 2.3], dtype=np.float32)
    with grpc.insecure_channel(iris_server.target) as channel:
        call = channel.unary_unary(
            "/iris.v1.IrisPredictor/PredictBatch",
            request_serializer=None,  # the bytes as given
            response_deserializer=iris_pb2.PredictBatchReply.FromString,
        )
        from_packed = call(iris_pb2.PredictBatchRequest(features=values).SerializeToString(), timeout=5)
        from_unpacked = call(unpacked(values), timeout=5)
    assert list(from_packed.species) == [0, 2]
    assert from_unpacked == from_packed
