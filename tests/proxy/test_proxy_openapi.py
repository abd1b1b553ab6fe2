"""The OpenAPI document: valid, covering every route, and describing the answers the proxy gives."""

import json

import grpc
import pytest
from openapi_spec_validator import validate

from common.names import FEATURE_NAMES, MODEL_NAME_PATTERN
from proxy.app import make_app
from proxy.config import Settings
from proxy.docs_page import ASSETS_PATH
from proxy.errors import RETRY_LATER_STATUSES
from proxy.openapi import openapi_document
from proxy.parsing import FLOAT32_MAX
from proxy.v2_codec import HEADER_LENGTH
from proxy.v2_parameters import INT64_RANGE, UINT64_MAX

FLOWER = {"sepal_length": 6.8, "sepal_width": 3.2, "petal_length": 5.9, "petal_width": 2.3}


def test_document_is_valid_openapi():
    """openapi-spec-validator accepts the document."""
    validate(openapi_document(Settings()))


def routes_of(app) -> set[tuple[str, str]]:
    """(method, path template) of every route of the app and of its sub-apps (/v2)."""
    return {(route.method.lower(), route.resource.canonical) for route in app.router.routes()}


def operations_of(document: dict) -> set[tuple[str, str]]:
    return {(method, path) for path, item in document["paths"].items() for method in item}


def test_document_lists_exactly_the_app_routes():
    """Every route of the app is an operation of the document, and every operation is routed
    (but for the /docs page's static files, which are no part of the API)."""
    settings = Settings()
    routed = routes_of(make_app(settings))
    assert ("get", "/v2/models/{name}") in routed  # the /v2 sub-app's routes are seen too
    assert ("get", ASSETS_PATH) in routed
    routed.remove(("get", ASSETS_PATH))
    documented = operations_of(openapi_document(settings))
    assert routed - documented == set(), "routes without an operation in proxy/openapi.json"
    assert documented - routed == set(), "operations in proxy/openapi.json without a route"


def test_body_limit_is_filled_in_from_the_settings():
    """The 413 responses of both APIs state the configured body limit."""
    responses = openapi_document(Settings(max_body_bytes=12345))["components"]["responses"]
    assert "12345 bytes" in responses["PayloadTooLarge"]["description"]
    assert "12345 bytes" in responses["V2PayloadTooLarge"]["description"]


def test_document_states_the_limits_the_proxy_enforces():
    """The document's field names, number ranges, error codes and binary header are the code's."""
    document = openapi_document(Settings())
    schemas = document["components"]["schemas"]
    assert schemas["Features"]["required"] == list(FEATURE_NAMES)
    assert list(schemas["Features"]["properties"]) == list(FEATURE_NAMES)
    assert schemas["FeatureArray"]["minItems"] == schemas["FeatureArray"]["maxItems"] == len(FEATURE_NAMES)
    float32_ranges = [
        *schemas["Features"]["properties"].values(),
        schemas["FeatureArray"]["items"],
        schemas["V2InferInput"]["properties"]["data"]["items"]["anyOf"][0],
    ]
    assert {(value["minimum"], value["maximum"]) for value in float32_ranges} == {(-FLOAT32_MAX, FLOAT32_MAX)}
    integer = schemas["V2ParameterValue"]["anyOf"][1]
    assert (integer["minimum"], integer["maximum"]) == (INT64_RANGE[0], UINT64_MAX)
    codes = schemas["Error"]["properties"]["error"]["properties"]["code"]["enum"]
    assert codes == [code.name for code in grpc.StatusCode if code is not grpc.StatusCode.OK]
    infer_reply = document["paths"]["/v2/models/{name}/infer"]["post"]["responses"]["200"]
    assert HEADER_LENGTH in infer_reply["headers"]


def test_model_names_are_documented_as_the_server_takes_them():
    """Every {name} path parameter has the pattern of common/names.py (the server refuses others, 400)."""
    document = openapi_document(Settings())
    patterns = {
        parameter["schema"]["pattern"]
        for item in document["paths"].values()
        for operation in item.values()
        for parameter in operation["parameters"]
        if parameter.get("name") == "name"
    }
    assert patterns == {f"^{MODEL_NAME_PATTERN.pattern}$"}


def test_retry_after_is_documented_where_the_proxy_sends_it():
    """Every 429 and 503 the proxy sends carries Retry-After (proxy/errors.py): both APIs say so."""
    document = openapi_document(Settings())
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
        ("POST", "/v2/repository/index", {"json": []}, 400),
        ("POST", "/v2/repository/index", {}, 503),
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
