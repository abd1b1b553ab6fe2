"""The proxy's error mapping: gRPC failures and unexpected exceptions become JSON with the right status."""

import logging

import grpc
import pytest
from aiohttp import web

from proxy.app import make_app
from proxy.config import Settings

# The table of DESIGN.md, written out again so a change to proxy/errors.py must be deliberate.
DESIGN_TABLE = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.DATA_LOSS: 500,
}
SECRET_DETAILS = "ipv4:10.1.2.3:50052: connection refused"


async def raise_rpc_error(request: web.Request) -> web.Response:
    code = grpc.StatusCode[request.match_info["code"]]
    raise grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=SECRET_DETAILS)


async def raise_bug(request: web.Request) -> web.Response:
    raise ZeroDivisionError("a bug")


@pytest.fixture
async def client(aiohttp_client, refused_upstream):
    app = make_app(Settings(upstream=refused_upstream))
    app.router.add_get("/rpc-error/{code}", raise_rpc_error)
    app.router.add_get("/bug", raise_bug)
    return await aiohttp_client(app)


@pytest.mark.parametrize(("code", "status"), DESIGN_TABLE.items(), ids=lambda v: getattr(v, "name", str(v)))
async def test_grpc_status_maps_to_http_status(client, code, status):
    """An upstream gRPC error answers with the DESIGN.md status and the gRPC code name."""
    response = await client.get(f"/rpc-error/{code.name}")
    assert response.status == status
    assert (await response.json())["error"]["code"] == code.name


async def test_client_error_keeps_server_message(client):
    """A 4xx from upstream passes the server's message on: it names the bad field."""
    response = await client.get("/rpc-error/INVALID_ARGUMENT")
    assert (await response.json())["error"]["message"] == SECRET_DETAILS


@pytest.mark.parametrize("code", ["UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED"])
async def test_server_error_hides_grpc_details(client, code):
    """A 5xx from upstream does not show gRPC's details (they may name internal addresses)."""
    body = await (await client.get(f"/rpc-error/{code}")).json()
    assert SECRET_DETAILS not in body["error"]["message"]


async def test_internal_upstream_error_is_logged_with_request_id(client, caplog):
    """An upstream INTERNAL error is logged with the request id and gRPC details."""
    with caplog.at_level(logging.ERROR, logger="proxy.errors"):
        response = await client.get("/rpc-error/INTERNAL", headers={"X-Request-Id": "req-internal-1"})
    assert "req-internal-1" in (await response.json())["error"]["message"]
    [record] = [r for r in caplog.records if r.name == "proxy.errors"]
    assert (record.request_id, record.grpc_details) == ("req-internal-1", SECRET_DETAILS)


async def test_unexpected_exception_is_500_json_logged_with_request_id(client, caplog):
    """A bug answers 500 INTERNAL as JSON quoting the request id, and logs the traceback with it."""
    with caplog.at_level(logging.ERROR, logger="proxy.errors"):
        response = await client.get("/bug", headers={"X-Request-Id": "req-bug-1"})
    assert response.status == 500
    body = await response.json()
    assert body["error"]["code"] == "INTERNAL"
    assert "req-bug-1" in body["error"]["message"]
    [record] = [r for r in caplog.records if r.name == "proxy.errors"]
    assert record.request_id == "req-bug-1"
    assert record.exc_info[0] is ZeroDivisionError
