"""The KServe V2 part of the OpenAPI document: the /v2 paths, their schemas and error responses.

openapi.py merges these into the one document. Names start with V2 so they never collide with
the iris API's; `#/components/parameters/XRequestId` and `#/components/headers/XRequestId` are
the document's shared ones.
"""

from typing import Any

from proxy.parsing import FLOAT32_MAX
from proxy.v2_codec import HEADER_LENGTH, INT64_RANGE

INT64 = {"minimum": INT64_RANGE[0], "maximum": INT64_RANGE[1]}

_MODEL_PATHS = ("/v2/models/{name}", "/v2/models/{name}/versions/{version}")


def _ref(name: str, kind: str = "schemas") -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _object(required: list[str], properties: dict[str, Any], description: str = "") -> dict[str, Any]:
    schema = {"type": "object", "required": required, "properties": properties, "additionalProperties": False}
    return {**schema, "description": description} if description else schema


def _number_data() -> dict[str, Any]:
    # Numbers a 32-bit float holds (larger ones get 400), flat or one level nested.
    number = {"type": "number", "minimum": -FLOAT32_MAX, "maximum": FLOAT32_MAX}
    return {
        "type": "array",
        "items": {"anyOf": [number, {"type": "array", "items": number}]},
        "description": "Tensor values in row-major order, flat or nested by row.",
    }


def schemas() -> dict[str, Any]:
    string, strings = {"type": "string"}, {"type": "array", "items": {"type": "string"}}
    scalar = {"anyOf": [{"type": "boolean"}, {"type": "integer", **INT64}, {"type": "string"}]}
    parameters = {
        "type": "object",
        "additionalProperties": scalar,
        "description": "Named parameters: booleans, 64-bit integers or strings.",
    }
    shape = {"type": "array", "items": {"type": "integer", "minimum": -1}}
    tensor_metadata = _object(
        ["name", "datatype", "shape"], {"name": string, "datatype": string, "shape": shape}
    )
    return {
        "V2Error": _object(["error"], {"error": {"type": "string", "description": "What went wrong."}}),
        "V2ServerMetadata": _object(
            ["name", "version", "extensions"], {"name": string, "version": string, "extensions": strings}
        ),
        "V2Live": _object(["live"], {"live": {"type": "boolean"}}),
        "V2Ready": _object(["ready"], {"ready": {"type": "boolean"}}),
        "V2ModelReady": _object(["name", "ready"], {"name": string, "ready": {"type": "boolean"}}),
        "V2TensorMetadata": {**tensor_metadata, "description": "-1 in a shape: a dimension of any size."},
        "V2ModelMetadata": _object(
            ["name", "versions", "platform", "inputs", "outputs"],
            {
                "name": string,
                "versions": strings,
                "platform": string,
                "inputs": {"type": "array", "items": _ref("V2TensorMetadata")},
                "outputs": {"type": "array", "items": _ref("V2TensorMetadata")},
            },
        ),
        "V2Parameters": parameters,
        "V2InferInput": _object(
            ["name", "shape", "datatype", "data"],
            {
                "name": string,
                "shape": {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 0, "maximum": INT64["maximum"]},
                },
                "datatype": {"type": "string", "enum": ["FP32", "FP64"]},
                "data": _number_data(),
            },
            "An input tensor with JSON data. (Binary data: see the operation's description.)",
        ),
        "V2RequestedOutput": _object(
            ["name"],
            {
                "name": string,
                "parameters": {
                    "type": "object",
                    "properties": {
                        "binary_data": {"type": "boolean", "description": "Return it as binary data."}
                    },
                    "additionalProperties": False,
                },
            },
            "An output to return.",
        ),
        "V2InferRequest": _object(
            ["inputs"],
            {
                "id": {"type": "string", "description": "Echoed in the reply."},
                "parameters": {
                    **parameters,
                    "properties": {
                        "binary_data_output": {
                            "type": "boolean",
                            "description": "Return every output as binary data.",
                        }
                    },
                },
                "inputs": {"type": "array", "items": _ref("V2InferInput")},
                "outputs": {
                    "type": "array",
                    "items": _ref("V2RequestedOutput"),
                    "description": "The outputs to return, in this order; all of them if absent.",
                },
            },
        ),
        "V2InferOutput": _object(
            ["name", "datatype", "shape"],
            {
                "name": string,
                "datatype": string,
                "shape": shape,
                "parameters": _ref("V2Parameters"),
                "data": {"type": "array", "description": "Tensor values in row-major order."},
            },
            "An output tensor: `data`, or `parameters.binary_data_size` bytes of binary data after the JSON.",
        ),
        "V2InferResponse": _object(
            ["model_name", "model_version", "outputs"],
            {
                "model_name": string,
                "model_version": string,
                "id": string,
                "parameters": _ref("V2Parameters"),
                "outputs": {"type": "array", "items": _ref("V2InferOutput")},
            },
        ),
    }


def _headers() -> dict[str, Any]:
    return {"X-Request-Id": _ref("XRequestId", "headers")}


def _response(description: str, schema: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": _headers(),
        "content": {"application/json": {"schema": _ref(schema)}},
    }


# Error status -> its entry in components.responses.
_ERRORS = {
    "400": "V2BadRequest",
    "404": "V2NotFound",
    "413": "V2PayloadTooLarge",
    "429": "V2TooManyRequests",
    "500": "V2InternalError",
    "503": "V2Unavailable",
    "504": "V2GatewayTimeout",
    "default": "V2OtherError",
}


def error_responses(max_body_bytes: int) -> dict[str, Any]:
    descriptions = {
        "V2BadRequest": "A malformed body, or a tensor the model cannot take (wrong name, datatype, shape, "
        "byte count, a NaN): INVALID_ARGUMENT, the message naming it.",
        "V2NotFound": "No such model or version (NOT_FOUND), or no such path.",
        "V2PayloadTooLarge": f"The body is larger than {max_body_bytes} bytes.",
        "V2TooManyRequests": "More rows than the server takes in one call, or overload (RESOURCE_EXHAUSTED).",
        "V2InternalError": "A bug; the message quotes the request id to report.",
        "V2Unavailable": "Not live or not ready (Triton's clients read this as false), or no server "
        "reachable (UNAVAILABLE).",
        "V2GatewayTimeout": "The server did not answer within the deadline (DEADLINE_EXCEEDED).",
        "V2OtherError": "Any other failure, e.g. 405 for a method a path does not allow, or 408 for a "
        "request not complete within --request-timeout-seconds.",
    }
    responses = {name: _response(text, "V2Error") for name, text in descriptions.items()}
    for name in ("V2TooManyRequests", "V2Unavailable"):
        responses[name]["headers"]["Retry-After"] = _ref("RetryAfter", "headers")  # see proxy/errors.py
    return responses


def _errors(*statuses: str) -> dict[str, Any]:
    return {status: _ref(_ERRORS[status], "responses") for status in (*statuses, "default")}


def _get(
    operation_id: str, summary: str, reply: dict[str, Any], errors: tuple[str, ...], parameters: tuple = ()
) -> dict[str, Any]:
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "parameters": [_ref("XRequestId", "parameters"), *parameters],
            "responses": {"200": reply, **_errors(*errors)},
        }
    }


def _path_parameter(name: str, description: str) -> dict[str, Any]:
    schema = {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


def _model_parameters(path: str) -> list[dict[str, Any]]:
    found = [_path_parameter("name", "Model name, e.g. iris.")]
    if "{version}" in path:
        found.append(_path_parameter("version", "Model version, e.g. 1."))
    return found


BINARY_EXTENSION_TEXT = (
    "Binary tensor data extension (what tritonclient's HTTP client sends by default): the body is "
    f"the JSON request followed by raw little-endian tensor bytes, and the header {HEADER_LENGTH} "
    "gives the JSON part's length. An input then has `parameters.binary_data_size` (its byte count, "
    "in the order of `inputs`) instead of `data`; every input must come one way. Outputs come back "
    "as binary data after the JSON reply (application/octet-stream, the same header) when the "
    "request's `parameters.binary_data_output` or an output's `parameters.binary_data` is true."
)


def _infer(path: str, suffix: str) -> dict[str, Any]:
    binary_reply = {
        "type": "string",
        "format": "binary",
        "description": f"The JSON reply, then each binary output's bytes ({HEADER_LENGTH} gives the "
        "JSON part's length).",
    }
    reply = {
        "description": "The outputs: JSON, or JSON followed by binary output data.",
        "headers": {
            **_headers(),
            HEADER_LENGTH: {
                "description": "Present when binary output data follows the JSON: the JSON part's length.",
                "schema": {"type": "integer", "minimum": 0},
            },
        },
        "content": {
            "application/json": {"schema": _ref("V2InferResponse")},
            "application/octet-stream": {"schema": binary_reply},
        },
    }
    return {
        "post": {
            "operationId": f"v2Infer{suffix}",
            "summary": "Run the model: FP32 or FP64 [N, 4] in, label and probabilities out.",
            "description": BINARY_EXTENSION_TEXT,
            "parameters": [_ref("XRequestId", "parameters"), *_model_parameters(path)],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("V2InferRequest")}},
            },
            "responses": {"200": reply, **_errors("400", "404", "413", "429", "500", "503", "504")},
        }
    }


def paths() -> dict[str, Any]:
    server_errors = ("503", "504")
    found = {
        "/v2": _get(
            "v2ServerMetadata",
            "Server name, version and protocol extensions.",
            _response("Server metadata.", "V2ServerMetadata"),
            server_errors,
        ),
        "/v2/health/live": _get(
            "v2ServerLive", "Is the server live?", _response("Live.", "V2Live"), server_errors
        ),
        "/v2/health/ready": _get(
            "v2ServerReady", "Is the server ready to infer?", _response("Ready.", "V2Ready"), server_errors
        ),
    }
    for path, suffix in zip(_MODEL_PATHS, ("", "Version"), strict=True):
        model = tuple(_model_parameters(path))
        found[path] = _get(
            f"v2ModelMetadata{suffix}",
            "A model's versions, platform and tensors.",
            _response("Model metadata.", "V2ModelMetadata"),
            ("404", *server_errors),
            model,
        )
        found[f"{path}/ready"] = _get(
            f"v2ModelReady{suffix}",
            "Is the model ready to infer? (404 for an unknown model, 503 when not ready.)",
            _response("Ready.", "V2ModelReady"),
            ("404", *server_errors),
            model,
        )
        found[f"{path}/infer"] = _infer(path, suffix)
    return found
