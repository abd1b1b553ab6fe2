"""The proxy's Prometheus metrics, answered at GET /metrics on the proxy's own port.

Each app has its own registry (tests build many apps in one process): HTTP requests by route
template, method and status, their latency and how many are in flight (recorded by
proxy.middlewares.make_request_record_middleware, with the access log); the gRPC
calls made upstream by method and status (one channel interceptor, so every call on the channel
counts, whichever route made it); and the standard process_* and python_* metrics. Names and
labels are listed in docs/operations.md ("Metrics").
"""

import asyncio
import os
from typing import Any

import grpc
from aiohttp import web
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.exposition import choose_encoder

from common.names import IRIS_SERVICE
from common.worker_metrics import workers_registry
from common.workers import MULTIPROC_DIR_ENV

# No iris_*_created series: they would double the series scraped and tell nothing here.
disable_created_metrics()

# 100 µs to 10 s: the proxy answers in about a millisecond, a large batch or a slow server takes seconds.
REQUEST_BUCKETS_SECONDS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
# Clients choose the method; any other than these is counted as "other", so labels stay few.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
PREDICT_STREAM_METHOD = f"/{IRIS_SERVICE}/PredictStream"  # as gRPC names it in the interceptor


class InFlightCount:
    """A plain count of requests being handled, read at scrape time: the proxy answers requests on
    one thread, and a locked Gauge.inc() and dec() per request cost more."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def inc(self) -> None:
        self.value += 1

    def dec(self) -> None:
        self.value -= 1


class ProxyMetrics:
    """The proxy's metrics in their own registry (which also reports the process).

    Under --workers (PROMETHEUS_MULTIPROC_DIR set by the parent, see common/worker_metrics.py) each
    worker writes its values to the shared directory and answers GET /metrics with the sum over
    every worker, and each worker's process_* metrics labelled by `worker`.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        workers_directory = os.environ.get(MULTIPROC_DIR_ENV)
        if workers_directory is None:
            for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
                self.registry.register(collector)
        self.http_requests = Counter(
            "iris_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.http_request_duration = Histogram(
            "iris_http_request_duration_seconds",
            "Time from the request reaching the proxy's handlers to its response, by route template.",
            ["route"],
            buckets=REQUEST_BUCKETS_SECONDS,
            registry=self.registry,
        )
        in_flight = Gauge(
            "iris_http_requests_in_flight",
            "HTTP requests being handled now.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.http_requests_in_flight: InFlightCount | Gauge = in_flight
        if workers_directory is None:
            self.http_requests_in_flight = count = InFlightCount()
            in_flight.set_function(lambda: count.value)
        self.upstream_requests = Counter(
            "iris_upstream_requests",
            "gRPC calls the proxy made to the server(s), by full method name and final status code "
            "(for PredictStream: rows sent on the proxy's row stream, by how each ended).",
            ["method", "code"],
            registry=self.registry,
        )
        # (route, method, status) -> its latency histogram and request counter. Routes are
        # templates and methods a fixed set, so the keys are few.
        self._request_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._exposed = self.registry
        if workers_directory is not None:
            self._exposed = workers_registry(workers_directory, parent_pid=os.getppid())

    def record_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request of `route` (a template) and observe its latency."""
        method = method if method in HTTP_METHODS else OTHER_METHOD
        key = (route, method, status)
        series = self._request_series.get(key)
        if series is None:
            series = self._request_series[key] = (
                self.http_request_duration.labels(route),
                self.http_requests.labels(route, method, str(status)),
            )
        duration, count = series
        duration.observe(seconds)
        count.inc()

    def count_stream_row(self, code: str) -> None:
        """Count one row sent on the proxy's row stream (proxy/row_stream.py), by how it ended."""
        self.upstream_requests.labels(PREDICT_STREAM_METHOD, code).inc()

    def exposition(self, accept: str) -> tuple[bytes, str]:
        """The metrics and their content type, in the format the Accept header asks for (as the
        server's /metrics does): Prometheus text by default, OpenMetrics if preferred."""
        encode, content_type = choose_encoder(accept)
        return encode(self._exposed), content_type


METRICS = web.AppKey("metrics", ProxyMetrics)


class UpstreamMetricsInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Counts each unary call made on the channel by method and final status (retries are one call)."""

    def __init__(self, metrics: ProxyMetrics) -> None:
        self._metrics = metrics
        self._method_names: dict[bytes | str, str] = {}

    def _method_name(self, method: bytes | str) -> str:
        name = self._method_names.get(method)
        if name is None:
            name = self._method_names[method] = method.decode() if isinstance(method, bytes) else method
        return name

    async def intercept_unary_unary(
        self, continuation: Any, client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        call = await continuation(client_call_details, request)
        code = "UNKNOWN"
        try:
            await call  # the caller awaits the same call again and gets the same reply or error
            code = "OK"
        except grpc.aio.AioRpcError as error:
            code = error.code().name
        except asyncio.CancelledError:  # the HTTP client went away
            code = "CANCELLED"
            raise
        finally:
            self._metrics.upstream_requests.labels(self._method_name(client_call_details.method), code).inc()
        return call


async def metrics_endpoint(request: web.Request) -> web.Response:
    """GET /metrics: the proxy's metrics in Prometheus text (or OpenMetrics) format."""
    body, content_type = request.app[METRICS].exposition(request.headers.get("Accept", ""))
    return web.Response(body=body, headers={"Content-Type": content_type})
