"""The application factory: tests build the same app `python -m proxy` runs."""

from collections.abc import AsyncIterator

from aiohttp import web

from proxy.config import Settings
from proxy.errors import make_error_middleware
from proxy.middlewares import access_log_middleware, request_id_middleware
from proxy.openapi import OPENAPI_JSON, openapi_json_text
from proxy.routes import add_routes
from proxy.upstream import UPSTREAM, Upstream, open_channel

SETTINGS = web.AppKey("settings", Settings)
# Grace for calls still in flight when the app shuts down (they are bounded by their deadline).
CHANNEL_CLOSE_GRACE_SECONDS = 1.0


async def upstream_channel(app: web.Application) -> AsyncIterator[None]:
    """Own the one gRPC channel for the app's lifetime."""
    settings = app[SETTINGS]
    channel = open_channel(settings.upstream, settings.max_body_bytes)
    app[UPSTREAM] = Upstream(channel, settings.deadline_seconds)
    try:
        yield
    finally:
        await channel.close(grace=CHANNEL_CLOSE_GRACE_SECONDS)


def make_app(settings: Settings) -> web.Application:
    # Outermost first: the id exists before anything logs; errors become responses before the
    # access log records their status.
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[request_id_middleware, access_log_middleware, make_error_middleware()],
    )
    app[SETTINGS] = settings
    app[OPENAPI_JSON] = openapi_json_text(settings.max_body_bytes)
    app.cleanup_ctx.append(upstream_channel)
    add_routes(app)
    return app
