"""Request ids (taken, generated, echoed) and the access log line."""

import logging
import re

import pytest


@pytest.fixture
async def client(proxy_client):
    return await proxy_client()


async def test_request_id_is_echoed(client):
    """A usable X-Request-Id from the client comes back unchanged."""
    response = await client.get("/healthz", headers={"X-Request-Id": "my-id-42"})
    assert response.headers["X-Request-Id"] == "my-id-42"


async def test_request_id_is_generated_when_absent(client):
    """Without X-Request-Id the proxy makes a random 32-hex-digit id, a new one each time, and returns it."""
    ids = {(await client.get("/healthz")).headers["X-Request-Id"] for _ in range(3)}
    assert len(ids) == 3
    assert all(re.fullmatch(r"[0-9a-f]{32}", request_id) for request_id in ids)


@pytest.mark.parametrize("given", ["has space", "x" * 129, ""])
async def test_unusable_request_id_is_replaced(client, given):
    """An id that could not travel as gRPC metadata (spaces, too long, empty) is replaced."""
    response = await client.get("/healthz", headers={"X-Request-Id": given})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-Id"])


async def test_error_responses_carry_request_id(client):
    """Error answers echo the request id too."""
    response = await client.get("/nowhere", headers={"X-Request-Id": "err-1"})
    assert response.status == 404
    assert response.headers["X-Request-Id"] == "err-1"


async def test_access_log_line_has_request_fields(client, caplog):
    """Each request logs one access line with request id, method, route, status and latency."""
    with caplog.at_level(logging.INFO, logger="proxy.access"):
        await client.post("/predict", json=[{}], headers={"X-Request-Id": "log-1"})
    [record] = [r for r in caplog.records if r.name == "proxy.access"]
    assert (record.request_id, record.method, record.route, record.status) == (
        "log-1",
        "POST",
        "/predict",
        400,
    )
    assert record.latency_ms >= 0
