"""`python -m server`: parse the settings, then serve (or start --workers processes that do)."""

import os
import sys

from common.workers import worker_index
from server.config import READER


def main() -> int:
    # Read by onnxruntime when imported (--workers processes inherit it). Its telemetry is of no use
    # here, and on a read-only filesystem (the containers') it warns on every start that it cannot
    # persist a device id; disable_telemetry_events() would come too late to stop that.
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    settings = READER.read_or_exit(sys.argv[1:], os.environ)
    index = worker_index(os.environ)
    # Imported here: a --workers parent only starts and watches processes, it loads no model.
    if settings.workers > 1 and index is None:
        from server.workers import run_server_workers

        return run_server_workers(settings, sys.argv[1:])
    from server.app import serve

    return serve(settings, index)


if __name__ == "__main__":
    sys.exit(main())
