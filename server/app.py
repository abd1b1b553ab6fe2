"""Builds and runs one gRPC server process: load the repository's models, serve them (and keep
them in step with the repository, server/repository_watcher.py), drain on SIGTERM/SIGINT.

The threaded grpc.server outran grpc.aio here (`python -m bench --only baselines`,
docs/performance.md). onnxruntime releases the GIL while it runs, so a slow model call holds one
handler thread and nothing else; health checks need only a free thread, and PredictStream calls
may take at most half of them.
"""

import contextlib
import dataclasses
import functools
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import REGISTRY

from common.logs import configure_logging, log_event
from common.names import ACCEPTING_CALLS_HEALTH_NAME, IRIS_SERVICE, V2_SERVICE
from inference_pb import grpc_predict_v2_pb2_grpc
from server import inference_v2, iris_wire, service
from server.config import Settings
from server.http_endpoints import HttpEndpoints, make_http_app
from server.metrics import (
    MetricsInterceptor,
    count_load_failure,
    inference_recorder,
    set_model_info,
    set_serving,
)
from server.model import OnnxModel
from server.repository import ModelLoadError, ModelRepository
from server.repository_watcher import LoadOptions, ModelEvents, RepositoryWatcher
from server.request_decoding import UndecodableRequestInterceptor
from server.served_models import ServedModels, describe_served
from server.thread_pools import StreamingCallsPool
from server.tls import add_port, describe

logger = logging.getLogger("server")
# Calls still running on a connection past --max-connection-age-seconds get this long to finish.
MAX_CONNECTION_AGE_GRACE_SECONDS = 5.0


@dataclasses.dataclass(frozen=True)
class ApiService:
    """A prediction API: its full service name (for health and reflection) and how to add it."""

    name: str
    add_to_server: Callable[[grpc.Server], None]
    # Told when the model becomes ready or stops being so, for APIs that report readiness themselves.
    set_serving: Callable[[bool], None] | None = None


def api_services(served: ServedModels, settings: Settings) -> list[ApiService]:
    """Every prediction API this server offers, all over the same served models (health and
    reflection list each one)."""
    iris = service.IrisPredictorService(
        served,
        settings.model_name,
        max_open_streams=settings.stream_threads // 2,
        max_batch_rows=settings.max_batch_rows,
    )
    v2 = inference_v2.InferenceService(served)
    return [
        ApiService(IRIS_SERVICE, functools.partial(iris_wire.add_iris_predictor, iris)),
        ApiService(
            V2_SERVICE,
            functools.partial(grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server, v2),
            v2.set_serving,
        ),
    ]


@dataclasses.dataclass(frozen=True)
class RunningServer:
    server: grpc.Server
    health: health.HealthServicer
    service_names: list[str]  # the API services, whose health follows the model's readiness
    port: int
    serving_hooks: list[Callable[[bool], None]] = dataclasses.field(default_factory=list)

    def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *self.service_names):
            self.health.set(name, status)
        set_serving(serving)  # what GET /readyz answers (server/http_endpoints.py)
        for hook in self.serving_hooks:
            hook(serving)


def start_server(settings: Settings, served: ServedModels) -> RunningServer:
    """Start serving `served` on settings.address with health NOT_SERVING (see RunningServer.set_serving).

    Raises RuntimeError if the address cannot be bound.
    """
    services = api_services(served, settings)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.threads, thread_name_prefix="grpc-handler"),
        options=[
            # Larger messages get RESOURCE_EXHAUSTED from gRPC itself, before any handler runs.
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", settings.max_message_bytes),
            # Worker processes share the port; a lone server must fail if the port is taken.
            ("grpc.so_reuseport", 1 if settings.workers > 1 else 0),
            *connection_age_options(settings.max_connection_age_seconds),
        ],
        # Streaming calls on their own threads; then metrics, so they count the INVALID_ARGUMENT of
        # an undecodable request too.
        interceptors=[
            StreamingCallsPool(
                futures.ThreadPoolExecutor(
                    max_workers=settings.stream_threads, thread_name_prefix="grpc-stream"
                )
            ),
            *([MetricsInterceptor()] if settings.metrics_port else []),
            UndecodableRequestInterceptor(),
        ],
        # Checked by gRPC before a call takes a thread or a queue slot: excess calls are refused
        # with RESOURCE_EXHAUSTED at once (the proxy answers 429 + Retry-After).
        maximum_concurrent_rpcs=settings.max_concurrent_requests,
    )
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for api in services:
        api.add_to_server(server)
    names = [api.name for api in services]
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    hooks = [api.set_serving for api in services if api.set_serving is not None]
    running = RunningServer(server, health_servicer, names, add_port(server, settings), hooks)
    running.set_serving(False)
    health_servicer.set(ACCEPTING_CALLS_HEALTH_NAME, health_pb2.HealthCheckResponse.SERVING)
    server.start()
    return running


def connection_age_options(max_age_seconds: float) -> list[tuple[str, int]]:
    """gRPC options closing each connection after `max_age_seconds` (0: never), after which its
    client reconnects and re-resolves DNS, so replicas added meanwhile get their share of calls."""
    if not max_age_seconds:
        return []
    return [
        ("grpc.max_connection_age_ms", round(max_age_seconds * 1000)),
        ("grpc.max_connection_age_grace_ms", round(MAX_CONNECTION_AGE_GRACE_SECONDS * 1000)),
    ]


def serve_http(settings: Settings, worker_index: int | None) -> HttpEndpoints | None:
    """With --metrics-port set, serve /metrics, /readyz and /healthz (a --workers parent serves
    them for its workers instead: see server/workers.py). Raises RuntimeError."""
    if not settings.metrics_port or worker_index is not None:
        return None
    app = make_http_app(REGISTRY, lambda: REGISTRY.get_sample_value("iris_serving") == 1)
    return HttpEndpoints(settings.host, settings.metrics_port, app)


def model_events(settings: Settings) -> ModelEvents:
    """With --metrics-port set, each version's runs are recorded, and what is served and refused."""
    if not settings.metrics_port:
        return ModelEvents()

    def loaded(model: OnnxModel) -> None:
        model.on_inference = inference_recorder(model.metadata)
        set_model_info(model.metadata, served=True)

    return ModelEvents(
        loaded=loaded,
        unloaded=lambda model: set_model_info(model.metadata, served=False),
        refused=count_load_failure,
    )


def watch_repository(settings: Settings, served: ServedModels) -> RepositoryWatcher:
    """Load what the repository and the policies say, once; ModelLoadError, naming every problem,
    if the poll found any (a model with no version to serve, a --models name not in the repository,
    an unreadable repository or config.json) or nothing to serve at all.
    """
    repository = ModelRepository(settings.repository)
    watcher = RepositoryWatcher(
        repository,
        served,
        models=settings.models,
        default_policy=settings.version_policy,
        options=LoadOptions(settings.intra_op_threads, settings.inter_op_threads, settings.max_batch_rows),
        checks=[functools.partial(service.check_iris_model, settings.model_name)],
        events=model_events(settings),
    )
    problems = watcher.poll()
    if problems or not served.snapshot.models:
        raise ModelLoadError("; ".join(problems) or f"no model to serve in repository {settings.repository}")
    return watcher


# The main thread waits in short slices: a signal that the kernel hands to one of gRPC's threads
# only runs its Python handler once the main thread is back in the interpreter.
SIGNAL_POLL_SECONDS = 0.5


class StopRequest:
    """Set by the first SIGTERM or SIGINT; later ones change nothing (the drain is under way)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name = ""

    def install(self) -> "StopRequest":
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, _frame: object) -> None:
        if not self.event.is_set():
            self.signal_name = signal.Signals(signum).name
            self.event.set()


def serve(settings: Settings, worker_index: int | None = None) -> int:
    """Run the server until SIGTERM or SIGINT, then drain; the exit code (0, or 1 if it cannot start)."""
    configure_logging(settings.log_level, settings.log_format)
    stop = StopRequest().install()
    with contextlib.ExitStack() as resources:
        try:
            http = serve_http(settings, worker_index)  # /readyz says 503 while the model loads
            if http is not None:
                resources.callback(http.stop)
            served = ServedModels()
            running = start_server(settings, served)  # health says NOT_SERVING while models load
            resources.callback(running.server.stop, None)
            watcher = watch_repository(settings, served)
        except (ModelLoadError, RuntimeError) as error:
            log_event(logger, logging.ERROR, f"server cannot start: {error}", error=str(error))
            return 1
        running.set_serving(True)
        log_started(settings, running, served, worker_index, http)
        if settings.poll_seconds:
            watcher.start(settings.poll_seconds)
            resources.callback(watcher.stop)
        while not stop.event.wait(SIGNAL_POLL_SECONDS):
            pass
        drain(settings, running, stop.signal_name)
    log_event(logger, logging.INFO, "server stopped", pid=os.getpid())
    return 0


def log_started(
    settings: Settings,
    running: RunningServer,
    served: ServedModels,
    worker: int | None,
    http: HttpEndpoints | None,
) -> None:
    log_event(
        logger,
        logging.INFO,
        "server started",
        models=describe_served(served.snapshot),
        iris_model=settings.model_name,
        repository=str(settings.repository),
        poll_seconds=settings.poll_seconds,
        address=settings.address,
        port=running.port,
        workers=settings.workers,
        worker=worker,
        pid=os.getpid(),
        threads=settings.threads,
        stream_threads=settings.stream_threads,
        max_batch_rows=settings.max_batch_rows,
        max_message_bytes=settings.max_message_bytes,
        max_concurrent_requests=settings.max_concurrent_requests,
        transport=describe(settings),
        metrics_port=http.port if http else None,
    )


def drain(settings: Settings, running: RunningServer, signal_name: str) -> None:
    """Say NOT_SERVING, keep answering for --drain-seconds, then stop within --grace-seconds."""
    log_event(
        logger,
        logging.INFO,
        "server draining",
        signal=signal_name,
        grace_seconds=settings.grace_seconds,
        drain_seconds=settings.drain_seconds,
    )
    running.set_serving(False)
    running.health.enter_graceful_shutdown()  # NOT_SERVING for every name, accepting calls too, for good
    # Still answering: clients watching health (the proxy, the edge) stop sending calls here
    # meanwhile. gRPC cancels (CANCELLED, never retried) calls that reach it after stop() starts
    # refusing new ones.
    time.sleep(settings.drain_seconds)
    running.server.stop(settings.grace_seconds).wait()  # refuse new calls; in-flight ones get the grace
