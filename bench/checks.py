"""Correctness first: one real call before and after each load point must give the right answer."""

import json
import urllib.request

import grpc
import numpy as np

from bench import frames
from inference_pb import grpc_predict_v2_pb2 as v2
from inference_pb import grpc_predict_v2_pb2_grpc as v2_grpc
from iris_pb import iris_pb2_grpc

TIMEOUT_SECONDS = 5.0


def grpc_predict(port: int, expect_species: int = 0) -> bool:
    """iris.v1 Predict of a setosa flower answers `expect_species`."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = iris_pb2_grpc.IrisPredictorStub(channel).Predict(
            frames.predict_request(), timeout=TIMEOUT_SECONDS
        )
    return reply.species == expect_species


def grpc_batch(port: int, rows: int = 1000) -> bool:
    """iris.v1 PredictBatch answers one valid species per row."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = iris_pb2_grpc.IrisPredictorStub(channel).PredictBatch(
            frames.batch_request(rows), timeout=TIMEOUT_SECONDS
        )
    return len(reply.species) == rows and set(reply.species) <= {0, 1, 2}


def grpc_stream(port: int, messages: int = 64) -> bool:
    """iris.v1 PredictStream answers every message, in order."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        replies = list(
            iris_pb2_grpc.IrisPredictorStub(channel).PredictStream(
                iter([frames.predict_request()] * messages), timeout=TIMEOUT_SECONDS
            )
        )
    return len(replies) == messages and all(r.species == 0 for r in replies)


def v2_infer(port: int, rows: int) -> bool:
    """KServe V2 ModelInfer with raw FP32 input answers raw INT64 labels for every row."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = v2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(
            frames.infer_request(rows), timeout=TIMEOUT_SECONDS
        )
    labels = np.frombuffer(reply.raw_output_contents[0], dtype=np.int64)
    return reply.outputs[0].name == "label" and len(labels) == rows


def v2_models_ready(port: int, versions: dict[str, list[int]]) -> bool:
    """KServe V2 ModelReady says every one of these versions of these models is ready."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = v2_grpc.GRPCInferenceServiceStub(channel)
        return all(
            stub.ModelReady(
                v2.ModelReadyRequest(name=name, version=str(version)), timeout=TIMEOUT_SECONDS
            ).ready
            for name, numbers in versions.items()
            for version in numbers
        )


def rest_post(port: int, path: str, body: bytes, content_type: str, expect: dict) -> bool:
    """POST `body` to `path` and check that the JSON answer holds every key/value of `expect`."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=body, headers={"Content-Type": content_type}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
        answer = json.load(response)
    return all(answer.get(key) == value for key, value in expect.items())


def grpc_health(port: int) -> bool:
    """The standard gRPC health service says SERVING."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1.0)
    return reply.status == health_pb2.HealthCheckResponse.SERVING
