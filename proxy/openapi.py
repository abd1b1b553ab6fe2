"""The OpenAPI 3.1 document of the REST API, served at GET /openapi.json.

It describes exactly what the handlers do: request bodies (form and JSON), replies, and the
error body of every failure, each response carrying X-Request-Id. Tests check it with
openapi-spec-validator and check real responses against its schemas.
"""

import json
from typing import Any

import grpc
from aiohttp import web

from proxy import v2_openapi
from proxy.parsing import FEATURES, FLOAT32_MAX

OPENAPI_JSON = web.AppKey("openapi_json", str)

_FEATURE_DESCRIPTIONS = {
    "sepal_length": "Sepal length in cm.",
    "sepal_width": "Sepal width in cm.",
    "petal_length": "Petal length in cm.",
    "petal_width": "Petal width in cm.",
}


def _ref(name: str, kind: str = "schemas") -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _feature_value(description: str) -> dict[str, Any]:
    # A 32-bit float on the wire: the proxy turns away larger numbers (and infinity) with 400.
    return {"type": "number", "minimum": -FLOAT32_MAX, "maximum": FLOAT32_MAX, "description": description}


def _schemas() -> dict[str, Any]:
    features = {
        "type": "object",
        "description": "One flower: four finite numbers that fit a 32-bit float (larger ones, "
        "infinity and NaN get 400). Other fields are ignored.",
        "required": list(FEATURES),
        "properties": {name: _feature_value(_FEATURE_DESCRIPTIONS[name]) for name in FEATURES},
    }
    feature_array = {
        "type": "array",
        "description": f"One flower as its four values in this order: {', '.join(FEATURES)}.",
        "items": _feature_value("A measurement in cm."),
        "minItems": len(FEATURES),
        "maxItems": len(FEATURES),
    }
    rows = {"type": "array", "items": _ref("Row")}
    prediction = {
        "species": {
            "type": "string",
            "pattern": "^[0-9]+$",
            "description": 'Species number as a string: "0" setosa, "1" versicolor, "2" virginica.',
        },
        "species_name": {"type": "string", "description": "Species name, e.g. virginica."},
        "probabilities": {
            "type": "array",
            "items": {"type": "number"},
            "description": "Probability of each species, indexed by species number.",
        },
    }
    model = {
        "model_name": {"type": "string", "description": "Name of the model that answered."},
        "model_version": {"type": "string", "description": "Version of the model that answered."},
    }
    codes = [code.name for code in grpc.StatusCode if code is not grpc.StatusCode.OK]
    return {
        "Features": features,
        "MultipartFeatures": {
            "allOf": [_ref("Features")],
            "description": "One flower as multipart/form-data parts. Part names travel in part headers, "
            "so they cannot hold control characters (400 malformed form body).",
            "propertyNames": {"pattern": "^[^\\x00-\\x08\\x0a-\\x1f\\x7f]*$"},
        },
        "FeatureArray": feature_array,
        "Row": {"oneOf": [_ref("Features"), _ref("FeatureArray")]},
        "BatchRequest": {
            "description": "Rows as a JSON array, or as an object with the array under `instances`. "
            "predictions[i] answers row i.",
            "oneOf": [
                rows,
                {"type": "object", "required": ["instances"], "properties": {"instances": rows}},
            ],
        },
        "Prediction": {
            "type": "object",
            "required": list(prediction),
            "properties": prediction,
            "additionalProperties": False,
        },
        "PredictReply": {
            "type": "object",
            "required": [*prediction, *model],
            "properties": {**prediction, **model},
            "additionalProperties": False,
        },
        "BatchReply": {
            "type": "object",
            "required": ["predictions", *model],
            "properties": {"predictions": {"type": "array", "items": _ref("Prediction")}, **model},
            "additionalProperties": False,
        },
        "Status": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"type": "string"}},
            "additionalProperties": False,
        },
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "enum": codes, "description": "A gRPC status name."},
                        "message": {"type": "string", "description": "What went wrong, naming the field."},
                    },
                    "additionalProperties": False,
                }
            },
            "additionalProperties": False,
        },
    }


def _response(description: str, schema: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"X-Request-Id": _ref("XRequestId", "headers")},
        "content": {"application/json": {"schema": _ref(schema)}},
    }


# Sent with every 429 and 503 (proxy/errors.py), in both APIs' error responses.
RETRY_AFTER = {"Retry-After": _ref("RetryAfter", "headers")}

# Error status -> its entry in components.responses.
_ERROR_RESPONSES = {
    "400": "BadRequest",
    "413": "PayloadTooLarge",
    "415": "UnsupportedMediaType",
    "429": "TooManyRequests",
    "500": "InternalError",
    "503": "Unavailable",
    "504": "GatewayTimeout",
    "default": "OtherError",
}


def _errors(*statuses: str) -> dict[str, Any]:
    return {status: _ref(_ERROR_RESPONSES[status], "responses") for status in (*statuses, "default")}


def _error_responses(max_body_bytes: int) -> dict[str, Any]:
    descriptions = {
        "BadRequest": "Malformed JSON or form body, a missing or non-numeric field, or a value the server "
        "rejects (INVALID_ARGUMENT); the message names the field and, in a batch, the row.",
        "PayloadTooLarge": f"The body is larger than {max_body_bytes} bytes (RESOURCE_EXHAUSTED).",
        "UnsupportedMediaType": "A content type this operation does not accept.",
        "TooManyRequests": "The server refuses the load, e.g. a batch over its row limit "
        "(RESOURCE_EXHAUSTED).",
        "InternalError": "A bug; the message quotes the request id to report.",
        "Unavailable": "No prediction server is reachable or ready (UNAVAILABLE); retry later.",
        "GatewayTimeout": "The prediction server did not answer within the deadline (DEADLINE_EXCEEDED).",
        "OtherError": "Any other failure, e.g. 404 for an unknown path, 405 for a method a path "
        "does not allow, or 408 for a request not complete within --request-timeout-seconds; the "
        "status matches the gRPC code as in the README's table.",
    }
    responses = {name: _response(text, "Error") for name, text in descriptions.items()}
    for name in ("TooManyRequests", "Unavailable"):
        responses[name]["headers"].update(RETRY_AFTER)
    return responses


def _json_and_form_body() -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": _ref("Features")},
            "multipart/form-data": {"schema": _ref("MultipartFeatures")},
            "application/json": {"schema": _ref("Features")},
        },
    }


def _paths() -> dict[str, Any]:
    request_id = [_ref("XRequestId", "parameters")]
    return {
        "/": {
            "post": {
                "operationId": "predict",
                "summary": "Classify one flower given as form fields or a JSON object.",
                "parameters": request_id,
                "requestBody": _json_and_form_body(),
                "responses": {
                    "200": _response("The prediction.", "PredictReply"),
                    **_errors("400", "413", "415", "429", "500", "503", "504"),
                },
            }
        },
        "/predict": {
            "post": {
                "operationId": "predictBatch",
                "summary": "Classify many flowers in one call.",
                "parameters": request_id,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("BatchRequest")}},
                },
                "responses": {
                    "200": _response("One prediction per row, in order.", "BatchReply"),
                    **_errors("400", "413", "415", "429", "500", "503", "504"),
                },
            }
        },
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "summary": "The proxy is up (does not look at the server).",
                "parameters": request_id,
                "responses": {"200": _response("Up.", "Status"), **_errors()},
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "summary": "The prediction server's health check says SERVING.",
                "parameters": request_id,
                "responses": {
                    "200": _response("Ready: status is SERVING.", "Status"),
                    **_errors("503"),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document.",
                "parameters": request_id,
                "responses": {
                    "200": {
                        "description": "The OpenAPI document.",
                        "headers": {"X-Request-Id": _ref("XRequestId", "headers")},
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    **_errors(),
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics of the proxy (404 when it runs with --metrics off).",
                "parameters": request_id,
                "responses": {
                    "200": {
                        "description": "The metrics in Prometheus text format.",
                        "headers": {"X-Request-Id": _ref("XRequestId", "headers")},
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **_errors(),
                },
            }
        },
    }


def openapi_document(max_body_bytes: int) -> dict[str, Any]:
    request_id_text = (
        "Request id, 1-128 printable ASCII characters; the proxy makes one (32 random hex digits) if "
        "absent or unusable. It is echoed in the response and passed to the server."
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "iris-predictor REST API",
            "version": "1",
            "description": "Classifies iris flowers from four measurements. Every error of the iris API "
            'is JSON `{"error": {"code": <gRPC status name>, "message": ...}}`. The KServe V2 (Open '
            'Inference Protocol) API under /v2 answers errors as the spec says: `{"error": "..."}`.',
        },
        "servers": [{"url": "/"}],
        "paths": {**_paths(), **v2_openapi.paths()},
        "components": {
            "schemas": {**_schemas(), **v2_openapi.schemas()},
            "responses": {**_error_responses(max_body_bytes), **v2_openapi.error_responses(max_body_bytes)},
            "parameters": {
                "XRequestId": {
                    "name": "X-Request-Id",
                    "in": "header",
                    "required": False,
                    "description": request_id_text,
                    "schema": {"type": "string"},
                }
            },
            "headers": {
                "XRequestId": {"description": "The request's id.", "schema": {"type": "string"}},
                "RetryAfter": {
                    "description": "Seconds to wait before trying again.",
                    "schema": {"type": "integer", "minimum": 0},
                },
            },
        },
    }


def openapi_json_text(max_body_bytes: int) -> str:
    return json.dumps(openapi_document(max_body_bytes), indent=1)
