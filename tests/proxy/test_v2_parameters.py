"""KServe V2 parameters through the proxy: each JSON value becomes the InferParameter field of its
kind, at the request, input and output level alike (checked against a fake server that keeps what
it is sent), values with no such field are 400 naming the parameter, and a reply's parameters come
back as the same JSON values."""

import json

import pytest

from inference_pb import grpc_predict_v2_pb2 as pb
from tests.support.fake_v2_server import running_fake_v2_server

INFER = "/v2/models/iris/infer"
INPUT = {"name": "input", "datatype": "FP32", "shape": [1, 4], "data": [6.8, 3.2, 5.9, 2.3]}
OUTPUT = {"name": "label"}
LEVELS = ["request", "input", "output"]


@pytest.fixture
async def fake_server():
    async with running_fake_v2_server() as server:
        yield server


@pytest.fixture
async def http(proxy_client, fake_server):
    """The proxy app in process, in front of the fake server."""
    return await proxy_client(upstream=fake_server.target)


def body_with(level: str, parameters: dict) -> dict:
    """An infer body whose request, input or output carries `parameters`."""
    body = {"inputs": [dict(INPUT)], "outputs": [dict(OUTPUT)]}
    owner = {"request": body, "input": body["inputs"][0], "output": body["outputs"][0]}[level]
    owner["parameters"] = parameters
    return body


def sent_parameters(request: pb.ModelInferRequest, level: str):
    return {"request": request, "input": request.inputs[0], "output": request.outputs[0]}[level].parameters


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, pb.InferParameter(bool_param=True)),
        (False, pb.InferParameter(bool_param=False)),
        (7, pb.InferParameter(int64_param=7)),
        (-(2**63), pb.InferParameter(int64_param=-(2**63))),
        (2**63 - 1, pb.InferParameter(int64_param=2**63 - 1)),
        (2**63, pb.InferParameter(uint64_param=2**63)),
        (2**64 - 1, pb.InferParameter(uint64_param=2**64 - 1)),
        (0.7, pb.InferParameter(double_param=0.7)),
        (2.0, pb.InferParameter(double_param=2.0)),
        (-1e30, pb.InferParameter(double_param=-1e30)),
        ("warm", pb.InferParameter(string_param="warm")),
        ("", pb.InferParameter(string_param="")),
    ],
    ids=[
        "true",
        "false",
        "int64",
        "int64-min",
        "int64-max",
        "uint64-above-int64",
        "uint64-max",
        "double",
        "double-whole",
        "double-exponent",
        "string",
        "empty-string",
    ],
)
async def test_each_json_value_becomes_the_parameter_of_its_kind(http, fake_server, level, value, expected):
    response = await http.post(INFER, json=body_with(level, {"temperature": value}))
    assert response.status == 200, await response.text()
    [request] = fake_server.servicer.requests
    assert dict(sent_parameters(request, level)) == {"temperature": expected}


@pytest.mark.parametrize(
    ("level", "where"), list(zip(LEVELS, ["", "inputs[0].", "outputs[0]."], strict=True))
)
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("null", "must be a boolean, a number or a string, got null"),
        ("[0.7]", "must be a boolean, a number or a string, got an array"),
        ('{"value": 0.7}', "must be a boolean, a number or a string, got an object"),
        (str(2**64), "is an integer out of range; integer parameters take -2**63 to 2**64 - 1"),
        (str(-(2**63) - 1), "is an integer out of range"),
        ("NaN", "must be a finite number, got nan"),
        ("-Infinity", "must be a finite number, got -inf"),
    ],
    ids=["null", "array", "object", "above-uint64", "below-int64", "nan", "infinity"],
)
async def test_values_without_a_parameter_field_are_400_naming_it(
    http, fake_server, level, where, text, message
):
    # The value goes in as JSON text: json.dumps would write NaN, but not a marker to swap for it.
    body = json.dumps(body_with(level, {"temperature": "VALUE"})).replace('"VALUE"', text)
    response = await http.post(INFER, data=body, headers={"Content-Type": "application/json"})
    assert response.status == 400
    reply = await response.json()
    assert list(reply) == ["error"]
    assert reply["error"].startswith(f"{where}parameters.temperature {message}")
    assert fake_server.servicer.requests == []


async def test_binary_data_parameters_keep_their_meaning_and_are_not_sent_on(http, fake_server):
    body = {
        "parameters": {"binary_data_output": False, "priority": 1},
        "inputs": [{**INPUT, "parameters": {"note": "x"}}],
        "outputs": [{"name": "label", "parameters": {"binary_data": False, "top": 0.5}}],
    }
    response = await http.post(INFER, json=body)
    assert response.status == 200
    [request] = fake_server.servicer.requests
    assert dict(request.parameters) == {"priority": pb.InferParameter(int64_param=1)}
    assert dict(request.inputs[0].parameters) == {"note": pb.InferParameter(string_param="x")}
    assert dict(request.outputs[0].parameters) == {"top": pb.InferParameter(double_param=0.5)}


REPLY_PARAMETERS = {
    "flag": pb.InferParameter(bool_param=True),
    "count": pb.InferParameter(int64_param=-3),
    "big": pb.InferParameter(uint64_param=2**64 - 1),
    "score": pb.InferParameter(double_param=0.25),
    "note": pb.InferParameter(string_param="ok"),
}
REPLY_JSON = {"flag": True, "count": -3, "big": 2**64 - 1, "score": 0.25, "note": "ok"}


async def test_reply_parameters_come_back_as_the_same_json_values(http, fake_server):
    label = pb.ModelInferResponse.InferOutputTensor(
        name="label",
        datatype="INT64",
        shape=[1],
        contents=pb.InferTensorContents(int64_contents=[2]),
        parameters=REPLY_PARAMETERS,
    )
    fake_server.servicer.infer_reply = pb.ModelInferResponse(
        model_name="iris", model_version="1", outputs=[label], parameters=REPLY_PARAMETERS
    )
    response = await http.post(INFER, json={"inputs": [INPUT]})
    assert response.status == 200
    reply = await response.json()
    assert reply["parameters"] == REPLY_JSON
    assert reply["outputs"] == [
        {"name": "label", "datatype": "INT64", "shape": [1], "data": [2], "parameters": REPLY_JSON}
    ]
