"""Request bodies for the load generators: gRPC length-prefixed frames of real requests."""

import pathlib
import struct

import numpy as np

from inference_pb import grpc_predict_v2_pb2 as v2
from iris_pb import iris_pb2

SETOSA = (5.1, 3.5, 1.4, 0.2)
VIRGINICA = (6.8, 3.2, 5.9, 2.3)


def grpc_frame(message) -> bytes:
    """One gRPC message on the wire: uncompressed flag, 4-byte big-endian length, payload."""
    payload = message.SerializeToString()
    return struct.pack(">BI", 0, len(payload)) + payload


def predict_request(row=SETOSA) -> iris_pb2.PredictRequest:
    sepal_length, sepal_width, petal_length, petal_width = row
    return iris_pb2.PredictRequest(
        sepal_length=sepal_length, sepal_width=sepal_width, petal_length=petal_length, petal_width=petal_width
    )


def batch_rows(rows: int, seed: int = 0) -> np.ndarray:
    """`rows` plausible iris measurements, float32 [rows, 4], reproducible."""
    rng = np.random.default_rng(seed)
    low = np.array([4.3, 2.0, 1.0, 0.1], dtype=np.float32)
    high = np.array([7.9, 4.4, 6.9, 2.5], dtype=np.float32)
    return (low + rng.random((rows, 4), dtype=np.float32) * (high - low)).astype(np.float32)


def batch_request(rows: int) -> iris_pb2.PredictBatchRequest:
    return iris_pb2.PredictBatchRequest(features=batch_rows(rows).ravel().tolist())


def infer_request(rows: int) -> v2.ModelInferRequest:
    """A KServe V2 ModelInfer request with raw FP32 [rows, 4] input, as tritonclient sends it."""
    request = v2.ModelInferRequest(model_name="iris")
    request.inputs.add(name="input", datatype="FP32", shape=[rows, 4])
    request.raw_input_contents.append(batch_rows(rows).tobytes())
    return request


def write_bodies(out_dir: pathlib.Path) -> dict[str, pathlib.Path]:
    """Write every body file the benchmark sends and return them by name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    bodies = {
        "predict": grpc_frame(predict_request()),
        "stream64": grpc_frame(predict_request()) * 64,
        "batch1000": grpc_frame(batch_request(1000)),
        "infer1": grpc_frame(infer_request(1)),
        "infer1000": grpc_frame(infer_request(1000)),
    }
    paths = {}
    for name, body in bodies.items():
        paths[name] = out_dir / f"{name}.bin"
        paths[name].write_bytes(body)
    return paths
