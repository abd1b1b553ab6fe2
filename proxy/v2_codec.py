"""KServe V2 REST inference bodies to and from gRPC ModelInfer messages, with the binary tensor
data extension that tritonclient's HTTP client uses by default.

Request: a JSON object, optionally followed by binary tensor data. Then the header
`Inference-Header-Content-Length` gives the JSON part's length in bytes, and each binary input
gives its byte count as `parameters.binary_data_size`, in the order of `inputs`. JSON `data` may
be flat or nested (row-major). Binary inputs travel as raw_input_contents and JSON ones as typed
contents, so the server answers raw or typed in kind; every input must come one way.

Reply: each output as JSON `data`, or as binary after the JSON part (its byte count in
`parameters.binary_data_size`, the JSON part's length in the same header) when the request asks:
`parameters.binary_data_output` for every output, an output's own `parameters.binary_data` for it.
Every other parameter, of the request, an input or an output, travels as an InferParameter and
comes back from the reply the same way (proxy/v2_parameters.py).

Only what a faithful translation needs is checked here (structure, types, byte counts); whether
a tensor suits the model is the server's call. Mistakes raise RequestError (400) naming the field.
"""

import dataclasses
import json
import math
import struct
from collections.abc import Mapping
from typing import Any, NamedTuple

from inference_pb import grpc_predict_v2_pb2 as pb
from proxy.errors import RequestError
from proxy.parsing import FLOAT32_MAX, json_kind
from proxy.replies import json_text
from proxy.v2_parameters import INT64_RANGE, parameters_json, put_parameters

HEADER_LENGTH = "Inference-Header-Content-Length"
# V2 datatype -> (struct code of one element or None, InferTensorContents field or None, JSON kind).
# The proxy image has no numpy: binary data is packed and unpacked with struct, little-endian.
DATATYPES: dict[str, tuple[str | None, str | None, str]] = {
    "BOOL": ("?", "bool_contents", "bool"),
    "UINT8": ("B", "uint_contents", "int"),
    "UINT16": ("H", "uint_contents", "int"),
    "UINT32": ("I", "uint_contents", "int"),
    "UINT64": ("Q", "uint64_contents", "int"),
    "INT8": ("b", "int_contents", "int"),
    "INT16": ("h", "int_contents", "int"),
    "INT32": ("i", "int_contents", "int"),
    "INT64": ("q", "int64_contents", "int"),
    "FP16": ("e", None, "number"),  # no typed field: binary only
    "FP32": ("f", "fp32_contents", "number"),
    "FP64": ("d", "fp64_contents", "number"),
    "BYTES": (None, "bytes_contents", "string"),  # length-prefixed elements: not translated back
}


@dataclasses.dataclass(frozen=True)
class BinaryOutputs:
    """Which outputs the reply carries as binary data rather than JSON `data`."""

    default: bool = False  # the request's parameters.binary_data_output
    chosen: dict[str, bool] = dataclasses.field(default_factory=dict)  # an output's own binary_data

    def wanted(self, name: str) -> bool:
        return self.chosen.get(name, self.default)


class InferCall(NamedTuple):
    message: pb.ModelInferRequest
    binary_outputs: BinaryOutputs


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RequestError(f"{where} must be a JSON object, got {json_kind(value)}")
    return value


def _string(body: Mapping[str, Any], key: str, where: str, required: bool = True) -> str:
    if key not in body and not required:
        return ""
    value = body.get(key)
    if not isinstance(value, str):
        raise RequestError(
            f"{where}.{key} must be a string, got {json_kind(value) if key in body else 'nothing'}"
        )
    return value


def _whole(value: Any) -> int | None:
    """A JSON whole number (JSON Schema counts 3.0 as an integer too) as an int, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return None
    return int(value)


def _parameters(body: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The `parameters` object of `body` (empty if absent); `where` names it in messages."""
    return dict(_object(body.get("parameters", {}), where))


def split_body(body: bytes, header_length: str | None) -> tuple[Any, bytes]:
    """The JSON part of a request body (parsed) and the binary data after it."""
    size = len(body)
    if header_length is not None:
        if not (header_length.isascii() and header_length.isdigit()) or int(header_length) > size:
            raise RequestError(
                f"{HEADER_LENGTH} must be the byte length of the JSON part (0 to {size}), "
                f"got {header_length!r}"
            )
        size = int(header_length)
    return parse_json(body[:size]), body[size:]


def parse_json(text: bytes) -> Any:
    """A JSON body, parsed; RequestError (400) if it is not JSON."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:  # includes bad UTF-8 and nesting too deep
        raise RequestError(f"malformed JSON: {error}") from None


def _flat(data: Any) -> list[Any]:
    """Nested JSON arrays flattened row-major; a lone value as a list of one."""
    values = data if isinstance(data, list) else [data]
    while any(isinstance(value, list) for value in values):
        values = [item for value in values for item in (value if isinstance(value, list) else [value])]
    return values


def _as_float(value: int | float, datatype: str) -> float | None:
    """The number as its float datatype holds it; None if out of its range (NaN and infinity pass)."""
    try:
        number = float(value)
    except OverflowError:  # an integer beyond even a 64-bit float
        return None
    too_large = datatype == "FP32" and math.isfinite(number) and abs(number) > FLOAT32_MAX
    return None if too_large else number


def _json_values(values: list[Any], datatype: str, where: str) -> list[Any]:
    """The values as their contents field takes them; RequestError names the first that does not fit."""
    kind = DATATYPES[datatype][2]
    fits = {
        "bool": lambda v: isinstance(v, bool),
        "int": lambda v: _whole(v) is not None,
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "string": lambda v: isinstance(v, str),
    }[kind]
    for index, value in enumerate(values):
        if not fits(value):
            raise RequestError(f"{where}.data[{index}] must be {kind} for {datatype}, got {json_kind(value)}")
        if kind == "number" and _as_float(value, datatype) is None:
            raise RequestError(f"{where}.data[{index}] is out of range for {datatype}, got {value!r}")
    converters = {"int": int, "number": float, "string": str.encode}
    return [converters[kind](value) for value in values] if kind in converters else values


def _put_json_data(tensor: pb.ModelInferRequest.InferInputTensor, data: Any, where: str) -> None:
    field = DATATYPES[tensor.datatype][1]
    if field is None:
        raise RequestError(f"{where}: {tensor.datatype} data must be sent as binary data")
    try:
        getattr(tensor.contents, field).extend(_json_values(_flat(data), tensor.datatype, where))
    except (TypeError, ValueError) as error:  # e.g. an integer out of its field's range
        raise RequestError(f"{where}.data: {error}") from None


def _input(item: Any, where: str) -> tuple[pb.ModelInferRequest.InferInputTensor, int | None]:
    """One input tensor (without data if binary) and its binary byte count, or None for JSON data."""
    body = _object(item, where)
    shape = [_whole(d) for d in body["shape"]] if isinstance(body.get("shape"), list) else None
    if shape is None or not all(d is not None and 0 <= d <= INT64_RANGE[1] for d in shape):
        raise RequestError(f"{where}.shape must be an array of whole numbers, 0 or more")
    datatype = _string(body, "datatype", where)
    if datatype not in DATATYPES:
        raise RequestError(f"{where}.datatype {datatype!r} is not one of {', '.join(DATATYPES)}")
    tensor = pb.ModelInferRequest.InferInputTensor(
        name=_string(body, "name", where), datatype=datatype, shape=shape
    )
    parameters = _parameters(body, f"{where}.parameters")
    given_size = parameters.pop("binary_data_size", None)
    put_parameters(tensor.parameters, parameters, f"{where}.parameters")
    if given_size is not None:
        size = _whole(given_size)
        if size is None or size < 0:
            raise RequestError(f"{where}.parameters.binary_data_size must be a whole number of bytes")
        if "data" in body:
            raise RequestError(f"{where} has data and parameters.binary_data_size; send one")
        return tensor, size
    if "data" not in body:
        raise RequestError(f"{where} has no data and no parameters.binary_data_size")
    _put_json_data(tensor, body["data"], where)
    return tensor, None


def _outputs(request: pb.ModelInferRequest, items: Any, default: bool) -> BinaryOutputs:
    if not isinstance(items, list):
        raise RequestError(f"outputs must be an array, got {json_kind(items)}")
    chosen = {}
    for index, item in enumerate(items):
        where = f"outputs[{index}]"
        output = request.outputs.add(name=_string(_object(item, where), "name", where))
        parameters = _parameters(item, f"{where}.parameters")
        binary = parameters.pop("binary_data", None)
        if binary is not None:
            if not isinstance(binary, bool):
                raise RequestError(
                    f"{where}.parameters.binary_data must be a boolean, got {json_kind(binary)}"
                )
            chosen[output.name] = binary
        put_parameters(output.parameters, parameters, f"{where}.parameters")
    return BinaryOutputs(default, chosen)


def infer_request(model_name: str, model_version: str, body: bytes, header_length: str | None) -> InferCall:
    """The ModelInfer request for a REST inference body, and how the reply should carry outputs."""
    try:
        return _infer_request(model_name, model_version, body, header_length)
    except UnicodeEncodeError as error:  # JSON may escape lone surrogates; protobuf strings take none
        bad = error.object[error.start : error.end]
        raise RequestError(
            f"a string in the request is not valid Unicode: {bad!r} ({error.reason})"
        ) from None


def _infer_request(model_name: str, model_version: str, body: bytes, header_length: str | None) -> InferCall:
    header, binary = split_body(body, header_length)
    header = _object(header, "the request")
    request = pb.ModelInferRequest(
        model_name=model_name,
        model_version=model_version,
        id=_string(header, "id", "request", required=False),
    )
    parameters = _parameters(header, "parameters")
    binary_output = parameters.pop("binary_data_output", False)
    if not isinstance(binary_output, bool):
        raise RequestError(f"parameters.binary_data_output must be a boolean, got {json_kind(binary_output)}")
    put_parameters(request.parameters, parameters, "parameters")
    inputs = header.get("inputs")
    if not isinstance(inputs, list):
        raise RequestError(f"inputs must be an array of tensors, got {json_kind(inputs)}")
    offset = 0
    for index, item in enumerate(inputs):
        tensor, size = _input(item, f"inputs[{index}]")
        request.inputs.append(tensor)
        if size is None:
            continue
        if offset + size > len(binary):
            raise RequestError(
                f"inputs[{index}] has binary_data_size {size}, but only {len(binary) - offset} bytes "
                f"of binary data are left after {HEADER_LENGTH}"
            )
        request.raw_input_contents.append(binary[offset : offset + size])
        offset += size
    if request.raw_input_contents and len(request.raw_input_contents) != len(inputs):
        raise RequestError("some inputs have binary data and some JSON data; send every input one way")
    if offset != len(binary):
        raise RequestError(
            f"the body has {len(binary)} bytes after the JSON part, but the inputs' binary_data_size "
            f"add up to {offset}"
        )
    outputs = _outputs(request, header.get("outputs", []), binary_output)
    return InferCall(request, outputs)


def _output_data(response: pb.ModelInferResponse, index: int) -> tuple[bytes, list[Any]]:
    """Output `index` of the reply as little-endian bytes and as a flat list, from raw or typed contents.

    A datatype it cannot translate (BYTES, unknown: the server sends neither) raises ValueError.
    """
    output = response.outputs[index]
    code, field, _ = DATATYPES.get(output.datatype, (None, None, ""))
    if code is None:
        raise ValueError(f"cannot translate output {output.name!r} of datatype {output.datatype!r}")
    if index < len(response.raw_output_contents):
        raw = response.raw_output_contents[index]
        return raw, list(struct.unpack(f"<{len(raw) // struct.calcsize(code)}{code}", raw))
    values = list(getattr(output.contents, field)) if field else []
    return struct.pack(f"<{len(values)}{code}", *values), values


def infer_reply(response: pb.ModelInferResponse, binary_outputs: BinaryOutputs) -> tuple[bytes, int | None]:
    """The REST reply body and, when binary parts follow the JSON, the JSON part's length.

    A NaN or infinity in a JSON output or a parameter (a server bug) raises ValueError: answered 500
    rather than sending `NaN`, which is not JSON.
    """
    header: dict[str, Any] = {"model_name": response.model_name, "model_version": response.model_version}
    if response.id:
        header["id"] = response.id
    if response.parameters:
        header["parameters"] = parameters_json(response.parameters)
    outputs, parts = [], []
    for index, output in enumerate(response.outputs):
        raw, values = _output_data(response, index)
        entry: dict[str, Any] = {
            "name": output.name,
            "datatype": output.datatype,
            "shape": list(output.shape),
        }
        parameters = parameters_json(output.parameters)
        if binary_outputs.wanted(output.name):
            parts.append(raw)
            parameters["binary_data_size"] = len(parts[-1])
        else:
            entry["data"] = values
        if parameters:
            entry["parameters"] = parameters
        outputs.append(entry)
    header["outputs"] = outputs
    text = json_text(header).encode()
    return (text + b"".join(parts), len(text)) if parts else (text, None)
