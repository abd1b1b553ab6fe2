"""KServe V2 parameters (request, input and output `parameters` objects) to and from gRPC
InferParameter, one JSON value to one field of its oneof.

A value's JSON kind picks the field, as the body writes it: Python's json keeps an integer written
without a fraction or exponent an int and any other number a float, as RapidJSON does for Triton.

| JSON value | InferParameter field |
|---|---|
| true, false | bool_param |
| an integer from -2**63 to 2**63 - 1 | int64_param |
| an integer from 2**63 to 2**64 - 1 | uint64_param |
| any other finite number (`0.7`, `2.0`, `1e30`) | double_param |
| a string | string_param |

Anything else (null, an array, an object, an integer beyond both ranges, and NaN or infinity, which
Python's json reads although JSON has neither) is a RequestError (400) naming the parameter.
A reply's parameters go back the same way.
"""

import math
from collections.abc import Mapping, MutableMapping
from typing import Any

from inference_pb import grpc_predict_v2_pb2 as pb
from proxy.errors import RequestError
from proxy.parsing import json_kind

INT64_RANGE = (-(2**63), 2**63 - 1)
UINT64_MAX = 2**64 - 1


def _integer_field(value: int, name: str) -> str:
    if INT64_RANGE[0] <= value <= INT64_RANGE[1]:
        return "int64_param"
    if INT64_RANGE[1] < value <= UINT64_MAX:
        return "uint64_param"
    # Not shown: Python reads integers of up to 4,300 digits.
    raise RequestError(
        f"{name} is an integer out of range; integer parameters take -2**63 to 2**64 - 1 (int64 or uint64)"
    )


def _field(value: Any, name: str) -> str:
    """The InferParameter field that holds this JSON value."""
    if isinstance(value, bool):
        return "bool_param"
    if isinstance(value, str):
        return "string_param"
    if isinstance(value, int):
        return _integer_field(value, name)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RequestError(f"{name} must be a finite number, got {value!r}")
        return "double_param"
    raise RequestError(f"{name} must be a boolean, a number or a string, got {json_kind(value)}")


def put_parameters(
    target: MutableMapping[str, pb.InferParameter], parameters: Mapping[str, Any], where: str
) -> None:
    """Copy JSON parameters into a protobuf map of InferParameter; `where` names the parameters
    object in messages (`parameters`, `inputs[0].parameters`)."""
    for key, value in parameters.items():
        setattr(target[key], _field(value, f"{where}.{key}"), value)


def parameters_json(parameters: Mapping[str, pb.InferParameter]) -> dict[str, Any]:
    """A reply's InferParameter map as JSON values (one with no field set reads as "")."""
    return {
        key: getattr(value, value.WhichOneof("parameter_choice") or "string_param")
        for key, value in parameters.items()
    }
