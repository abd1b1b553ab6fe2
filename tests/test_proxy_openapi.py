"""The OpenAPI document: valid, covering every route, and describing the answers the proxy gives."""

import json

import pytest
from openapi_spec_validator import validate

from proxy.app import make_app
from proxy.config import Settings
from proxy.errors import RETRY_LATER_STATUSES
from proxy.openapi import openapi_document

FLOWER = {"sepal_length": 6.8, "sepal_width": 3.2, "petal_length": 5.9, "petal_width": 2.3}


def test_document_is_valid_openapi():
    """openapi-spec-validator accepts the document."""
    validate(openapi_document(max_body_bytes=1024 * 1024))


def test_document_lists_exactly_the_app_routes():
    """Every route of the app is documented, and every documented operation is routed."""
    app = make_app(Settings())
    routed = {(route.method.lower(), route.resource.canonical) for route in app.router.routes()}
    documented = {(method, path) for path, item in openapi_document(1024)["paths"].items() for method in item}
    assert routed == documented


def test_body_limit_is_documented():
    """The 413 response states the configured body limit."""
    responses = openapi_document(max_body_bytes=12345)["components"]["responses"]
    assert "12345 bytes" in responses["PayloadTooLarge"]["description"]


def test_retry_after_is_documented_where_the_proxy_sends_it():
    """Every 429 and 503 the proxy sends carries Retry-After (proxy/errors.py): both APIs say so."""
    document = openapi_document(1024)
    responses = document["components"]["responses"]
    retry_later = {"429": ("TooManyRequests", "V2TooManyRequests"), "503": ("Unavailable", "V2Unavailable")}
    assert set(retry_later) == {str(status) for status in RETRY_LATER_STATUSES}
    for names in retry_later.values():
        for name in names:
            assert responses[name]["headers"]["Retry-After"] == {"$ref": "#/components/headers/RetryAfter"}
    assert document["components"]["headers"]["RetryAfter"]["schema"]["type"] == "integer"
    others = {n for n in responses if n not in {n for names in retry_later.values() for n in names}}
    assert all("Retry-After" not in responses[name]["headers"] for name in others)


@pytest.fixture
async def client_and_document(proxy_client):
    client = await proxy_client(max_body_bytes=1024)
    document = json.loads(await (await client.get("/openapi.json")).text())
    return client, document


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("POST", "/", {"data": "{", "headers": {"Content-Type": "application/json"}}, 400),
        ("POST", "/", {"data": {"sepal_length": "x"}}, 400),
        ("POST", "/", {"data": "x", "headers": {"Content-Type": "text/plain"}}, 415),
        ("POST", "/", {"data": "1" * 2048, "headers": {"Content-Type": "application/json"}}, 413),
        ("POST", "/", {"data": FLOWER}, 503),
        ("POST", "/predict", {"json": [{"sepal_length": 1}]}, 400),
        ("POST", "/predict", {"data": "x", "headers": {"Content-Type": "text/plain"}}, 415),
        ("POST", "/predict", {"json": {"instances": [[1, 2, 3, 4]]}}, 503),
        ("GET", "/healthz", {}, 200),
        ("GET", "/readyz", {}, 503),
        ("GET", "/openapi.json", {}, 200),
    ],
)
async def test_responses_without_server_conform(
    client_and_document, assert_conforms, method, path, kwargs, status
):
    """Answers the proxy gives without a server match the documented status, headers and schema."""
    client, document = client_and_document
    response = await client.request(method, path, **kwargs)
    assert response.status == status
    assert_conforms(document, method, path, status, response.headers, await response.json())


@pytest.mark.parametrize(("method", "path", "status"), [("GET", "/nowhere", 404), ("GET", "/predict", 405)])
async def test_routing_errors_use_the_error_schema(
    client_and_document, assert_conforms, method, path, status
):
    """404 and 405, which no operation lists, still answer with the documented Error schema."""
    client, document = client_and_document
    response = await client.request(method, path)
    assert response.status == status
    error_only = {
        "paths": {path: {"get": {"responses": {"default": {"$ref": "#/components/responses/OtherError"}}}}}
    }
    assert_conforms({**document, **error_only}, method, path, status, response.headers, await response.json())
