"""The application factory: tests build the same app `python -m proxy` runs."""

import asyncio
from collections.abc import AsyncIterator

import grpc
from aiohttp import web

from proxy.coalescer import COALESCER, Coalescer
from proxy.config import Settings
from proxy.docs_page import add_docs_routes
from proxy.errors import error_middleware
from proxy.limits import make_limits_middleware
from proxy.metrics import METRICS, ProxyMetrics, UpstreamMetricsInterceptor, metrics_endpoint
from proxy.middlewares import make_request_record_middleware, request_id_middleware
from proxy.openapi import OPENAPI_JSON, openapi_json_text
from proxy.routes import DRAINING, add_routes
from proxy.row_stream import RowStream
from proxy.tls import channel_credentials
from proxy.upstream import UPSTREAM, Upstream, open_channel

SETTINGS = web.AppKey("settings", Settings)
# Grace for calls still in flight when the app shuts down (they are bounded by their deadline).
CHANNEL_CLOSE_GRACE_SECONDS = 1.0


async def upstream_channel(app: web.Application) -> AsyncIterator[None]:
    """Own the gRPC channels, and the coalescer of POST / calls on them, for the app's lifetime."""
    settings = app[SETTINGS]
    interceptors = [UpstreamMetricsInterceptor(app[METRICS])] if METRICS in app else []
    credentials = channel_credentials(settings)

    def open_upstream_channel() -> grpc.aio.Channel:
        return open_channel(settings.upstream, settings.max_body_bytes, interceptors, credentials)

    app[UPSTREAM] = upstream = Upstream(
        open_upstream_channel,
        settings.upstream_connections,
        settings.deadline_seconds,
        settings.upstream_reconnect_seconds,
    )
    row_stream = None
    if settings.row_stream:
        on_row = app[METRICS].count_stream_row if METRICS in app else None
        row_stream = RowStream(lambda: upstream.iris, settings.deadline_seconds, on_row)
    coalescing = (settings.coalesce_max_rows, settings.coalesce_max_wait_us)
    app[COALESCER] = Coalescer(upstream, *coalescing, row_stream)
    reconnecting = asyncio.create_task(upstream.reconnect_in_turn()) if upstream.reconnect_seconds else None
    try:
        yield
    finally:
        if reconnecting is not None:
            reconnecting.cancel()
        app[COALESCER].close()
        if row_stream is not None:
            row_stream.close()
        await upstream.close(CHANNEL_CLOSE_GRACE_SECONDS)


def make_app(settings: Settings) -> web.Application:
    # Outermost first: the id exists before anything logs; errors become responses before the
    # metrics and the access log record their status. Switched-off recording costs nothing.
    metrics = ProxyMetrics() if settings.metrics else None
    recording = metrics is not None or settings.access_log
    middlewares = [
        request_id_middleware,
        *([make_request_record_middleware(metrics, settings.access_log)] if recording else []),
        error_middleware,
        make_limits_middleware(settings.max_in_flight, settings.request_timeout_seconds),
    ]
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=middlewares)
    app[SETTINGS] = settings
    app[DRAINING] = asyncio.Event()
    if metrics:
        app[METRICS] = metrics
        app.router.add_get("/metrics", metrics_endpoint, allow_head=False)
    app[OPENAPI_JSON] = openapi_json_text(settings)
    app.cleanup_ctx.append(upstream_channel)
    add_routes(app)
    add_docs_routes(app)
    return app
