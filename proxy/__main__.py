"""python -m proxy: parse the settings, then serve the REST API (or start --workers processes that do)."""

import asyncio
import os
import sys

from common.logs import configure_logging
from common.workers import worker_index
from proxy.config import READER


def main() -> int:
    settings = READER.read_or_exit(sys.argv[1:], os.environ)
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
