"""Run one proxy process: serve the app until SIGTERM or SIGINT, then drain and stop.

On the signal, GET /readyz answers 503 at once while requests are still taken for --drain-seconds,
so a load balancer that checks /readyz (the edge, Kubernetes) takes this process out of rotation
before it stops listening. Then the listener closes and requests in flight get their gRPC deadline
plus SHUTDOWN_MARGIN_SECONDS to finish.
"""

import asyncio
import logging
import signal

from aiohttp import web

from common.logs import log_event
from proxy.app import make_app
from proxy.config import Settings
from proxy.limits import http_server_limits
from proxy.routes import DRAINING

SHUTDOWN_MARGIN_SECONDS = 1.0

logger = logging.getLogger("proxy")


async def serve(settings: Settings, reuse_port: bool = False, worker: int | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then drain (see the module). `reuse_port`: --workers processes
    share the port (SO_REUSEPORT)."""
    app = make_app(settings)
    runner = web.AppRunner(
        app,
        access_log=None,  # proxy.middlewares writes the access log
        shutdown_timeout=settings.deadline_seconds + SHUTDOWN_MARGIN_SECONDS,
        **http_server_limits(settings),
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.port, reuse_port=reuse_port or None).start()
        log_event(
            logger, logging.INFO, "proxy started", host=settings.host, port=settings.port,
            upstream=settings.upstream, worker=worker,
        )  # fmt: skip
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        await stop.wait()
        app[DRAINING].set()
        log_event(logger, logging.INFO, "proxy draining", drain_seconds=settings.drain_seconds, worker=worker)
        await asyncio.sleep(settings.drain_seconds)
    finally:
        await runner.cleanup()
    log_event(logger, logging.INFO, "proxy stopped", worker=worker)
