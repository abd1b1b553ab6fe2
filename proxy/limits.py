"""Limits that keep the proxy answering everyone while some clients ask too much or too slowly.

- At most --max-in-flight POST requests (the predictions) are handled at once; one more gets 429
  with Retry-After at once instead of queueing. GET probes and metadata are never turned away.
- A request whose body is still arriving when it reaches the handlers must be handled, body
  included, within --request-timeout-seconds, or it gets 408: a body trickled in or never
  finished cannot hold its slot for long. A request that arrived whole (most) needs no timer:
  only its gRPC call can wait, within --deadline-seconds, which is shorter, so a slow server
  still answers 504, not 408.
- A connection must send a complete request head within --keepalive-seconds of opening (or of
  its previous answer), else aiohttp closes it: idle and trickled-header connections go away.
- Request heads are bounded (HTTP_SERVER_LIMITS); bodies by --max-body-bytes (413).
"""

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from proxy.config import Settings
from proxy.errors import RequestError

# aiohttp's defaults, set here on purpose: the longest request line and header line, and the
# most header lines in one request (beyond them: 400).
MAX_LINE_BYTES = 8190
MAX_FIELD_BYTES = 8190
MAX_HEADERS = 128
# After an early answer (413, 408) aiohttp reads and drops the rest of the body for at most this
# long, so the client can read the answer, then closes the connection.
LINGERING_SECONDS = 2.0
LIMITED_METHODS = ("POST",)


def http_server_limits(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of web.run_app bounding connections and request heads."""
    return {
        "keepalive_timeout": settings.keepalive_seconds,
        "max_line_size": MAX_LINE_BYTES,
        "max_field_size": MAX_FIELD_BYTES,
        "max_headers": MAX_HEADERS,
        "lingering_time": LINGERING_SECONDS,
    }


def make_limits_middleware(max_in_flight: int, request_timeout_seconds: float) -> Middleware:
    """A middleware answering 429 past `max_in_flight` POSTs at once, and 408 for a request whose
    body was still arriving and that was not handled within `request_timeout_seconds`. It runs
    inside the error middleware."""
    in_flight = 0

    @web.middleware
    async def limits_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal in_flight
        limited = request.method in LIMITED_METHODS
        if limited and in_flight >= max_in_flight:
            raise RequestError(
                f"the proxy is handling {max_in_flight} requests, its limit (--max-in-flight); retry later",
                status=429,
            )
        if limited:
            in_flight += 1
        try:
            if request.content.is_eof():  # the whole body is here: no timer needed
                return await handler(request)
            return await _handle_within(request_timeout_seconds, handler, request)
        finally:
            if limited:
                in_flight -= 1

    return limits_middleware


async def _handle_within(seconds: float, handler: Handler, request: web.Request) -> web.StreamResponse:
    """The handler's response, or RequestError 408 if it is not done within `seconds`."""
    try:
        async with asyncio.timeout(seconds) as timer:
            return await handler(request)
    except TimeoutError:
        if not timer.expired():
            raise
        raise RequestError(
            f"the request was not complete within {seconds:g} s "
            "(--request-timeout-seconds); send the whole body at once",
            status=408,
        ) from None
