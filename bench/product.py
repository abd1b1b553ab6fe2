"""Start the product's processes for the benchmark's points, and the requests their checks send.

Servers run pinned to SERVER_CPU and load generators to LOAD_CPU unless a group says otherwise.
"""

import functools
import json
import time
from collections.abc import Callable

from bench import checks, frames
from bench.processes import Service, free_port

SERVER_CPU, LOAD_CPU = "0", "1"
FORM_BODY = "sepal_length=6.8&sepal_width=3.2&petal_length=5.9&petal_width=2.3"
JSON_BODY = json.dumps(
    dict(zip(["sepal_length", "sepal_width", "petal_length", "petal_width"], frames.VIRGINICA, strict=True))
)
BATCH_ROWS_REST = 100
FORM_TYPE = "application/x-www-form-urlencoded"
PREDICT = "iris.v1.IrisPredictor/Predict"
PREDICT_STREAM = "iris.v1.IrisPredictor/PredictStream"
PREDICT_BATCH = "iris.v1.IrisPredictor/PredictBatch"
MODEL_INFER = "inference.GRPCInferenceService/ModelInfer"


def start_server(
    bench, name: str, extra: list[str], cpu: str | None = SERVER_CPU, program: tuple = ("-m", "server")
) -> Service:
    """`python -m server` (or another `program` taking its flags) on a free port, once healthy."""
    port = free_port()
    started = time.monotonic()
    # Its own metrics port (not the default 9090, which another server may hold); `extra` may override.
    metrics = ["--metrics-port", str(free_port())]
    args = [*program, "--port", str(port), *metrics, "--log-level", "warning", *extra]
    service = bench.start(name, args, cpu)
    service.port = port
    service.wait_ready(lambda: checks.grpc_health(port))
    service.startup_seconds = time.monotonic() - started
    return service


def form_check(port: int) -> Callable[[], bool]:
    """A real POST / form call through the proxy on `port`, answered with species "2"."""
    return functools.partial(checks.rest_post, port, "/", FORM_BODY.encode(), FORM_TYPE, {"species": "2"})


def start_proxy(
    bench,
    name: str,
    server: Service,
    extra: list[str],
    program: tuple = ("-m", "proxy"),
    cpu: str | None = SERVER_CPU,
) -> Service:
    """A proxy in front of `server` (pinned to CPU 0 with it), returned once POST / answers right."""
    port = free_port()
    args = [*program, "--port", str(port), "--upstream", f"127.0.0.1:{server.port}", *extra]
    proxy = bench.start(name, args, cpu)
    proxy.port = port
    proxy.wait_ready(form_check(port))
    return proxy
