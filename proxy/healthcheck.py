"""Container health check: exit 0 when this container's proxy answers GET /healthz, else 1.

The image has no curl; this runs in the HEALTHCHECK with the proxy's own settings (IRIS_PORT).
"""

import os
import sys
import urllib.request

from common.settings import SettingsError
from proxy.config import parse_settings

TIMEOUT_SECONDS = 2.0


def main() -> int:
    try:
        settings = parse_settings(sys.argv[1:], os.environ)
    except SettingsError as error:
        print(f"proxy not healthy: {error}", file=sys.stderr)
        return 1
    url = f"http://127.0.0.1:{settings.port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as reply:
            return 0 if reply.status == 200 else 1
    except OSError as error:
        print(f"proxy not healthy: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
