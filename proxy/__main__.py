"""python -m proxy: parse the settings and serve the REST API until SIGINT/SIGTERM."""

import logging
import os
import sys

from aiohttp import web

from common.logs import configure_logging
from proxy.app import make_app
from proxy.config import ConfigError, parse_settings
from proxy.limits import http_server_limits

# On SIGTERM, requests in flight get their gRPC deadline plus this to finish.
SHUTDOWN_MARGIN_SECONDS = 1.0


def main() -> int:
    try:
        settings = parse_settings(sys.argv[1:], os.environ)
    except ConfigError as error:
        print(f"python -m proxy: error: {error}", file=sys.stderr)
        return 2  # a usage error, as argparse's
    configure_logging(settings.log_level, settings.log_format)
    logging.getLogger("proxy").info(
        "starting", extra={"host": settings.host, "port": settings.port, "upstream": settings.upstream}
    )
    web.run_app(
        make_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=None,  # proxy.middlewares writes the access log
        print=None,
        **http_server_limits(settings),
        shutdown_timeout=settings.deadline_seconds + SHUTDOWN_MARGIN_SECONDS,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
