"""Every failure leaves the proxy as JSON with the matching HTTP status: one table, one place.

The iris API's error body is `{"error": {"code": "INVALID_ARGUMENT", "message": "..."}}`, where
`code` is always a gRPC status name, also for errors the proxy finds itself (HTTP_TO_CODE).
Client mistakes carry a message naming what was wrong. Server-side failures (5xx) carry a
fixed message, because gRPC's details may name internal addresses; the details go to the log
with the request id. An API with another error shape (KServe V2's `{"error": "..."}`) is a
sub-application that names its shape under ERROR_BODY; the one error middleware uses the shape of
the app a request is routed to, also for what the proxy refuses before any handler (429, 408).
"""

import logging
from collections.abc import Callable
from typing import Any

import grpc
from aiohttp import web
from aiohttp.typedefs import Handler

from proxy.middlewares import REQUEST_ID

log = logging.getLogger("proxy.errors")

GRPC_TO_HTTP: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}

# Errors found by the proxy or by aiohttp before any gRPC call: HTTP status -> gRPC code name.
HTTP_TO_CODE: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",  # the path exists, the method is not implemented on it
    408: "DEADLINE_EXCEEDED",
    413: "RESOURCE_EXHAUSTED",  # body over the size limit
    415: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

# What a client reads for a server-side failure (the gRPC details are logged instead).
SERVER_SIDE_MESSAGES: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.UNAVAILABLE: "the prediction server is unavailable; retry later",
    grpc.StatusCode.DEADLINE_EXCEEDED: "the prediction server did not answer within the deadline",
    grpc.StatusCode.UNIMPLEMENTED: "the prediction server does not implement this call",
}
INTERNAL_ERROR_MESSAGE = "internal error; quote request id {request_id} when reporting it"
# Overload (429) and unavailability (503) are passing states: tell clients when to try again.
# One second is about a gRPC reconnect backoff and many times the time to drain a full queue.
RETRY_AFTER_SECONDS = 1
RETRY_LATER_STATUSES = (429, 503)


class RequestError(Exception):
    """A client mistake the proxy found itself: answered with `status`, `message` and `headers` as is."""

    def __init__(self, message: str, status: int = 400, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.headers = headers


def code_for_http_status(status: int) -> str:
    return HTTP_TO_CODE.get(status, "INVALID_ARGUMENT" if status < 500 else "INTERNAL")


ErrorBody = Callable[[str, str], dict[str, Any]]


def iris_error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


# An app's error body, `error_body(code, message)`; an app that sets none uses iris_error_body.
ERROR_BODY = web.AppKey("error_body", ErrorBody)


def _error_body_for(request: web.Request) -> ErrorBody:
    routed_to = request.match_info.apps[-1]  # the innermost app: a sub-app for its paths
    return routed_to.get(ERROR_BODY, iris_error_body)


def _http_exception_message(request: web.Request, error: web.HTTPException) -> str:
    if isinstance(error, web.HTTPNotFound):
        return f"no such path: {request.path}"
    if isinstance(error, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(error.allowed_methods))
        return f"method {request.method} is not allowed on {request.path}; allowed: {allowed}"
    return error.text or error.reason


def _rpc_error_status_and_message(request: web.Request, error: grpc.aio.AioRpcError) -> tuple[int, str]:
    status = GRPC_TO_HTTP.get(error.code(), 500)
    request_id = request.get(REQUEST_ID, "")
    if status < 500:
        return status, error.details() or error.code().name
    fields = {"request_id": request_id, "grpc_code": error.code().name, "grpc_details": error.details()}
    if status in (501, 503, 504):
        log.warning("upstream call failed", extra=fields)
        return status, SERVER_SIDE_MESSAGES[error.code()]
    log.error("upstream call failed", extra=fields)
    return status, INTERNAL_ERROR_MESSAGE.format(request_id=request_id)


def _respond(
    request: web.Request, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    if status in RETRY_LATER_STATUSES:
        headers = {**(headers or {}), "Retry-After": str(RETRY_AFTER_SECONDS)}
    return web.json_response(_error_body_for(request)(code, message), status=status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every failure as JSON in the error body of the request's app (ERROR_BODY), with its
    status; one middleware for every API."""
    try:
        return await handler(request)
    except RequestError as error:
        return _respond(
            request, error.status, code_for_http_status(error.status), error.message, error.headers
        )
    except web.HTTPException as error:
        if error.status < 400:
            raise
        headers = {"Allow": error.headers["Allow"]} if "Allow" in error.headers else None
        message = _http_exception_message(request, error)
        return _respond(request, error.status, code_for_http_status(error.status), message, headers)
    except grpc.aio.AioRpcError as error:
        status, message = _rpc_error_status_and_message(request, error)
        return _respond(request, status, error.code().name, message)
    except Exception:
        request_id = request.get(REQUEST_ID, "")
        log.exception("unexpected error", extra={"request_id": request_id})
        return _respond(request, 500, "INTERNAL", INTERNAL_ERROR_MESSAGE.format(request_id=request_id))
