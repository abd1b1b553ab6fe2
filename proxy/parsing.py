"""Request bodies -> feature values, with a 400 naming the field (and row) for anything unusable.

POST / takes one flower as form fields (application/x-www-form-urlencoded, as the original
`curl -d sepal_length=6.8 ...` call sends, or multipart/form-data) or as a JSON object.
POST /predict takes many as JSON: a list of rows, or `{"instances": [row, ...]}`, where a row
is an object with the four fields or an array of the four numbers in FEATURE_NAMES order.
Row numbers in messages count from 0.

The proxy only checks what it must to build the gRPC request faithfully: present, a number,
and within the range of a 32-bit float (the wire type; this also turns away infinity). Whether
a value is acceptable otherwise (NaN) is the server's call, answered as INVALID_ARGUMENT.
"""

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDictProxy

from common.names import FEATURE_NAMES
from proxy.errors import RequestError

FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
JSON_CONTENT_TYPE = "application/json"
_SHOWN_VALUE_CHARS = 40
# Largest finite 32-bit float. Bigger JSON or form numbers would reach the server as infinity.
FLOAT32_MAX = 3.4028234663852886e38


def _shown(value: Any) -> str:
    """A bad value as the message shows it: JSON, cut short if long."""
    text = json.dumps(value) if not isinstance(value, web.FileField) else "a file"
    return text if len(text) <= _SHOWN_VALUE_CHARS else text[:_SHOWN_VALUE_CHARS] + "..."


def _float32(number: float, field: str, row: str) -> float:
    """The number, if a 32-bit float (the wire type) can hold it; NaN passes on to the server."""
    if abs(number) > FLOAT32_MAX:
        raise RequestError(f'{row}field "{field}" is out of range for a 32-bit float, got {number!r}')
    return number


def _json_number(value: Any, field: str, row: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(f'{row}field "{field}" must be a number, got {_shown(value)}')
    try:
        return _float32(float(value), field, row)
    except OverflowError:  # an integer beyond even a 64-bit float
        raise RequestError(
            f'{row}field "{field}" is out of range for a 32-bit float, got {_shown(value)}'
        ) from None


def _form_number(values: list[Any], field: str) -> float:
    if not values:
        raise RequestError(f'missing field "{field}"')
    if len(values) > 1:
        raise RequestError(f'field "{field}" is given {len(values)} times; give it once')
    try:
        number = float(values[0])
    except (TypeError, ValueError):
        raise RequestError(f'field "{field}" must be a number, got {_shown(values[0])}') from None
    return _float32(number, field, "")


def features_from_form(form: MultiDictProxy[Any]) -> dict[str, float]:
    return {field: _form_number(form.getall(field, []), field) for field in FEATURE_NAMES}


def features_from_object(body: Any, row: str = "") -> dict[str, float]:
    """Feature values of a JSON object with the four fields; `row` prefixes messages ("row 3: ")."""
    if not isinstance(body, Mapping):
        raise RequestError(
            f"{row}expected a JSON object with fields {', '.join(FEATURE_NAMES)}, got {json_kind(body)}"
        )
    features = {}
    for field in FEATURE_NAMES:
        if field not in body:
            raise RequestError(f'{row}missing field "{field}"')
        features[field] = _json_number(body[field], field, row)
    return features


def json_kind(value: Any) -> str:
    """What kind of JSON value this is, in words, for error messages ("an array", "null")."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _row_values(row: Any, index: int) -> list[float]:
    where = f"row {index}: "
    if isinstance(row, list):
        if len(row) != len(FEATURE_NAMES):
            raise RequestError(
                f"{where}expected {len(FEATURE_NAMES)} numbers ({', '.join(FEATURE_NAMES)}), got {len(row)}"
            )
        return [_json_number(value, field, where) for value, field in zip(row, FEATURE_NAMES, strict=True)]
    if isinstance(row, Mapping):
        return list(features_from_object(row, where).values())
    raise RequestError(
        f"{where}expected an object with fields {', '.join(FEATURE_NAMES)} or an array of 4 numbers, "
        f"got {json_kind(row)}"
    )


def batch_features(body: Any) -> list[float]:
    """The rows of a batch body as one flat row-major list of 4 * N floats."""
    if isinstance(body, list):
        rows = body
    elif isinstance(body, Mapping) and isinstance(body.get("instances"), list):
        rows = body["instances"]
    else:
        raise RequestError(f'expected a JSON array of rows or {{"instances": [rows]}}, got {json_kind(body)}')
    flat: list[float] = []
    for index, row in enumerate(rows):
        flat.extend(_row_values(row, index))
    return flat


async def read_json(request: web.Request) -> Any:
    """The request's JSON body; 415 for another content type, 400 for malformed JSON."""
    if request.content_type != JSON_CONTENT_TYPE:
        raise RequestError(
            f"unsupported content type {request.content_type!r}; send {JSON_CONTENT_TYPE}", status=415
        )
    body = await request.read()
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as error:  # includes bad UTF-8 and nesting too deep
        raise RequestError(f"malformed JSON: {error}") from None


async def read_features(request: web.Request) -> dict[str, float]:
    """The one flower of a POST / body, from form fields or a JSON object."""
    if request.content_type in FORM_CONTENT_TYPES:
        try:
            form = await request.post()
        except ValueError as error:  # e.g. no boundary
            raise RequestError(f"malformed form body: {error}") from None
        except HttpProcessingError as error:  # e.g. a bad part header
            raise RequestError(f"malformed form body: {error.message}") from None
        return features_from_form(form)
    if request.content_type == JSON_CONTENT_TYPE:
        return features_from_object(await read_json(request))
    accepted = ", ".join((*FORM_CONTENT_TYPES, JSON_CONTENT_TYPE))
    raise RequestError(
        f"unsupported content type {request.content_type!r}; send one of {accepted}", status=415
    )
