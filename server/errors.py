"""The one way out of every servicer method, iris.v1's and KServe V2's: an exception becomes the
call's status (docs/api.md, the error table), is logged once with the caller's x-request-id, and ends
the call.
- InvalidInput -> INVALID_ARGUMENT, the message naming the field (and row, counted from 0), the
  details a google.rpc.BadRequest naming them for programs (common/error_details.py);
- BatchTooLargeError -> RESOURCE_EXHAUSTED;
- ModelNotFound -> NOT_FOUND (a model or version not served), the message listing what is;
- ApiError -> the status it names (UNAVAILABLE before warm-up, RESOURCE_EXHAUSTED when every
  PredictStream slot is taken);
- anything else is a bug -> INTERNAL, logged with its traceback.

Servicer methods raise; `unary_rpc` and `streaming_rpc` wrap them so whatever they raise leaves
through `abort`.
"""

import collections
import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import grpc

from common.error_details import field_path, invalid_argument
from common.logs import log_event
from common.names import REQUEST_ID_KEY
from server.model import BatchTooLargeError, InvalidInput
from server.served_models import ModelNotFound

NO_REQUEST_ID = "-"  # logged for a call that carried no x-request-id

logger = logging.getLogger("server.errors")


class ApiError(Exception):
    """An error whose gRPC status is chosen where it is raised (e.g. NOT_FOUND, UNAVAILABLE)."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code


def request_id(context: grpc.ServicerContext) -> str:
    """The caller's x-request-id metadata value, or '-' when it sent none."""
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_KEY:
            return str(value)
    return NO_REQUEST_ID


class _Status(collections.namedtuple("_Status", ("code", "details", "trailing_metadata")), grpc.Status):
    """A status for context.abort_with_status: its code, message (`details`) and, for one without
    machine-readable details, no trailing metadata (None)."""


def status_of(error: Exception) -> grpc.Status:
    """The status a call that raised `error` ends with: code, message (`details`) and the
    trailing metadata carrying its machine-readable details, if any."""
    if isinstance(error, InvalidInput):
        return invalid_argument(str(error), field_path(error.row, error.field), error.detail)
    if isinstance(error, BatchTooLargeError):
        return _Status(grpc.StatusCode.RESOURCE_EXHAUSTED, str(error), None)
    if isinstance(error, ModelNotFound):
        return _Status(grpc.StatusCode.NOT_FOUND, str(error), None)
    if isinstance(error, ApiError):
        return _Status(error.code, str(error), None)
    message = f"internal error ({type(error).__name__}); see the server log"
    return _Status(grpc.StatusCode.INTERNAL, message, None)


def abort(context: grpc.ServicerContext, method: str, error: Exception) -> NoReturn:
    """Log `error` with the caller's request id and end the call with its status."""
    status = status_of(error)
    is_bug = status.code is grpc.StatusCode.INTERNAL
    log_event(
        logger,
        logging.ERROR if is_bug else logging.WARNING,
        "request failed",
        exc_info=is_bug,
        method=method,
        code=status.code.name,
        error=status.details,
        request_id=request_id(context),
    )
    context.abort_with_status(status)
    raise AssertionError("context.abort_with_status returned")  # it raises; this line tells type checkers


def unary_rpc(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a servicer method that returns one reply so every exception leaves through `abort`."""

    @functools.wraps(method)
    def handle(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except Exception as error:
            abort(context, method.__name__, error)

    return handle


def streaming_rpc(method: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    """Wrap a servicer method that yields replies so every exception leaves through `abort`."""

    @functools.wraps(method)
    def handle(self: Any, requests: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            yield from method(self, requests, context)
        except Exception as error:
            abort(context, method.__name__, error)

    return handle
