"""Hostile input through the proxy app, in front of a real `python -m server`, property-based.

Any body with any content type on the prediction routes (iris POST / and /predict, KServe V2
infer) gets a 2xx or a 4xx with a JSON error message, never a 5xx; and after each hostile
request the tutorial's flower still gets its known answer from the same app and server.
"""

import json
import urllib.parse

import hypothesis
from hypothesis import strategies as st

from tests.support.rest_load import FLOWER, FLOWER_SPECIES

HOSTILE = hypothesis.settings(
    max_examples=100,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture, hypothesis.HealthCheck.too_slow],
)
IRIS_PATHS = ("/", "/predict")
V2_INFER_PATH = "/v2/models/iris/infer"
FEATURE_NAMES = tuple(FLOWER)
CONTENT_TYPES = (
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=XyZ",
    "multipart/form-data",
    "text/plain",
    "application/octet-stream",
    "application/json; charset=latin-1",
)

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=10,
)
near_flowers = st.dictionaries(st.sampled_from(FEATURE_NAMES), json_values | st.floats(width=32), max_size=5)
near_batches = st.lists(
    near_flowers | st.lists(st.floats(width=32) | scalars, min_size=3, max_size=5), max_size=4
)
form_bodies = st.lists(
    st.tuples(st.sampled_from(FEATURE_NAMES) | st.text(max_size=8), st.text(max_size=12)), max_size=6
).map(lambda fields: urllib.parse.urlencode(fields).encode())
multipart_bodies = st.lists(
    st.tuples(st.sampled_from(FEATURE_NAMES) | st.text(max_size=8), st.binary(max_size=12)), max_size=4
).map(
    lambda parts: (
        b"".join(
            b'--XyZ\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (name.encode(), value)
            for name, value in parts
        )
        + b"--XyZ--\r\n"
    )
)
v2_bodies = st.fixed_dictionaries(
    {
        "inputs": st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.sampled_from(["input", "x"]) | st.text(max_size=5),
                    "datatype": st.sampled_from(["FP32", "FP64", "INT64", "BYTES", "BOOL"])
                    | st.text(max_size=5),
                    "shape": st.lists(st.integers(min_value=-2, max_value=5) | st.integers(), max_size=3),
                    "data": json_values | st.lists(st.floats(width=32), max_size=8),
                }
            ),
            max_size=2,
        )
    },
    optional={"outputs": json_values, "parameters": json_values, "id": json_values},
)
# Well-formed requests with any finite float32 values: answered, or refused as too large for the model.
finite_float32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
flowers = st.fixed_dictionaries({name: finite_float32 for name in FEATURE_NAMES})
flower_rows = st.lists(st.lists(finite_float32, min_size=4, max_size=4), max_size=5)
v2_requests = flower_rows.map(
    lambda rows: {
        "inputs": [
            {
                "name": "input",
                "datatype": "FP32",
                "shape": [len(rows), 4],
                "data": [v for row in rows for v in row],
            }
        ]
    }
)
json_bodies = (
    json_values
    | near_flowers
    | near_batches.map(lambda rows: {"instances": rows})
    | v2_bodies
    | flowers
    | flower_rows.map(lambda rows: {"instances": rows})
    | v2_requests
).map(lambda value: json.dumps(value).encode())
v2_json_requests = (v2_requests | v2_bodies).map(lambda value: json.dumps(value).encode())
# (Content-Type, body): mostly a body of the type it claims, so the parsers behind it are reached.
typed_bodies = (
    st.tuples(st.just("application/json"), json_bodies | st.binary(max_size=32))
    | st.tuples(st.just("application/x-www-form-urlencoded"), form_bodies | st.binary(max_size=32))
    | st.tuples(st.just("multipart/form-data; boundary=XyZ"), multipart_bodies | st.binary(max_size=32))
    | st.tuples(st.sampled_from(CONTENT_TYPES) | st.text(max_size=30), json_bodies | st.binary(max_size=64))
)


async def known_flower_answer(client) -> str:
    response = await client.post("/", json=FLOWER)
    assert response.status == 200
    return (await response.json())["species"]


async def assert_client_error_or_answer(response, path: str) -> None:
    """A 2xx, or a 4xx whose JSON body carries a message (in the API's own error shape)."""
    text = await response.text()
    assert response.status < 500, f"{response.status} {text}"
    if response.status < 400:
        return
    error = json.loads(text)["error"]
    message = error if path.startswith("/v2") else error["message"]
    assert isinstance(message, str)
    assert message.strip()


async def post_then_check_the_known_flower(
    proxy_client, iris_server, path: str, content_type: str, body: bytes
):
    client = await proxy_client(upstream=iris_server.target)
    try:
        headers = {"Content-Type": content_type} if content_type.isprintable() else {}
        response = await client.post(path, data=body, headers=headers)
        await assert_client_error_or_answer(response, path)
        assert await known_flower_answer(client) == FLOWER_SPECIES
    finally:
        await client.close()


@HOSTILE
@hypothesis.given(path=st.sampled_from(IRIS_PATHS), typed_body=typed_bodies)
async def test_any_iris_body_gets_an_answer_or_a_4xx_and_the_next_request_is_unchanged(
    proxy_client, iris_server, path, typed_body
):
    await post_then_check_the_known_flower(proxy_client, iris_server, path, *typed_body)


@HOSTILE
@hypothesis.given(typed_body=st.tuples(st.just("application/json"), v2_json_requests) | typed_bodies)
async def test_any_v2_infer_body_gets_an_answer_or_a_4xx_and_the_next_request_is_unchanged(
    proxy_client, iris_server, typed_body
):
    await post_then_check_the_known_flower(proxy_client, iris_server, V2_INFER_PATH, *typed_body)
