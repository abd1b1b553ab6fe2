"""Cross-cutting work for every request: its id, and what is recorded once it is answered
(its metrics and its access log line)."""

import logging
import os
import re
import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from proxy.metrics import ProxyMetrics

REQUEST_ID_HEADER = "X-Request-Id"
# A request id from the client is kept if it is 1-128 printable ASCII characters without spaces
# (it travels on as gRPC metadata, which allows no more); otherwise the proxy makes one.
_USABLE_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")

REQUEST_ID = web.RequestKey("request_id", str)

access_log = logging.getLogger("proxy.access")


def request_id_of(request: web.Request) -> str:
    """The request's id: the client's X-Request-Id if usable, else 128 random bits in 32 hex digits.

    That is a uuid4's hex form less its fixed version bits, and cheaper to make than a uuid4
    (`git log -S urandom -- proxy/middlewares.py` has the numbers).
    """
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _USABLE_REQUEST_ID.fullmatch(given) else os.urandom(16).hex()


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give the request an id, make it available as request[REQUEST_ID] and echo it in the response."""
    request[REQUEST_ID] = request_id = request_id_of(request)
    response = await handler(request)
    response.headers[REQUEST_ID_HEADER] = request_id
    return response


def route_name(request: web.Request) -> str:
    """The route's path template (e.g. "/predict"), never the raw path: log lines stay groupable."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def make_request_record_middleware(metrics: ProxyMetrics | None, log_access: bool) -> Middleware:
    """A middleware timing each request once, then counting it in `metrics` (if any) and writing
    its access log line (if `log_access` and proxy.access logs INFO): request id, method, route,
    status and latency in milliseconds. Place it outside the error middleware."""

    @web.middleware
    async def request_record_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        if metrics is not None:
            metrics.http_requests_in_flight.inc()
        status = 500  # if the handler raises past the error middleware, aiohttp answers 500
        try:
            response = await handler(request)
            status = response.status
            return response
        finally:
            seconds = time.perf_counter() - started
            route = route_name(request)
            if metrics is not None:
                metrics.http_requests_in_flight.dec()
                metrics.record_request(route, request.method, status, seconds)
            if log_access and access_log.isEnabledFor(logging.INFO):
                _log_access(request, route, status, seconds)

    return request_record_middleware


def _log_access(request: web.Request, route: str, status: int, seconds: float) -> None:
    access_log.info(
        "%s %s %s",
        request.method,
        request.path,
        status,
        extra={
            "request_id": request.get(REQUEST_ID, ""),
            "method": request.method,
            "route": route,
            "status": status,
            "latency_ms": round(seconds * 1000, 3),
        },
    )
