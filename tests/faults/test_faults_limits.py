"""The documented limits, end to end: each one, when crossed, gets its documented answer quickly
(README "Reliability and security" lists them), and the product keeps answering afterwards.
"""

import socket
import time

import aiohttp
import grpc
import numpy as np
import pytest

from inference_pb import grpc_predict_v2_pb2 as v2_pb
from inference_pb import grpc_predict_v2_pb2_grpc as v2_pb_grpc
from iris_pb import iris_pb2, iris_pb2_grpc
from server.config import WIRE_BYTES_OVERHEAD, WIRE_BYTES_PER_ROW
from tests.support.proxy_process import running_proxy
from tests.support.rest_load import FLOWER, FLOWER_SPECIES
from tests.support.server_process import running_server

MAX_BODY_BYTES = 4096
MAX_BATCH_ROWS = 30
MAX_MESSAGE_BYTES = 2048  # holds MAX_BATCH_ROWS rows (at most 32 bytes each) and the server's overhead
DEADLINE_SECONDS = 1.0


@pytest.fixture(scope="module")
def small_limits(tmp_path_factory):
    """A server and a proxy with small limits; yields (server, proxy)."""
    log_dir = tmp_path_factory.mktemp("limits")
    server_args = ("--max-batch-rows", str(MAX_BATCH_ROWS), "--max-message-bytes", str(MAX_MESSAGE_BYTES))
    with (
        running_server(log_dir, *server_args) as server,
        running_proxy(log_dir, server.target, "--max-body-bytes", str(MAX_BODY_BYTES)) as proxy,
    ):
        yield server, proxy


async def post(url: str, **kwargs) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session, session.post(url, **kwargs) as response:
        return response.status, await response.json()


async def assert_still_answers(proxy) -> None:
    status, body = await post(f"{proxy.url}/", json=FLOWER)
    assert (status, body["species"]) == (200, FLOWER_SPECIES)


async def test_body_over_max_body_bytes_is_413(small_limits):
    _, proxy = small_limits
    status, body = await post(f"{proxy.url}/predict", json=[list(FLOWER.values())] * 200)  # about 5 KB
    assert status == 413
    assert body["error"]["code"] == "RESOURCE_EXHAUSTED"
    await assert_still_answers(proxy)


async def test_batch_over_max_batch_rows_is_429_naming_the_setting(small_limits):
    _, proxy = small_limits
    status, body = await post(f"{proxy.url}/predict", json=[list(FLOWER.values())] * (MAX_BATCH_ROWS + 1))
    assert status == 429
    assert body["error"]["code"] == "RESOURCE_EXHAUSTED"
    assert "--max-batch-rows" in body["error"]["message"]
    await assert_still_answers(proxy)


async def test_batch_at_max_batch_rows_is_answered(small_limits):
    _, proxy = small_limits
    status, body = await post(f"{proxy.url}/predict", json=[list(FLOWER.values())] * MAX_BATCH_ROWS)
    assert status == 200
    assert len(body["predictions"]) == MAX_BATCH_ROWS


def test_grpc_message_over_max_message_bytes_is_resource_exhausted(small_limits):
    server, _ = small_limits
    request = iris_pb2.PredictBatchRequest(features=list(FLOWER.values()) * 200)  # 3.2 KB
    with grpc.insecure_channel(server.target) as channel:
        stub = iris_pb2_grpc.IrisPredictorStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.PredictBatch(request, timeout=10)
        assert stub.Predict(iris_pb2.PredictRequest(**FLOWER), timeout=10).species == 2
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_the_smallest_message_limit_allowed_carries_a_full_batch_in_the_widest_form(tmp_path):
    """The start-up check between --max-batch-rows and --max-message-bytes holds for every API:
    at the smallest message limit it allows, a V2 request of --max-batch-rows FP64 rows (32 bytes
    each, the widest row any API takes) is answered, not refused for its size."""
    rows = 64
    smallest = rows * WIRE_BYTES_PER_ROW + WIRE_BYTES_OVERHEAD
    features = np.tile(np.array(list(FLOWER.values()), dtype="<f8"), (rows, 1))
    request = v2_pb.ModelInferRequest(
        model_name="iris",
        inputs=[v2_pb.ModelInferRequest.InferInputTensor(name="input", datatype="FP64", shape=[rows, 4])],
        raw_input_contents=[features.tobytes()],
    )
    server_args = ("--max-batch-rows", str(rows), "--max-message-bytes", str(smallest))
    with running_server(tmp_path, *server_args) as server, grpc.insecure_channel(server.target) as channel:
        reply = v2_pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=10)
    labels = next(output for output in reply.outputs if output.name == "label")
    assert labels.shape == [rows]


async def test_a_server_that_never_answers_is_504_at_the_deadline(tmp_path):
    """An upstream that accepts connections and says nothing: 504 once --deadline-seconds pass."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # the kernel completes TCP handshakes; nobody ever speaks HTTP/2
        target = f"127.0.0.1:{silent.getsockname()[1]}"
        with running_proxy(tmp_path, target, "--deadline-seconds", str(DEADLINE_SECONDS)) as proxy:
            started = time.monotonic()
            status, body = await post(f"{proxy.url}/", json=FLOWER)
            elapsed = time.monotonic() - started
    assert status == 504
    assert body["error"]["code"] == "DEADLINE_EXCEEDED"
    assert DEADLINE_SECONDS <= elapsed < DEADLINE_SECONDS + 5
