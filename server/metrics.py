"""What the server measures, as Prometheus metrics (their exposition: server/http_endpoints.py).

Every RPC of every service (iris.v1, KServe V2, health, reflection) passes one interceptor that
counts it by method and final status and times it; each model version reports its runs through
the recorder `inference_recorder` makes for it. Metric names and labels are listed in
docs/operations.md ("Metrics").

The metrics are module globals, as prometheus-client expects. Under --workers each worker writes
them to files in PROMETHEUS_MULTIPROC_DIR, which must be set before this module is imported (the
parent sets it in the workers' environment); gauges then say how workers' values combine.
"""

import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from server.handler_wrapping import WrappingInterceptor, replace_behavior
from server.model import ModelMetadata

# 100 µs to 10 s: a Predict takes a fraction of a millisecond, a large batch or stream seconds.
REQUEST_BUCKETS_SECONDS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
# One onnxruntime call: tens of microseconds for a row, milliseconds for thousands.
INFERENCE_BUCKETS_SECONDS = (
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5,
)  # fmt: skip
BATCH_ROWS_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000)
# No iris_*_created series: they would double the series scraped and tell nothing here.
disable_created_metrics()

# The method label of calls to a method no service has: clients choose those names, and a label
# must not take unboundedly many values.
UNKNOWN_METHOD = "unknown"

GRPC_REQUESTS = Counter(
    "iris_grpc_requests",
    "gRPC calls finished, by full method name and final status code.",
    ["method", "code"],
)
GRPC_REQUEST_DURATION = Histogram(
    "iris_grpc_request_duration_seconds",
    "Time from the handler's start to its end (for streams: the whole stream), by full method name.",
    ["method"],
    buckets=REQUEST_BUCKETS_SECONDS,
)
GRPC_REQUESTS_IN_FLIGHT = Gauge(
    "iris_grpc_requests_in_flight",
    "gRPC calls being handled now (open streams included).",
    multiprocess_mode="livesum",
)
# Labelled by model and version: as many series as versions served since the process started.
PREDICTED_ROWS = Counter("iris_predicted_rows", "Rows the model has answered.", ["model", "version"])
INFERENCE_DURATION = Histogram(
    "iris_inference_duration_seconds",
    "Time of one onnxruntime session run.",
    ["model", "version"],
    buckets=INFERENCE_BUCKETS_SECONDS,
)
BATCH_ROWS = Histogram(
    "iris_batch_rows", "Rows per onnxruntime session run.", ["model", "version"], buckets=BATCH_ROWS_BUCKETS
)
MODEL_INFO = Gauge(
    "iris_model_info",
    "1 for each model version served, 0 once it is unloaded.",
    ["model", "version", "sha256"],
    multiprocess_mode="livemax",
)
MODEL_LOAD_FAILURES = Counter(
    "iris_model_load_failures",
    "Model versions refused: unreadable, corrupt, wrong graph, or failed warm-up.",
    ["model", "version"],
)


# Under --workers, each worker's own value, labelled with its pid, so the parent's /readyz can ask
# whether every worker is ready (server/workers.py).
SERVING = Gauge(
    "iris_serving",
    "1 while this process takes calls (health SERVING), 0 while it loads, warms up or drains.",
    multiprocess_mode="liveall",
)


def set_serving(serving: bool) -> None:
    SERVING.set(1 if serving else 0)


def serving_pids(registry: CollectorRegistry) -> set[int]:
    """The worker processes whose iris_serving is 1, from a --workers parent's registry."""
    return {
        int(sample.labels["pid"])
        for family in registry.collect()
        if family.name == "iris_serving"
        for sample in family.samples
        if sample.value == 1 and "pid" in sample.labels
    }


def set_model_info(metadata: ModelMetadata, served: bool) -> None:
    MODEL_INFO.labels(metadata.name, str(metadata.version), metadata.sha256).set(1 if served else 0)


def count_load_failure(name: str, version: int) -> None:
    MODEL_LOAD_FAILURES.labels(name, str(version)).inc()


def inference_recorder(metadata: ModelMetadata) -> Callable[[int, float], None]:
    """What OnnxModel.on_inference calls after each run of this model version: record its rows and time."""
    labels = (metadata.name, str(metadata.version))
    rows, duration, batch_rows = (
        PREDICTED_ROWS.labels(*labels),
        INFERENCE_DURATION.labels(*labels),
        BATCH_ROWS.labels(*labels),
    )

    def observe(count: int, seconds: float) -> None:
        rows.inc(count)
        duration.observe(seconds)
        batch_rows.observe(count)

    return observe


def _final_code(context: grpc.ServicerContext, raised: bool, streaming: bool) -> str:
    """The status the call ends with: as set by context.abort or set_code, else by what happened.

    A handler that raised failed (UNKNOWN, as gRPC answers), unless the call had already ended:
    a handler reading the requests of a call its client cancelled (or whose deadline passed) gets
    grpc.RpcError from the request iterator, which gRPC takes for the end of the call, and so do
    these counts (e.g. reflection's ServerReflectionInfo, which grpcurl cancels when done).

    Whether the client went away is asked only of streams and of handlers that raised: `is_active`
    takes the call's lock, a measurable share of a loaded unary call (an interleaved A/B;
    `git log -S is_active -- server/metrics.py` has its numbers). A unary handler that returned
    counts OK unless its deadline had
    passed, as go-grpc-prometheus counts it (by what the handler did).
    """
    code = context.code()
    if code is not None:
        return code.name
    client_left = (raised or streaming) and not context.is_active()
    if raised and not client_left:
        return "UNKNOWN"
    if context.time_remaining() <= 0:
        return "DEADLINE_EXCEEDED"
    if client_left:
        return "CANCELLED"
    return "OK"


class _MethodMetrics:
    """The metric children of one method, looked up once instead of on every call."""

    def __init__(self, method: str):
        self.method = method
        self.duration = GRPC_REQUEST_DURATION.labels(method)
        self._requests: dict[str, Any] = {}

    def finish(self, code: str, started: float) -> None:
        GRPC_REQUESTS_IN_FLIGHT.dec()
        self.duration.observe(time.perf_counter() - started)
        counter = self._requests.get(code)
        if counter is None:
            counter = self._requests[code] = GRPC_REQUESTS.labels(self.method, code)
        counter.inc()


def _measured_unary_response(behavior: Callable[..., Any], metrics: _MethodMetrics) -> Callable[..., Any]:
    def measured(request: Any, context: grpc.ServicerContext) -> Any:
        started = time.perf_counter()
        GRPC_REQUESTS_IN_FLIGHT.inc()
        raised = True
        try:
            response = behavior(request, context)
            raised = False
            return response
        finally:
            metrics.finish(_final_code(context, raised, streaming=False), started)

    return measured


def _measured_stream_response(
    behavior: Callable[..., Iterator[Any]], metrics: _MethodMetrics
) -> Callable[..., Iterator[Any]]:
    def measured(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        started = time.perf_counter()
        GRPC_REQUESTS_IN_FLIGHT.inc()
        raised = True
        try:
            yield from behavior(request, context)
            raised = False
        except GeneratorExit:  # gRPC dropped the stream: the call ended before the handler did
            raised = False
            raise
        finally:
            metrics.finish(_final_code(context, raised, streaming=True), started)

    return measured


def _measured(handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
    metrics = _MethodMetrics(method)
    wrap = _measured_stream_response if handler.response_streaming else _measured_unary_response
    return replace_behavior(handler, lambda behavior: wrap(behavior, metrics))


class MetricsInterceptor(WrappingInterceptor):
    """Counts and times every call of every service; method label = full name, /package.Service/Method."""

    def __init__(self) -> None:
        super().__init__(_measured)

    def on_unknown_method(self, method: str) -> None:
        GRPC_REQUESTS.labels(UNKNOWN_METHOD, "UNIMPLEMENTED").inc()
