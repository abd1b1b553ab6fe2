"""Which row and field an INVALID_ARGUMENT names, in machine-readable form: the server writes it, the
proxy (and any client) reads it, and no one parses a message to learn it.

The status carries a google.rpc.Status (trailing metadata `grpc-status-details-bin`, what
grpc_status.rpc_status writes and reads) with the same code and message, whose details hold one
google.rpc.BadRequest with one field violation: the first mistake the server found. Its
`description` is the message without the "row k: " prefix; its `field` is a path:
- `rows[k].<feature>`: a feature of row k, e.g. `rows[3].petal_width`. Rows count from 0 within
  the call: PredictBatch's `features` taken four at a time, PredictStream's messages, ModelInfer's
  input tensor along its first dimension (the same numbers the messages give);
- `rows[k]`: row k as a whole (e.g. its features are too large for the model);
- otherwise a field of the request message: `petal_width` in Predict (its request is one row, so
  neither the message nor the path names a row), `features` in PredictBatch, `inputs[0].shape`,
  `outputs[1].name`, `raw_input_contents` in ModelInfer; empty for the request as a whole.
"""

import re

import grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

FieldViolation = error_details_pb2.BadRequest.FieldViolation

ROWS_FIELD = "rows"
_ROW_PATH = re.compile(rf"{ROWS_FIELD}\[(\d+)\](?:\.|$)")


def field_path(row: int | None, field: str | None) -> str:
    """The violation's path: `rows[row].field`, `rows[row]`, `field`, or "" (the whole request)."""
    if row is None:
        return field or ""
    return f"{ROWS_FIELD}[{row}]" + (f".{field}" if field else "")


def row_of(path: str) -> int | None:
    """The row a violation's path names (`rows[k]...` -> k), or None if it names none."""
    match = _ROW_PATH.match(path)
    return int(match.group(1)) if match else None


def invalid_argument(message: str, path: str, description: str) -> grpc.Status:
    """INVALID_ARGUMENT with `message` and one field violation, for context.abort_with_status."""
    violation = FieldViolation(field=path, description=description)
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message)
    status.details.add().Pack(error_details_pb2.BadRequest(field_violations=[violation]))
    return rpc_status.to_status(status)


def field_violations(error: grpc.RpcError) -> list[FieldViolation]:
    """The BadRequest field violations a failed call's status carries (a grpc.RpcError that is a
    grpc.Call, or a grpc.aio.AioRpcError); none when it carries no google.rpc.Status."""
    try:
        status = rpc_status.from_call(error)
    except ValueError:  # a Status whose code or message contradicts the call's: trust neither
        return []
    violations: list[FieldViolation] = []
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            violations.extend(bad_request.field_violations)
    return violations
