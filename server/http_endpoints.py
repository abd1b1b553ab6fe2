"""The server's HTTP port (--metrics-port): GET /metrics, /readyz and /healthz, from a background thread.

- /metrics: Prometheus text (or OpenMetrics, if the Accept header prefers it).
- /readyz: 200 while the server takes calls, else 503: the same state as grpc.health.v1's "" (the
  whole server): not ready while the model loads and warms up, nor once draining after SIGTERM.
  For load balancers that cannot speak grpc.health.v1, such as the HAProxy edge (edge/haproxy.cfg).
- /healthz: 200 while the process answers at all (liveness).
Any other path gets 404.

One process serves its own. A --workers parent serves its workers' metrics (common/worker_metrics.py)
and is ready while it is not stopping and every worker says it is ready (iris_serving, each worker's
own gauge in the shared directory).
"""

import socket
import threading
from collections.abc import Callable, Iterable
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import Collector

from common.addresses import unbracketed

StartResponse = Callable[..., object]
WsgiApp = Callable[[dict, StartResponse], Iterable[bytes]]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # no line per probe or scrape
        pass


def _text(start_response: StartResponse, status: str, text: str) -> list[bytes]:
    body = text.encode()
    start_response(
        status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    )
    return [body]


def make_http_app(registry: Collector, ready: Callable[[], bool]) -> WsgiApp:
    """The WSGI app answering /metrics from `registry`, /readyz from `ready()`, and /healthz."""
    metrics = make_wsgi_app(registry)

    def app(environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return metrics(environ, start_response)
        if path == "/readyz":
            if ready():
                return _text(start_response, "200 OK", "ready\n")
            return _text(start_response, "503 Service Unavailable", "not ready: loading, or draining\n")
        if path == "/healthz":
            return _text(start_response, "200 OK", "alive\n")
        return _text(start_response, "404 Not Found", "not found: try /metrics, /readyz or /healthz\n")

    return app


class HttpEndpoints:
    """The HTTP server of make_http_app, in a daemon thread."""

    def __init__(self, host: str, port: int, app: WsgiApp):
        address = unbracketed(host)
        try:
            family = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
            server_class = type("Server", (ThreadingWSGIServer,), {"address_family": family})
            self._httpd = make_server(address, port, app, server_class, handler_class=_QuietHandler)
        except OSError as error:
            raise RuntimeError(f"cannot serve HTTP on --metrics-port={port} at {address}: {error}") from None
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="http-endpoints", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
