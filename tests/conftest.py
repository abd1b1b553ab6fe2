"""Fixtures shared by the tests: in-process proxy apps, and real server processes."""

import pathlib
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator

import grpc
import pytest
from aiohttp.test_utils import TestClient

from iris_pb import iris_pb2_grpc
from proxy.app import make_app
from proxy.config import Settings
from tests.server_process import REPO_ROOT, ServerProcess, free_port, running_server


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


# ---- Real processes: `python -m server` (tests/server_process.py) and `python -m proxy` ----

STARTUP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0


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
    port = free_port()
    command = [sys.executable, "-m", "proxy", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--upstream", iris_server.target, "--log-format", "text"]
    log_path = tmp_path_factory.mktemp("proxy") / "proxy.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_http_ok(f"{url}/healthz", process, log_path)
        yield url
    finally:
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_http_ok(url: str, process: subprocess.Popen, log_path: pathlib.Path) -> None:
    give_up = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < give_up:
        if process.poll() is not None:
            raise RuntimeError(f"proxy exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=1.0) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.05)  # not listening yet; poll again
    raise RuntimeError(
        f"proxy not answering {url} within {STARTUP_TIMEOUT_SECONDS} s:\n{log_path.read_text()}"
    )
