"""python -m proxy: parse the settings, then serve the REST API (or start --workers processes that do)."""

import asyncio
import os
import sys

from common.logs import configure_logging
from common.workers import worker_index
from proxy.config import ConfigError, parse_settings


def main() -> int:
    try:
        settings = parse_settings(sys.argv[1:], os.environ)
    except ConfigError as error:
        print(f"python -m proxy: error: {error}", file=sys.stderr)
        return 2  # a usage error, as argparse's
    configure_logging(settings.log_level, settings.log_format)
    index = worker_index(os.environ)
    if settings.workers > 1 and index is None:
        from proxy.workers import run_proxy_workers

        return run_proxy_workers(settings, sys.argv[1:])
    from proxy.serving import serve

    asyncio.run(serve(settings, reuse_port=index is not None, worker=index))
    return 0


if __name__ == "__main__":
    sys.exit(main())
