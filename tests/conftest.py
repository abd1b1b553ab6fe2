"""Fixtures shared by the tests: in-process proxy apps, and real server processes."""

import socket
from collections.abc import Awaitable, Callable, Iterator

import grpc
import pytest
from aiohttp.test_utils import TestClient

from iris_pb import iris_pb2_grpc
from proxy.app import make_app
from proxy.config import Settings
from tests.support.proxy_process import running_proxy
from tests.support.server_process import ServerProcess, running_server


@pytest.fixture
def refused_upstream() -> Iterator[str]:
    """A gRPC target on 127.0.0.1 where nothing listens: connections are refused at once.

    The port stays bound (without listen) until the test ends, so no other process takes it.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


ProxyClientFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def proxy_client(aiohttp_client, refused_upstream) -> ProxyClientFactory:
    """Start the proxy app in process: `await proxy_client(upstream=..., max_body_bytes=...)`.

    The upstream defaults to one that refuses connections, for tests that never reach it.
    """

    async def start(**settings) -> TestClient:
        settings.setdefault("upstream", refused_upstream)
        return await aiohttp_client(make_app(Settings(**settings)))

    return start


def _response_schema(document: dict, method: str, path: str, status: int) -> dict:
    responses = document["paths"][path][method.lower()]["responses"]
    response = responses.get(str(status), responses.get("default"))
    if "$ref" in response:
        response = document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    assert "X-Request-Id" in response["headers"], f"{method} {path} {status}: X-Request-Id not documented"
    return response["content"]["application/json"]["schema"]


@pytest.fixture(scope="session")
def assert_conforms() -> Callable[..., None]:
    """`assert_conforms(document, method, path, status, headers, body)`: the OpenAPI document
    describes this response (status or default entry, X-Request-Id header, JSON schema)."""
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    def check(document: dict, method: str, path: str, status: int, headers, body) -> None:
        assert "X-Request-Id" in headers
        schema = _response_schema(document, method, path, status)
        registry = Registry().with_resource("urn:openapi", Resource(document, DRAFT202012))
        root = {"$ref": "urn:openapi" + schema["$ref"]} if "$ref" in schema else schema
        jsonschema.Draft202012Validator(root, registry=registry).validate(body)

    return check


# ---- Real processes: `python -m server` (tests/support/server_process.py) and `python -m proxy` ----


@pytest.fixture(scope="session")
def iris_server(tmp_path_factory) -> Iterator[ServerProcess]:
    """One real gRPC server shared by the tests that only call it (they never stop it)."""
    with running_server(tmp_path_factory.mktemp("iris-server")) as server:
        yield server


@pytest.fixture
def iris_stub(iris_server) -> Iterator[iris_pb2_grpc.IrisPredictorStub]:
    """A plain gRPC stub on the shared server, to compare the proxy's answers with."""
    with grpc.insecure_channel(iris_server.target) as channel:
        yield iris_pb2_grpc.IrisPredictorStub(channel)


@pytest.fixture(scope="session")
def proxy_process(iris_server, tmp_path_factory) -> Iterator[str]:
    """A real `python -m proxy` in front of the shared server; yields its base URL."""
    with running_proxy(tmp_path_factory.mktemp("proxy"), iris_server.target) as proxy:
        yield proxy.url
