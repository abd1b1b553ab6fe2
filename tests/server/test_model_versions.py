"""Several models and versions served at once: how iris.v1 and V2 over gRPC address them.

One server over a repository of iris versions 1 and 2 (policy all), a copy named iris-copy, and a
broken version 3 of iris-copy; tritonclient is the V2 client, as a Triton user's would be.
"""

import grpc
import numpy as np
import pytest
from tritonclient.utils import InferenceServerException

from inference_pb import grpc_predict_v2_pb2 as v2
from inference_pb import grpc_predict_v2_pb2_grpc as v2_grpc
from iris_pb import iris_pb2, iris_pb2_grpc
from tests.support.model_repository import corrupt_onnx, publish_copy
from tests.support.server_process import running_server
from tests.support.status_details import field_violations
from tests.support.triton_grpc import triton

TIMEOUT = 10
FLOWER = iris_pb2.PredictRequest(sepal_length=6.8, sepal_width=3.2, petal_length=5.9, petal_width=2.3)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    repository = tmp_path_factory.mktemp("repository")
    for version in (1, 2):
        publish_copy(repository, "iris", version)
    publish_copy(repository, "iris-copy", 1)
    corrupt_onnx(publish_copy(repository, "iris-copy", 3))
    logs = tmp_path_factory.mktemp("logs")
    with running_server(logs, "--repository", str(repository), "--version-policy", "all") as process:
        yield process


@pytest.fixture(scope="module")
def stub(server):
    with grpc.insecure_channel(server.target) as channel:
        yield iris_pb2_grpc.IrisPredictorStub(channel)


@pytest.fixture(scope="module")
def client(server):
    with triton.InferenceServerClient(server.target) as client:
        yield client


def flower_input():
    tensor = triton.InferInput("input", [1, 4], "FP32")
    tensor.set_data_from_numpy(np.array([[6.8, 3.2, 5.9, 2.3]], dtype=np.float32))
    return tensor


def rpc_error(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as error:
        call()
    return error.value


@pytest.mark.parametrize(("asked", "answered"), [("", "2"), ("1", "1"), ("2", "2")])
def test_iris_v1_answers_with_the_version_asked_or_the_latest(stub, asked, answered):
    request = iris_pb2.PredictRequest()
    request.CopyFrom(FLOWER)
    request.model_version = asked
    reply = stub.Predict(request, timeout=TIMEOUT)
    assert (reply.species, reply.model_version) == (2, answered)
    batch = iris_pb2.PredictBatchRequest(features=[6.8, 3.2, 5.9, 2.3] * 2, model_version=asked)
    assert stub.PredictBatch(batch, timeout=TIMEOUT).model_version == answered


def test_iris_v1_refuses_a_version_not_served_listing_what_is(stub):
    request = iris_pb2.PredictRequest(model_version="7")
    request.MergeFrom(FLOWER)
    error = rpc_error(lambda: stub.Predict(request, timeout=TIMEOUT))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == (
        "model 'iris' has no version '7' served; this server serves "
        "iris (versions 1, 2), iris-copy (version 1)"
    )


def test_iris_v1_refuses_a_malformed_version_naming_the_field(stub):
    request = iris_pb2.PredictRequest(model_version="../1")
    request.MergeFrom(FLOWER)
    error = rpc_error(lambda: stub.Predict(request, timeout=TIMEOUT))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [name for name, _ in field_violations(error)] == ["model_version"]


def test_a_stream_keeps_the_version_of_its_first_message(stub):
    first, second = (iris_pb2.PredictRequest(model_version=v) for v in ("1", "2"))
    for request in (first, second):
        request.MergeFrom(FLOWER)
    replies = stub.PredictStream(iter([first, first, second]), timeout=TIMEOUT)
    assert [next(replies).model_version for _ in range(2)] == ["1", "1"]
    with pytest.raises(grpc.RpcError) as error:
        next(replies)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details().startswith("row 2: model_version '2' differs")


@pytest.mark.parametrize(("version", "answered"), [("", "2"), ("1", "1")])
def test_v2_infers_with_any_served_model_and_version(client, version, answered):
    for name in ("iris", "iris-copy"):
        if name == "iris-copy" and version == "":
            answered = "1"
        reply = client.infer(name, [flower_input()], model_version=version)
        assert reply.get_response().model_version == answered
        assert reply.as_numpy("label").tolist() == [2]


def test_v2_metadata_lists_the_served_versions(client):
    assert client.get_model_metadata("iris", as_json=True)["versions"] == ["1", "2"]
    assert client.get_model_metadata("iris", "1", as_json=True)["versions"] == ["1"]


def test_v2_metadata_says_the_task_in_its_parameters(server):
    """A field Triton's proto lacks (MLServer's has it): tritonclient skips it, our stub reads it."""
    with grpc.insecure_channel(server.target) as channel:
        metadata = v2_grpc.GRPCInferenceServiceStub(channel).ModelMetadata(
            v2.ModelMetadataRequest(name="iris"), timeout=TIMEOUT
        )
    assert metadata.parameters["task"].string_param == "classification"


def test_v2_model_ready_is_false_for_what_is_not_served(client):
    assert client.is_model_ready("iris", "1")
    assert client.is_model_ready("iris-copy")
    assert client.is_model_ready("nope") is False
    assert client.is_model_ready("iris", "7") is False
    assert client.is_model_ready("iris-copy", "3") is False  # refused: broken


def test_v2_refuses_a_malformed_model_name(client):
    with pytest.raises(InferenceServerException) as error:
        client.infer("../iris", [flower_input()])
    assert error.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "model name '../iris' is not valid" in error.value.message()


def test_the_repository_index_lists_every_version_and_its_state(client):
    index = client.get_model_repository_index(as_json=True)["models"]
    states = {(m["name"], m["version"]): m["state"] for m in index}
    assert states == {
        ("iris", "1"): "READY",
        ("iris", "2"): "READY",
        ("iris-copy", "1"): "READY",
        ("iris-copy", "3"): "UNAVAILABLE",
    }
    [broken] = [m for m in index if m["state"] != "READY"]
    assert "corrupt or replaced" in broken["reason"]


def test_the_repository_index_can_list_only_what_is_ready(server):
    with grpc.insecure_channel(server.target) as channel:
        index = v2_grpc.GRPCInferenceServiceStub(channel).RepositoryIndex(
            v2.RepositoryIndexRequest(ready=True), timeout=TIMEOUT
        )
    assert sorted((m.name, m.version) for m in index.models) == [
        ("iris", "1"),
        ("iris", "2"),
        ("iris-copy", "1"),
    ]


def test_v2_parameters_the_model_does_not_use_are_ignored(client):
    reply = client.infer("iris", [flower_input()], parameters={"temperature": 0.7, "mode": "fast"})
    assert reply.as_numpy("label").tolist() == [2]


def test_no_network_call_loads_or_unloads_a_model(client):
    with pytest.raises(InferenceServerException) as error:
        client.load_model("iris")
    assert error.value.status() == "StatusCode.UNIMPLEMENTED"
