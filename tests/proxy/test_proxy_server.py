"""The proxy in front of a real `python -m server`: answers agree with gRPC, errors map as documented."""

import asyncio
import json
import math
import urllib.request

import aiohttp
import pytest

from iris_pb import iris_pb2
from tests.support.server_process import free_port, running_server

FLOWER = {"sepal_length": 6.8, "sepal_width": 3.2, "petal_length": 5.9, "petal_width": 2.3}
CURL_FORM_BODY = b"sepal_length=6.8&sepal_width=3.2&petal_length=5.9&petal_width=2.3"  # what curl -d sends
ROWS = [
    [5.1, 3.5, 1.4, 0.2],
    [6.0, 2.9, 4.5, 1.5],
    [6.8, 3.2, 5.9, 2.3],
    [5.7, 2.8, 4.1, 1.3],
]
FEATURES = list(FLOWER)


@pytest.fixture
async def client(proxy_client, iris_server):
    return await proxy_client(upstream=iris_server.target)


def grpc_prediction(stub, flower: dict) -> dict:
    reply = stub.Predict(iris_pb2.PredictRequest(**flower), timeout=5)
    return {
        "species": str(reply.species),
        "species_name": reply.species_name,
        "probabilities": list(reply.probabilities),
        "model_name": reply.model_name,
        "model_version": reply.model_version,
    }


def grpc_batch_predictions(stub, rows: list[list[float]]) -> dict:
    reply = stub.PredictBatch(
        iris_pb2.PredictBatchRequest(features=[v for row in rows for v in row]), timeout=5
    )
    classes = len(reply.class_names)
    return {
        "predictions": [
            {
                "species": str(species),
                "species_name": reply.class_names[species],
                "probabilities": list(reply.probabilities[classes * i : classes * (i + 1)]),
            }
            for i, species in enumerate(reply.species)
        ],
        "model_name": reply.model_name,
        "model_version": reply.model_version,
    }


def test_original_curl_call_answers_species_2(proxy_process):
    """`python -m proxy` answers the tutorial's curl form POST with "species": "2"."""
    request = urllib.request.Request(
        f"{proxy_process}/",
        data=CURL_FORM_BODY,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        body = json.loads(reply.read())
    assert reply.status == 200
    assert body["species"] == "2"
    assert body["species_name"] == "virginica"


async def test_form_body_agrees_with_grpc(client, iris_stub):
    """A form POST / answers exactly what gRPC Predict answers."""
    response = await client.post(
        "/", data=CURL_FORM_BODY, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status == 200
    assert await response.json() == grpc_prediction(iris_stub, FLOWER)


async def test_json_body_agrees_with_grpc(client, iris_stub):
    """A JSON POST / answers exactly what gRPC Predict answers."""
    flower = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
    response = await client.post("/", json=flower)
    assert response.status == 200
    body = await response.json()
    assert body == grpc_prediction(iris_stub, flower)
    assert body["species"] == "0"


async def test_multipart_form_agrees_with_grpc(client, iris_stub):
    """A multipart/form-data POST / answers what gRPC Predict answers."""
    form = aiohttp.FormData({name: str(value) for name, value in FLOWER.items()}, default_to_multipart=True)
    response = await client.post("/", data=form)
    assert response.status == 200
    assert await response.json() == grpc_prediction(iris_stub, FLOWER)


@pytest.mark.parametrize(
    "body",
    [
        [dict(zip(FEATURES, row, strict=True)) for row in ROWS],
        {"instances": ROWS},
        {"instances": [dict(zip(FEATURES, row, strict=True)) for row in ROWS]},
    ],
    ids=["list-of-objects", "instances-arrays", "instances-objects"],
)
async def test_batch_agrees_with_grpc_batch(client, iris_stub, body):
    """Every batch shape answers exactly what one gRPC PredictBatch call answers for those rows."""
    response = await client.post("/predict", json=body)
    assert response.status == 200
    assert await response.json() == grpc_batch_predictions(iris_stub, ROWS)


async def test_empty_batch_has_no_predictions(client):
    """An empty batch is answered with no predictions."""
    response = await client.post("/predict", json=[])
    assert response.status == 200
    assert (await response.json())["predictions"] == []


@pytest.mark.parametrize(
    ("send", "field"),
    [
        ({"data": {**FLOWER, "petal_width": "nan"}}, "petal_width"),
        (
            {"data": '{"sepal_length": NaN, "sepal_width": 1, "petal_length": 1, "petal_width": 1}'},
            "sepal_length",
        ),
    ],
    ids=["form-nan", "json-nan"],
)
async def test_nan_is_400_naming_field(client, send, field):
    """NaN reaches the server, whose INVALID_ARGUMENT becomes 400 with its message naming the field."""
    if isinstance(send.get("data"), str):
        send = {**send, "headers": {"Content-Type": "application/json"}}
    response = await client.post("/", **send)
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["code"] == "INVALID_ARGUMENT"
    assert field in error["message"]


async def test_nan_in_batch_is_400_naming_row(client):
    """NaN in a batch is 400 with the server's message naming its row and field."""
    rows = [ROWS[0], [1.0, 2.0, math.nan, 4.0]]
    response = await client.post(
        "/predict", data=json.dumps(rows), headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    message = (await response.json())["error"]["message"]
    assert "row 1" in message
    assert "petal_length" in message


async def test_batch_over_server_row_limit_is_429(client):
    """More rows than the server takes in one call: its RESOURCE_EXHAUSTED becomes 429."""
    response = await client.post("/predict", json={"instances": [ROWS[0]] * 10_001})
    assert response.status == 429
    assert (await response.json())["error"]["code"] == "RESOURCE_EXHAUSTED"


async def test_readyz_is_200_when_server_serving(client):
    """/readyz says SERVING when the server's health check does."""
    response = await client.get("/readyz")
    assert response.status == 200
    assert await response.json() == {"status": "SERVING"}


async def test_request_id_reaches_server_log(client, iris_server):
    """The X-Request-Id travels as gRPC metadata: the server logs it with the call's failure."""
    request_id = "proxy-to-server-trace-1"
    response = await client.post(
        "/", data={**FLOWER, "sepal_length": "nan"}, headers={"X-Request-Id": request_id}
    )
    assert response.status == 400
    assert response.headers["X-Request-Id"] == request_id
    assert request_id in iris_server.log()


@pytest.mark.parametrize(
    ("path", "send", "status"),
    [
        ("/", {"data": FLOWER}, 200),
        ("/", {"json": FLOWER}, 200),
        ("/predict", {"json": {"instances": ROWS}}, 200),
        ("/", {"data": {**FLOWER, "petal_width": "nan"}}, 400),
        ("/predict", {"json": [FLOWER, {**FLOWER, "sepal_length": "x"}]}, 400),
        ("/predict", {"json": {"instances": [ROWS[0]] * 10_001}}, 429),
    ],
)
async def test_real_answers_conform_to_openapi(client, assert_conforms, path, send, status):
    """Answers made with the real server match the OpenAPI document's status, headers and schema."""
    document = json.loads(await (await client.get("/openapi.json")).text())
    response = await client.post(path, **send)
    assert response.status == status
    assert_conforms(document, "POST", path, status, response.headers, await response.json())


async def test_server_stopped_then_restarted(proxy_client, tmp_path):
    """Server down: 503 before the deadline; back on the same port: the same proxy answers again."""
    port = free_port()
    with running_server(tmp_path, port=port) as server:
        client = await proxy_client(upstream=server.target, deadline_seconds=5.0)
        assert (await client.post("/", data=FLOWER)).status == 200

    response = await client.post("/", data=FLOWER)
    assert response.status == 503  # 504 would mean it waited for the deadline
    assert (await response.json())["error"]["code"] == "UNAVAILABLE"
    assert (await client.get("/readyz")).status == 503

    with running_server(tmp_path, port=port):  # returns once its health says SERVING
        status = await first_success(client)
    assert status == 200


async def first_success(client, attempts: int = 200) -> int:
    """POST / until it succeeds (the proxy's channel reconnects within its backoff, about 2 s)."""
    for _ in range(attempts):
        response = await client.post("/", data=FLOWER)
        if response.status != 503:
            return response.status
        await asyncio.sleep(0.05)
    return response.status


async def test_features_near_float32_limit_are_not_a_server_error(client):
    """A float32-finite feature too large for the model is a 400 naming the reason, not a 500."""
    response = await client.post("/", json={**FLOWER, "petal_width": 1e38})
    assert response.status == 400
    body = await response.json()
    assert body["error"]["code"] == "INVALID_ARGUMENT"
    assert body["error"]["message"].startswith("features too large for the model")
