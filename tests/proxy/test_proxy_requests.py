"""Bad requests the proxy answers by itself, before any gRPC call: status and JSON body."""

import json

import pytest

FLOWER = {"sepal_length": 6.8, "sepal_width": 3.2, "petal_length": 5.9, "petal_width": 2.3}


def error_of(body: dict) -> tuple[str, str]:
    assert set(body) == {"error"}
    return body["error"]["code"], body["error"]["message"]


@pytest.fixture
async def client(proxy_client):
    return await proxy_client()


async def test_malformed_json_is_400(client):
    """A JSON body that does not parse is 400 INVALID_ARGUMENT."""
    response = await client.post(
        "/", data='{"sepal_length": 6.8,', headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    code, message = error_of(await response.json())
    assert code == "INVALID_ARGUMENT"
    assert message.startswith("malformed JSON")


async def test_deeply_nested_json_is_400(client):
    """JSON nested too deep for the parser is a client mistake (400), not a crash."""
    body = "[" * 100_000 + "]" * 100_000
    response = await client.post("/predict", data=body, headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert error_of(await response.json())[1].startswith("malformed JSON")


async def test_non_numeric_form_field_is_400_naming_field(client):
    """A form field that is not a number is 400 naming the field and the value."""
    response = await client.post("/", data={**FLOWER, "petal_width": "wide"})
    assert response.status == 400
    assert error_of(await response.json()) == (
        "INVALID_ARGUMENT",
        'field "petal_width" must be a number, got "wide"',
    )


@pytest.mark.parametrize(
    ("send", "shown"),
    [
        ({"data": {**FLOWER, "sepal_length": "1e39"}}, "1e+39"),
        ({"data": {**FLOWER, "sepal_length": "-inf"}}, "-inf"),
        ({"json": {**FLOWER, "sepal_length": 3.5e38}}, "3.5e+38"),
        ({"json": {**FLOWER, "sepal_length": 10**400}}, "1000000000"),
    ],
    ids=["form-1e39", "form-inf", "json-3.5e38", "json-huge-int"],
)
async def test_number_beyond_float32_is_400_naming_field(client, send, shown):
    """A number a 32-bit float cannot hold (the wire type) is 400 naming the field and value."""
    response = await client.post("/", **send)
    assert response.status == 400
    message = error_of(await response.json())[1]
    assert message.startswith('field "sepal_length" is out of range for a 32-bit float, got ')
    assert shown in message


async def test_largest_float32_passes_the_proxy(client):
    """The largest finite 32-bit float is not turned away by the proxy (it reaches the upstream)."""
    response = await client.post("/", json={**FLOWER, "sepal_length": 3.4028234663852886e38})
    assert response.status == 503  # the test's upstream refuses connections


@pytest.mark.parametrize("value", ["6.8", True, None, [6.8], {"cm": 6.8}])
async def test_non_numeric_json_field_is_400_naming_field(client, value):
    """A JSON field that is not a number (strings and booleans included) is 400 naming the field."""
    response = await client.post("/", json={**FLOWER, "sepal_length": value})
    assert response.status == 400
    assert error_of(await response.json())[1].startswith('field "sepal_length" must be a number, got ')


async def test_missing_form_field_is_400_naming_field(client):
    """A form without one of the four fields is 400 naming it."""
    response = await client.post("/", data={k: v for k, v in FLOWER.items() if k != "petal_length"})
    assert response.status == 400
    assert error_of(await response.json()) == ("INVALID_ARGUMENT", 'missing field "petal_length"')


async def test_missing_json_field_is_400_naming_field(client):
    """A JSON object without one of the four fields is 400 naming it."""
    response = await client.post("/", json={k: v for k, v in FLOWER.items() if k != "sepal_width"})
    assert response.status == 400
    assert error_of(await response.json()) == ("INVALID_ARGUMENT", 'missing field "sepal_width"')


async def test_repeated_form_field_is_400(client):
    """A form field given twice is ambiguous: 400 naming it."""
    body = "sepal_length=1&sepal_length=2&sepal_width=3&petal_length=4&petal_width=5"
    response = await client.post(
        "/", data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status == 400
    assert 'field "sepal_length" is given 2 times' in error_of(await response.json())[1]


async def test_json_array_on_single_route_is_400(client):
    """POST / wants one JSON object; an array is 400 saying so."""
    response = await client.post("/", json=[FLOWER])
    assert response.status == 400
    assert error_of(await response.json())[1].startswith("expected a JSON object with fields sepal_length")


async def test_malformed_multipart_is_400(client):
    """A multipart body without a boundary is 400, not a crash."""
    response = await client.post("/", data=b"x", headers={"Content-Type": "multipart/form-data"})
    assert response.status == 400
    assert error_of(await response.json())[1].startswith("malformed form body")


async def test_multipart_part_with_bad_header_is_400(client):
    """A multipart part whose header holds control characters is 400, not a 500."""
    body = b'--b\r\nContent-Disposition: form-data; name="a\x12"\r\n\r\n1\r\n--b--\r\n'
    response = await client.post("/", data=body, headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert response.status == 400
    assert error_of(await response.json())[1].startswith("malformed form body")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([FLOWER, {**FLOWER, "petal_width": "x"}], 'row 1: field "petal_width" must be a number, got "x"'),
        (
            {"instances": [[1, 2, 3, 4], [1, 2, "3", 4]]},
            'row 1: field "petal_length" must be a number, got "3"',
        ),
        ({"instances": [[1, 2, 3, 4], [1, 2, 3]]}, "row 1: expected 4 numbers"),
        ([FLOWER, FLOWER, {"sepal_length": 1}], 'row 2: missing field "sepal_width"'),
        ([FLOWER, "flower"], "row 1: expected an object with fields sepal_length"),
        ({"rows": [FLOWER]}, 'expected a JSON array of rows or {"instances": [rows]}, got an object'),
        ({"instances": FLOWER}, 'expected a JSON array of rows or {"instances": [rows]}, got an object'),
        (7, 'expected a JSON array of rows or {"instances": [rows]}, got a number'),
    ],
)
async def test_bad_batch_is_400_naming_row_and_field(client, rows, message):
    """A bad batch row is 400 naming the row (from 0) and the field."""
    response = await client.post("/predict", json=rows)
    assert response.status == 400
    code, text = error_of(await response.json())
    assert code == "INVALID_ARGUMENT"
    assert text.startswith(message)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/", "text/plain"), ("/", "application/xml"), ("/predict", "application/x-www-form-urlencoded")],
)
async def test_unsupported_content_type_is_415(client, path, content_type):
    """A content type the route does not read is 415, naming the type."""
    response = await client.post(path, data=b"sepal_length=1", headers={"Content-Type": content_type})
    assert response.status == 415
    code, message = error_of(await response.json())
    assert code == "INVALID_ARGUMENT"
    assert f"unsupported content type {content_type!r}" in message


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/", "application/x-www-form-urlencoded"), ("/", "application/json"), ("/predict", "application/json")],
)
async def test_body_over_limit_is_413(proxy_client, path, content_type):
    """A body larger than --max-body-bytes is 413 RESOURCE_EXHAUSTED."""
    client = await proxy_client(max_body_bytes=1024)
    response = await client.post(path, data=b"1" * 2048, headers={"Content-Type": content_type})
    assert response.status == 413
    code, message = error_of(await response.json())
    assert code == "RESOURCE_EXHAUSTED"
    assert "1024" in message


async def test_unknown_path_is_404_json(client):
    """An unknown path is 404 with the JSON error body."""
    response = await client.get("/no/such/path")
    assert response.status == 404
    assert error_of(await response.json()) == ("NOT_FOUND", "no such path: /no/such/path")


@pytest.mark.parametrize(("method", "path", "allowed"), [("GET", "/", "POST"), ("PUT", "/predict", "POST")])
async def test_wrong_method_is_405_json(client, method, path, allowed):
    """A method a path does not allow is 405 JSON with the Allow header."""
    response = await client.request(method, path)
    assert response.status == 405
    assert response.headers["Allow"] == allowed
    code, message = error_of(await response.json())
    assert code == "UNIMPLEMENTED"
    assert f"allowed: {allowed}" in message


async def test_upstream_down_is_503_before_the_deadline(proxy_client):
    """With no server listening, a valid request is 503 UNAVAILABLE (not a 504 at the deadline)."""
    client = await proxy_client(deadline_seconds=5.0)
    response = await client.post("/", data=FLOWER)
    assert response.status == 503
    assert error_of(await response.json())[0] == "UNAVAILABLE"


async def test_readyz_with_upstream_down_is_503_json(client):
    """/readyz is 503 JSON when the server cannot be reached."""
    response = await client.get("/readyz")
    assert response.status == 503
    assert error_of(await response.json())[0] == "UNAVAILABLE"


async def test_healthz_answers_without_upstream(client):
    """/healthz says the proxy is up even with no server."""
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_openapi_document_is_served_as_json(client):
    """GET /openapi.json returns the OpenAPI document."""
    response = await client.get("/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    assert json.loads(await response.text())["openapi"].startswith("3.1")
