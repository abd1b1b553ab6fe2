"""The proxy's KServe V2 REST API as Triton's own HTTP client sees it (in front of a real server):
health, metadata, answers equal to iris.v1's with and without binary data, and errors carrying
the server's message; plus the wire details tritonclient relies on, checked with plain HTTP."""

import json
from collections.abc import Iterator

import numpy as np
import pytest
import tritonclient.http as triton

from proxy.v2_repository import MODEL_CONTROL_REFUSED
from server.app import start_server
from server.config import Settings
from server.repository import ModelRepository
from server.served_models import ServedModels
from tests.support.server_process import ARTIFACTS
from tests.support.v2_answers import assert_same_answers, flowers, iris_v1_answers, refused

TIMEOUT = 10
HEADER_LENGTH = "Inference-Header-Content-Length"
MODEL_METADATA = {
    "name": "iris",
    "versions": ["1"],
    "platform": "onnx_onnxv1",
    "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}],
    "outputs": [
        {"name": "label", "datatype": "INT64", "shape": [-1]},
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]},
    ],
}


@pytest.fixture(scope="module")
def client(proxy_process) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(proxy_process.removeprefix("http://"), network_timeout=TIMEOUT)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
async def http(proxy_client, iris_server):
    """The proxy app in process, in front of the shared server, for plain HTTP requests."""
    return await proxy_client(upstream=iris_server.target)


def triton_input(rows: np.ndarray, binary: bool = True, datatype: str = "FP32") -> triton.InferInput:
    tensor = triton.InferInput("input", list(rows.shape), datatype)
    tensor.set_data_from_numpy(rows, binary_data=binary)
    return tensor


def test_server_is_live_and_ready(client):
    assert client.is_server_live()
    assert client.is_server_ready()


def test_model_readiness_by_name_and_version(client):
    assert client.is_model_ready("iris")
    assert client.is_model_ready("iris", "1")
    assert not client.is_model_ready("nope")
    assert not client.is_model_ready("iris", "2")


def test_server_metadata_lists_the_binary_extension(client):
    metadata = client.get_server_metadata()
    assert metadata["name"] == "iris-predictor"
    assert "binary_tensor_data" in metadata["extensions"]


@pytest.mark.parametrize("version", ["", "1"])
def test_model_metadata(client, version):
    assert client.get_model_metadata("iris", version) == MODEL_METADATA


def test_unknown_model_metadata_is_404_with_the_server_message(client):
    error = refused(lambda: client.get_model_metadata("nope"))
    assert (error.status(), error.message()) == (
        "404",
        "unknown model 'nope'; this server serves iris (version 1)",
    )


def test_repository_index_lists_the_served_version(client):
    """Triton's client reads the index the server's RepositoryIndex gives, through the proxy."""
    index = client.get_model_repository_index()
    assert {"name": "iris", "version": MODEL_METADATA["versions"][-1], "state": "READY"} in index


@pytest.mark.parametrize("action", ["load_model", "unload_model"])
def test_triton_model_control_is_refused(client, action):
    error = refused(lambda: getattr(client, action)("iris"))
    assert (error.status(), error.message()) == ("405", MODEL_CONTROL_REFUSED)
    assert client.is_model_ready("iris")


@pytest.mark.parametrize("count", [1, 1000])
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_infer_equals_iris_v1(client, iris_stub, count, binary):
    """Inputs and outputs both binary (tritonclient's default) or both JSON."""
    rows = flowers(count)
    outputs = [triton.InferRequestedOutput(name, binary_data=binary) for name in ("label", "probabilities")]
    result = client.infer("iris", [triton_input(rows, binary)], outputs=outputs, request_id="req-7")
    assert_same_answers(
        result.as_numpy("label"), result.as_numpy("probabilities"), iris_v1_answers(iris_stub, rows)
    )
    response = result.get_response()
    assert (response["model_name"], response["model_version"], response["id"]) == ("iris", "1", "req-7")
    assert all(("data" in output) != binary for output in response["outputs"])


def test_no_requested_outputs_means_all_of_them_as_binary(client, iris_stub):
    """tritonclient then asks binary_data_output; JSON input data works with it."""
    rows = flowers(5)
    result = client.infer("iris", [triton_input(rows, binary=False)])
    np.testing.assert_array_equal(result.as_numpy("label"), iris_v1_answers(iris_stub, rows)[0])
    assert [o["parameters"]["binary_data_size"] for o in result.get_response()["outputs"]] == [
        5 * 8,
        5 * 3 * 4,
    ]


@pytest.mark.parametrize("wanted", [["probabilities"], ["label"], ["probabilities", "label"]])
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_only_the_requested_outputs_come_back(client, iris_stub, wanted, binary):
    rows = flowers(10)
    outputs = [triton.InferRequestedOutput(name, binary_data=binary) for name in wanted]
    result = client.infer("iris", [triton_input(rows)], outputs=outputs)
    assert [output["name"] for output in result.get_response()["outputs"]] == wanted
    labels, probabilities = iris_v1_answers(iris_stub, rows)
    if "label" in wanted:
        np.testing.assert_array_equal(result.as_numpy("label"), labels)
    if "probabilities" in wanted:
        np.testing.assert_allclose(result.as_numpy("probabilities"), probabilities, rtol=0, atol=1e-7)
    for other in {"label", "probabilities"} - set(wanted):
        assert result.as_numpy(other) is None


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_fp64_input_is_accepted(client, iris_stub, binary):
    rows = flowers(10)
    result = client.infer("iris", [triton_input(rows.astype(np.float64), binary, "FP64")])
    np.testing.assert_array_equal(result.as_numpy("label"), iris_v1_answers(iris_stub, rows)[0])


def with_nan(rows: np.ndarray) -> np.ndarray:
    rows = rows.copy()
    rows[2, 3] = np.nan
    return rows


@pytest.mark.parametrize(
    ("model", "inputs", "status", "message"),
    [
        (
            "nope",
            lambda: [triton_input(flowers(1))],
            "404",
            "unknown model 'nope'; this server serves iris (version 1)",
        ),
        (
            "iris",
            lambda: [triton_input(flowers(2)[:, :3])],
            "400",
            "input 'input' has shape [2, 3]; the model takes [N, 4]",
        ),
        (
            "iris",
            lambda: [triton_input(flowers(2).astype(np.int64), datatype="INT64")],
            "400",
            "input 'input' has datatype 'INT64'; the model takes FP32 or FP64",
        ),
        (
            "iris",
            lambda: [triton_input(flowers(2)).set_shape([3, 4])],
            "400",
            "input 'input' has 32 bytes of raw data; shape [3, 4] of FP32 takes 48",
        ),
        (
            "iris",
            lambda: [triton_input(with_nan(flowers(4)))],
            "400",
            "row 2: petal_width is NaN; features must be finite numbers",
        ),
        (
            "iris",
            lambda: [triton_input(with_nan(flowers(4)), binary=False)],
            "400",
            "row 2: petal_width is NaN; features must be finite numbers",
        ),
        (
            "iris",
            lambda: [triton_input(flowers(10_001))],
            "429",
            "10001 rows in one call; the limit is 10000 (--max-batch-rows)",
        ),
    ],
    ids=["unknown-model", "shape", "datatype", "byte-count", "nan-binary", "nan-json", "too-many-rows"],
)
def test_mistakes_are_refused_with_the_server_message(client, model, inputs, status, message):
    error = refused(lambda: client.infer(model, inputs()))
    assert (error.status(), error.message()) == (status, message)


# ---- Plain HTTP: the wire format and the errors the proxy finds itself ----


def infer_body(header: dict, *parts: bytes) -> tuple[bytes, dict[str, str]]:
    text = json.dumps(header).encode()
    return text + b"".join(parts), {HEADER_LENGTH: str(len(text))} if parts else {}


async def test_binary_reply_is_octet_stream_with_the_json_length(http):
    rows = flowers(3)
    body, headers = infer_body(
        {
            "inputs": [
                {"name": "input", "shape": [3, 4], "datatype": "FP32", "parameters": {"binary_data_size": 48}}
            ],
            "outputs": [{"name": "label", "parameters": {"binary_data": True}}],
        },
        rows.tobytes(),
    )
    response = await http.post("/v2/models/iris/infer", data=body, headers=headers)
    assert response.status == 200
    assert response.content_type == "application/octet-stream"
    reply = await response.read()
    length = int(response.headers[HEADER_LENGTH])
    header = json.loads(reply[:length])
    assert header["outputs"] == [
        {"name": "label", "datatype": "INT64", "shape": [3], "parameters": {"binary_data_size": 24}}
    ]
    assert len(reply) == length + 24


async def test_nested_json_data_gets_a_json_reply(http, iris_stub):
    rows = flowers(3)
    body = {
        "id": "n1",
        "inputs": [{"name": "input", "shape": [3, 4], "datatype": "FP32", "data": rows.tolist()}],
    }
    response = await http.post("/v2/models/iris/versions/1/infer", json=body)
    assert response.status == 200
    assert response.content_type == "application/json"
    assert HEADER_LENGTH not in response.headers
    reply = await response.json()
    assert (reply["id"], reply["model_version"]) == ("n1", "1")
    assert reply["outputs"][0] == {
        "name": "label",
        "datatype": "INT64",
        "shape": [3],
        "data": iris_v1_answers(iris_stub, rows)[0].tolist(),
    }


FP32_INPUT = {"name": "input", "shape": [1, 4], "datatype": "FP32"}


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        (b"{", {}, "malformed JSON"),
        (b"[]", {}, "the request must be a JSON object, got an array"),
        (b'{"inputs": {}}', {}, "inputs must be an array of tensors, got an object"),
        (
            json.dumps({"inputs": [{**FP32_INPUT, "data": [1, 2, "x", 4]}]}).encode(),
            {},
            "inputs[0].data[2] must be number for FP32, got a string",
        ),
        (
            json.dumps({"inputs": [{**FP32_INPUT, "data": [1, 2, 1e39, 4]}]}).encode(),
            {},
            "inputs[0].data[2] is out of range for FP32, got 1e+39",
        ),
        (
            json.dumps({"inputs": [FP32_INPUT]}).encode(),
            {},
            "inputs[0] has no data and no parameters.binary_data_size",
        ),
        (
            *infer_body({"inputs": [{**FP32_INPUT, "parameters": {"binary_data_size": 16}}]}, bytes(8)),
            "inputs[0] has binary_data_size 16, but only 8 bytes of binary data are left after "
            "Inference-Header-Content-Length",
        ),
        (
            b"{}",
            {HEADER_LENGTH: "9"},
            "Inference-Header-Content-Length must be the byte length of the JSON part",
        ),
        (b"{}", {HEADER_LENGTH: "\u00b2"}, "Inference-Header-Content-Length must be the byte length"),
        (
            *infer_body({"inputs": [{**FP32_INPUT, "data": [1, 2, 3, 4]}]}, bytes(4)),
            "the body has 4 bytes after the JSON part, but the inputs' binary_data_size add up to 0",
        ),
    ],
    ids=[
        "json",
        "not-object",
        "inputs",
        "data-type",
        "fp32-range",
        "no-data",
        "short-binary",
        "header",
        "header-digit",
        "extra",
    ],
)
async def test_bad_bodies_are_400_with_the_v2_error_body(http, body, headers, message):
    response = await http.post("/v2/models/iris/infer", data=body, headers=headers)
    assert response.status == 400
    reply = await response.json()
    assert list(reply) == ["error"]
    assert reply["error"].startswith(message)


async def test_unknown_v2_path_and_wrong_method_use_the_v2_error_body(http):
    for method, path, status in [
        ("GET", "/v2/models/iris/nothing", 404),
        ("GET", "/v2/models/iris/infer", 405),
    ]:
        response = await http.request(method, path)
        assert response.status == status
        assert isinstance((await response.json())["error"], str)


@pytest.mark.parametrize(
    ("method", "path", "send", "status"),
    [
        ("GET", "/v2", {}, 200),
        ("GET", "/v2/health/live", {}, 200),
        ("GET", "/v2/health/ready", {}, 200),
        ("GET", "/v2/models/{name}", {}, 200),
        ("GET", "/v2/models/{name}/versions/{version}", {}, 200),
        ("GET", "/v2/models/{name}/ready", {}, 200),
        ("GET", "/v2/models/{name}/versions/{version}/ready", {}, 200),
        (
            "POST",
            "/v2/models/{name}/infer",
            {"json": {"inputs": [{**FP32_INPUT, "data": [1, 2, 3, 4]}]}},
            200,
        ),
        ("POST", "/v2/models/{name}/infer", {"json": {"inputs": [{**FP32_INPUT, "data": [1, 2, 3]}]}}, 400),
        ("GET", "/v2/models/{name}/versions/{version}", {"name": "nope"}, 404),
        (
            "POST",
            "/v2/models/{name}/infer",
            {"json": {"inputs": [{**FP32_INPUT, "shape": [10_001, 4], "data": [1] * 40_004}]}},
            429,
        ),
        ("POST", "/v2/repository/index", {}, 200),
        ("POST", "/v2/repository/index", {"json": {"ready": True}}, 200),
    ],
)
async def test_real_answers_conform_to_openapi(http, assert_conforms, method, path, send, status):
    """Answers made with the real server match the OpenAPI document's status, headers and schema."""
    document = json.loads(await (await http.get("/openapi.json")).text())
    url = path.format(name=send.pop("name", "iris"), version="1")
    response = await http.request(method, url, **send)
    assert response.status == status
    assert_conforms(document, method, path, status, response.headers, await response.json())


@pytest.fixture
def unready_server() -> Iterator[str]:
    """An in-process server whose model is loaded but never marked ready (as during warm-up)."""
    model = ModelRepository(ARTIFACTS).load(
        "iris", None, intra_op_threads=1, inter_op_threads=1, max_batch_rows=10
    )
    running = start_server(Settings(host="127.0.0.1", port=0, threads=4), ServedModels.of(model))
    try:
        yield f"127.0.0.1:{running.port}"
    finally:
        running.server.stop(None)


async def test_a_server_not_ready_is_503_but_live(proxy_client, unready_server):
    """The server is not ready (503); its models are not ready either (404, the protocol's 4xx)."""
    http = await proxy_client(upstream=unready_server)
    assert (await http.get("/v2/health/live")).status == 200
    for path, status in (("/v2/health/ready", 503), ("/v2/models/iris/ready", 404)):
        response = await http.get(path)
        assert response.status == status
        assert "not ready" in (await response.json())["error"]
    body = {"inputs": [{**FP32_INPUT, "data": [1, 2, 3, 4]}]}
    response = await http.post("/v2/models/iris/infer", json=body)
    assert response.status == 503


async def test_no_server_is_503_with_the_v2_error_body(proxy_client):
    http = await proxy_client()
    response = await http.get("/v2/health/ready")
    assert response.status == 503
    assert await response.json() == {"error": "the prediction server is unavailable; retry later"}
