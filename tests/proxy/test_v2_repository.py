"""Triton's repository extension through the proxy, read only: POST /v2/repository/index becomes
gRPC RepositoryIndex (checked against a fake server that keeps what it is sent), and Triton's load
and unload are refused by the proxy itself."""

import json

import pytest

from inference_pb import grpc_predict_v2_pb2 as pb
from proxy.v2_repository import MODEL_CONTROL_REFUSED
from tests.support.fake_v2_server import running_fake_v2_server

INDEX = "/v2/repository/index"
ModelIndex = pb.RepositoryIndexResponse.ModelIndex
VERSIONS = [
    ModelIndex(name="iris", version="1", state="UNAVAILABLE", reason="left out by the version policy"),
    ModelIndex(name="iris", version="2", state="READY"),
    ModelIndex(name="iris", version="3", state="LOADING"),
    ModelIndex(name="other", state="UNAVAILABLE", reason="no version found"),
]


@pytest.fixture
async def fake_server():
    async with running_fake_v2_server() as server:
        server.servicer.index_reply = pb.RepositoryIndexResponse(models=VERSIONS)
        yield server


@pytest.fixture
async def http(proxy_client, fake_server):
    """The proxy app in process, in front of the fake server."""
    return await proxy_client(upstream=fake_server.target)


async def test_index_lists_every_version_as_triton_does(http, fake_server):
    """Name and state always; version and reason only when the server gives them."""
    response = await http.post(INDEX)
    assert response.status == 200
    assert await response.json() == [
        {"name": "iris", "version": "1", "state": "UNAVAILABLE", "reason": "left out by the version policy"},
        {"name": "iris", "version": "2", "state": "READY"},
        {"name": "iris", "version": "3", "state": "LOADING"},
        {"name": "other", "state": "UNAVAILABLE", "reason": "no version found"},
    ]
    assert fake_server.servicer.requests == [pb.RepositoryIndexRequest(ready=False)]


@pytest.mark.parametrize(
    ("body", "ready"),
    [(b"", False), (b"{}", False), (b'{"ready": false}', False), (b'{"ready": true}', True)],
    ids=["empty", "no-field", "false", "true"],
)
async def test_index_passes_ready_on(http, fake_server, body, ready):
    response = await http.post(INDEX, data=body, headers={"Content-Type": "application/json"})
    assert response.status == 200
    assert fake_server.servicer.requests == [pb.RepositoryIndexRequest(ready=ready)]


async def test_an_empty_repository_is_an_empty_list(http, fake_server):
    fake_server.servicer.index_reply = pb.RepositoryIndexResponse()
    response = await http.post(INDEX)
    assert (response.status, await response.json()) == (200, [])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "malformed JSON"),
        (b"[]", "the index request must be a JSON object, got an array"),
        (b"null", "the index request must be a JSON object, got null"),
        (b'{"ready": "yes"}', "ready must be a boolean, got a string"),
        (b'{"ready": 1}', "ready must be a boolean, got a number"),
        (b'{"ready": null}', "ready must be a boolean, got null"),
        (b'{"ready": true, "repository": "x"}', "'repository' is not a field of the index request"),
    ],
    ids=["json", "array", "null", "string", "number", "ready-null", "unknown-field"],
)
async def test_bad_index_bodies_are_400_naming_the_field(http, fake_server, body, message):
    response = await http.post(INDEX, data=body, headers={"Content-Type": "application/json"})
    assert response.status == 400
    reply = await response.json()
    assert list(reply) == ["error"]
    assert reply["error"].startswith(message)
    assert fake_server.servicer.requests == []


@pytest.mark.parametrize("action", ["load", "unload"])
async def test_load_and_unload_are_refused_with_405_and_no_allowed_method(http, fake_server, action):
    """The server loads versions by itself: 405 with an empty Allow, nothing sent to the server."""
    response = await http.post(f"/v2/repository/models/iris/{action}", json={"parameters": {}})
    assert response.status == 405
    assert response.headers["Allow"] == ""
    assert await response.json() == {"error": MODEL_CONTROL_REFUSED}
    assert fake_server.servicer.requests == []


@pytest.mark.parametrize(
    ("url", "template", "body", "status"),
    [
        (INDEX, INDEX, b"", 200),
        (INDEX, INDEX, b'{"ready": true}', 200),
        (INDEX, INDEX, b'{"ready": 0}', 400),
        ("/v2/repository/models/iris/load", "/v2/repository/models/{name}/load", b"", 405),
        ("/v2/repository/models/iris/unload", "/v2/repository/models/{name}/unload", b"", 405),
    ],
)
async def test_answers_conform_to_openapi(http, assert_conforms, url, template, body, status):
    document = json.loads(await (await http.get("/openapi.json")).text())
    response = await http.post(url, data=body, headers={"Content-Type": "application/json"})
    assert response.status == status
    assert_conforms(document, "POST", template, status, response.headers, await response.json())
