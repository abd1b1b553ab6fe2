"""The proxy's app under gunicorn's aiohttp workers: the alternative to `python -m proxy --workers`
that group `scale` measures against it. Bench-only; needs `pip install gunicorn`.

  python -m bench.gunicorn_proxy PROXY_ARGS...

Takes the proxy's own flags; --workers sets gunicorn's worker count. Each worker builds the app
after gunicorn forks it, so each opens its own gRPC channels, as `--workers` does.
"""

import os
import sys

from gunicorn.app.base import BaseApplication

from proxy.app import make_app
from proxy.config import parse_settings


class ProxyUnderGunicorn(BaseApplication):
    def __init__(self, argv: list[str]) -> None:
        self.settings = parse_settings(argv, os.environ)
        super().__init__()

    def load_config(self) -> None:
        self.cfg.set("bind", f"{self.settings.host}:{self.settings.port}")
        self.cfg.set("workers", self.settings.workers)
        self.cfg.set("worker_class", "aiohttp.GunicornWebWorker")
        self.cfg.set("loglevel", "warning")

    def load(self):
        return make_app(self.settings)


if __name__ == "__main__":
    ProxyUnderGunicorn(sys.argv[1:]).run()
