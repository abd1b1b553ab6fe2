"""PredictBatch straight between gRPC wire bytes and numpy arrays, and the iris.v1 registration using it.

Turning a packed `repeated float` into numpy through protobuf's Python objects costs a Python float
per value (about 0.4 ms for 1,000 rows), and building the reply's repeated fields from lists as
much again: several times the model run itself. The packed field's bytes *are* the float32 array,
so:
- `decode_batch_request` reads a request that is exactly one packed `features` field (what every
  protobuf library writes) with np.frombuffer; any other form (unpacked floats, several packed
  runs, unknown fields) is left to protobuf, and `rows_from_batch` converts that message;
- `encode_batch_reply` writes the reply's bytes from the prediction's arrays, with the model's
  constant fields encoded once; an unusual answer (a label outside 0-127) goes through protobuf.
Both produce what protobuf would (tests/server/test_server_iris_wire.py checks on random inputs).
"""

import functools
from typing import NamedTuple

import grpc
import numpy as np

from common.names import IRIS_SERVICE
from iris_pb import iris_pb2
from server.iris_messages import batch_reply
from server.model import ModelMetadata, Prediction

# Field tags (field number << 3 | wire type 2, length-delimited) of PredictBatchRequest/-Reply.
FEATURES_TAG = 0x0A  # request field 1, packed float
SPECIES_TAG = 0x0A  # reply field 1, packed int32
PROBABILITIES_TAG = 0x12  # reply field 2, packed float
CLASS_NAMES_TAG, MODEL_NAME_TAG, MODEL_VERSION_TAG = 0x1A, 0x22, 0x2A  # reply fields 3-5
ONE_BYTE_VARINT_LIMIT = 128  # int32 values 0-127 are one byte each on the wire
_NO_FEATURES = np.empty(0, dtype=np.float32)


class BatchAnswer(NamedTuple):
    """What PredictBatch returns: encode_batch_reply turns it into PredictBatchReply bytes."""

    prediction: Prediction
    metadata: ModelMetadata


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_varint(data: bytes, start: int) -> tuple[int, int] | None:
    """The varint at data[start:] and the index after it, or None if it does not end in 5 bytes."""
    value = 0
    for shift, index in zip(range(0, 35, 7), range(start, min(start + 5, len(data))), strict=False):
        value |= (data[index] & 0x7F) << shift
        if data[index] < 0x80:
            return value, index + 1
    return None


def _length_delimited(tag: int, payload: bytes) -> bytes:
    return bytes([tag]) + _varint(len(payload)) + payload


def decode_batch_request(data: bytes) -> np.ndarray | iris_pb2.PredictBatchRequest:
    """A PredictBatchRequest's features as a flat float32 array, or the parsed message if the bytes
    are not one packed `features` field (rows_from_batch takes either)."""
    if not data:
        return _NO_FEATURES
    if data[0] == FEATURES_TAG:
        header = _read_varint(data, 1)
        if header is not None:
            length, start = header
            if start + length == len(data) and length % 4 == 0:
                # A copy: aligned, writable and independent of gRPC's buffer.
                return np.frombuffer(data, dtype="<f4", count=length // 4, offset=start).astype(np.float32)
    return iris_pb2.PredictBatchRequest.FromString(data)


decode_batch_request.message_class = iris_pb2.PredictBatchRequest  # named in decode errors


@functools.lru_cache(maxsize=64)
def _constant_fields(metadata: ModelMetadata) -> bytes:
    """Fields 3-5 of every reply of this model (proto3 leaves out empty strings)."""
    fields = [_length_delimited(CLASS_NAMES_TAG, name.encode()) for name in metadata.class_names]
    for tag, text in ((MODEL_NAME_TAG, metadata.name), (MODEL_VERSION_TAG, str(metadata.version))):
        if text:
            fields.append(_length_delimited(tag, text.encode()))
    return b"".join(fields)


def encode_batch_reply(answer: BatchAnswer | iris_pb2.PredictBatchReply) -> bytes:
    """PredictBatchReply bytes of a BatchAnswer (or of a ready message)."""
    if isinstance(answer, iris_pb2.PredictBatchReply):
        return answer.SerializeToString()
    labels, probabilities = answer.prediction.labels, answer.prediction.probabilities
    if len(labels) and not (labels.min() >= 0 and labels.max() < ONE_BYTE_VARINT_LIMIT):
        return batch_reply(answer.prediction, answer.metadata).SerializeToString()
    parts = []
    if len(labels):  # proto3 leaves out empty repeated fields
        parts.append(_length_delimited(SPECIES_TAG, labels.astype(np.uint8).tobytes()))
        parts.append(_length_delimited(PROBABILITIES_TAG, probabilities.astype("<f4").tobytes()))
    parts.append(_constant_fields(answer.metadata))
    return b"".join(parts)


def add_iris_predictor(servicer: object, server: grpc.Server) -> None:
    """iris_pb2_grpc.add_IrisPredictorServicer_to_server, with PredictBatch's codec from this module."""
    handlers = {
        "Predict": grpc.unary_unary_rpc_method_handler(
            servicer.Predict,
            request_deserializer=iris_pb2.PredictRequest.FromString,
            response_serializer=iris_pb2.PredictReply.SerializeToString,
        ),
        "PredictBatch": grpc.unary_unary_rpc_method_handler(
            servicer.PredictBatch,
            request_deserializer=decode_batch_request,
            response_serializer=encode_batch_reply,
        ),
        "PredictStream": grpc.stream_stream_rpc_method_handler(
            servicer.PredictStream,
            request_deserializer=iris_pb2.PredictRequest.FromString,
            response_serializer=iris_pb2.PredictReply.SerializeToString,
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(IRIS_SERVICE, handlers),))
    server.add_registered_method_handlers(IRIS_SERVICE, handlers)
