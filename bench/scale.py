"""Group `scale`: how throughput grows with processes, and how the edge spreads one connection's calls.

Servers, proxies and load generators run unpinned (the kernel places them), --rounds times; each
ratio is taken within a round, then the median and range over rounds are reported:
- the server at 1, 2 and 4 --workers: gRPC Predict, 4 connections per worker (SO_REUSEPORT hands
  each connection to one worker);
- the proxy at 1, 2 and 4 --workers in front of a server at SERVER_WORKERS_BEHIND_PROXY workers:
  REST POST / form;
- efficiency of each: rate(N) / (N x rate(1));
- pinning: the server and the proxy at 2 workers with each worker pinned to a CPU of its own
  (os.sched_setaffinity on the worker processes), against the same left free;
- gunicorn: the proxy as 2 of gunicorn's aiohttp workers (bench/gunicorn_proxy.py)
  against 2 SO_REUSEPORT workers, when gunicorn is installed (`pip install gunicorn`);
- the edge: HAProxy with the product's balancing (h2 both sides, round-robin per call) in front
  of 2 servers of 1 worker, at static addresses (the product's edge finds them in Docker's DNS);
  one gRPC connection's calls per server, from each server's own /metrics;
- on a machine of 12 CPUs or more, REST with the proxy and the server at 4 workers each, both
  held to 8 CPUs (taskset), the load on the others.
"""

import contextlib
import functools
import importlib.util
import os
import pathlib
import tempfile
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from bench import checks
from bench.processes import Service, free_port, wait_until
from bench.product import FORM_BODY, FORM_TYPE, PREDICT, form_check, start_proxy, start_server
from bench.ratios import Ratio, ratios_over_rounds

WORKER_COUNTS = (1, 2, 4)
CONNECTIONS_PER_SERVER_WORKER = 4
GRPC_STREAMS = 16  # per connection
REST_CONNECTIONS = 64
SERVER_WORKERS_BEHIND_PROXY = 4
PINNED_WORKERS = 2
EDGE_SERVERS = 2
BUDGET_CPUS = 8  # the goal's "at most 8 cores for proxy and server together"
SCALE = "scale: "
# Load generator threads: one cannot drive several workers' worth of requests.
LOAD_THREADS = max(1, min(4, len(os.sched_getaffinity(0)) // 2))


def worker_pids(service: Service, count: int) -> list[int]:
    """The --workers processes of a parent `service`, once all `count` of them exist."""

    def children() -> list[int]:
        path = pathlib.Path(f"/proc/{service.process.pid}/task/{service.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    wait_until(lambda: len(children()) == count)
    return children()


def pin_workers(service: Service, count: int, pinned: bool = True) -> list[int]:
    """Pin worker i of `service`, every thread of it, to the i-th CPU this process may use (or,
    with pinned=False, free them all again); the CPUs given."""
    cpus = sorted(os.sched_getaffinity(0))
    given = []
    for index, pid in enumerate(sorted(worker_pids(service, count))):
        cpu = cpus[index % len(cpus)]
        for thread in os.listdir(f"/proc/{pid}/task"):
            os.sched_setaffinity(int(thread), {cpu} if pinned else set(cpus))
        given.append(cpu)
    return given


def free_and_pinned(index: int, point, service, count: int) -> None:
    """Measure `point` with the workers left free and pinned, in turn; the order alternates from
    round to round so that neither always runs on the warmer process."""
    order = (False, True) if index % 2 == 0 else (True, False)
    for pinned in order:
        pin_workers(service, count, pinned)
        point(pinned)


def predicts_answered(metrics_port: int) -> float:
    """iris.v1 Predict calls a server answered OK, from its /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "iris_grpc_requests_total"
        and sample.labels == {"method": "/iris.v1.IrisPredictor/Predict", "code": "OK"}
    )


EDGE_CONFIG = """
global
    maxconn 4096
defaults
    mode http
    timeout connect 3s
    timeout client 60s
    timeout server 60s
frontend grpc
    bind 127.0.0.1:{port} proto h2
    default_backend servers
backend servers
    balance roundrobin
{servers}
"""


@contextlib.contextmanager
def haproxy_edge(bench, server_ports: list[int]):
    """HAProxy balancing gRPC calls over `server_ports` (h2 both sides); yields a Service with .port."""
    port = free_port()
    servers = "\n".join(f"    server s{i} 127.0.0.1:{p} proto h2" for i, p in enumerate(server_ports))
    with tempfile.NamedTemporaryFile("w", suffix=".cfg") as config:
        config.write(EDGE_CONFIG.format(port=port, servers=servers))
        config.flush()
        edge = Service("edge", ["-db", "-f", config.name], None, bench.logs / "edge.log", program="haproxy")
        edge.port = port
        with edge:
            edge.wait_ready(lambda: checks.grpc_predict(port))
            yield edge


def run_scale(bench) -> None:
    """Every point of the group, --rounds times; then the ratios (see the module)."""

    def server_point(label: str, service, workers: int) -> None:
        check = functools.partial(checks.grpc_predict, service.port)
        connections = CONNECTIONS_PER_SERVER_WORKER * workers
        point = functools.partial(bench.grpc_point, f"{SCALE}server", service, PREDICT, "predict")
        step = f"scale {label}"
        point(GRPC_STREAMS, check, connections, cpu=None, label=label, threads=LOAD_THREADS, step=step)

    def proxy_point(label: str, proxy, cpu: str | None = None) -> None:
        form = form_check(proxy.port)
        point = functools.partial(bench.rest_point, f"{SCALE}proxy", proxy, label, "/", FORM_BODY, FORM_TYPE)
        point(REST_CONNECTIONS, form, cpu=cpu, threads=LOAD_THREADS, step=f"scale {label}")

    proxy_log = ["--log-level", "warning"]
    gunicorn = importlib.util.find_spec("gunicorn") is not None
    if not gunicorn:
        print("scale: gunicorn is not installed; its point is skipped (pip install gunicorn)", flush=True)
    for index in range(bench.args.rounds):
        bench.round = index
        for workers in WORKER_COUNTS:
            with start_server(
                bench, f"scale server {workers}", ["--workers", str(workers)], cpu=None
            ) as server:
                if workers != PINNED_WORKERS:
                    server_point(f"server {workers} workers", server, workers)
                    continue

                def point(pinned: bool, server=server, workers=workers) -> None:
                    server_point(f"server {workers} workers{' pinned' if pinned else ''}", server, workers)

                free_and_pinned(index, point, server, workers)
        behind = ["--workers", str(SERVER_WORKERS_BEHIND_PROXY)]
        with start_server(bench, "scale server for proxies", behind, cpu=None) as server:
            for workers in WORKER_COUNTS:
                flags = [*proxy_log, "--workers", str(workers)]
                with start_proxy(bench, f"scale proxy {workers}", server, flags, cpu=None) as proxy:
                    if workers != PINNED_WORKERS:
                        proxy_point(f"proxy {workers} workers", proxy)
                        continue

                    def point(pinned: bool, proxy=proxy, workers=workers) -> None:
                        proxy_point(f"proxy {workers} workers{' pinned' if pinned else ''}", proxy)

                    free_and_pinned(index, point, proxy, workers)
            if gunicorn:
                program = ("-m", "bench.gunicorn_proxy")
                flags = [*proxy_log, "--workers", str(PINNED_WORKERS)]
                with start_proxy(bench, "scale gunicorn", server, flags, program=program, cpu=None) as proxy:
                    proxy_point(f"proxy {PINNED_WORKERS} gunicorn workers", proxy)
        run_edge_point(bench)
        if len(os.sched_getaffinity(0)) >= BUDGET_CPUS + 4:
            run_budget_point(bench, proxy_point)
    bench.round = None
    for ratio in scale_ratios(bench.rows):
        print(scale_line(ratio), flush=True)


def run_edge_point(bench) -> None:
    """One gRPC connection through HAProxy to EDGE_SERVERS servers: req/s, and calls per server."""
    with contextlib.ExitStack() as stack:
        metrics_ports = [free_port() for _ in range(EDGE_SERVERS)]
        servers = [
            stack.enter_context(
                start_server(bench, f"scale edge server {i}", ["--metrics-port", str(port)], cpu=None)
            )
            for i, port in enumerate(metrics_ports)
        ]
        edge = stack.enter_context(haproxy_edge(bench, [server.port for server in servers]))
        before = [predicts_answered(port) for port in metrics_ports]
        check = functools.partial(checks.grpc_predict, edge.port)
        label = f"one connection through the edge, {EDGE_SERVERS} servers"
        step = f"scale {label}"
        bench.grpc_point(
            f"{SCALE}edge", edge, PREDICT, "predict", 64, check, cpu=None, label=label, step=step
        )
        calls = [predicts_answered(port) - start for port, start in zip(metrics_ports, before, strict=True)]
        bench.rows[-1]["calls_per_server"] = calls
        print(f"scale: calls per server from one connection through the edge: {calls}", flush=True)


def run_budget_point(bench, proxy_point) -> None:
    """REST with the proxy and the server at 4 workers each, both held to BUDGET_CPUS CPUs."""
    cpus = ",".join(str(cpu) for cpu in sorted(os.sched_getaffinity(0))[:BUDGET_CPUS])
    load_cpus = ",".join(str(cpu) for cpu in sorted(os.sched_getaffinity(0))[BUDGET_CPUS:])
    proxy_flags = ["--log-level", "warning", "--workers", "4"]
    with (
        start_server(bench, "scale budget server", ["--workers", "4"], cpu=cpus) as server,
        start_proxy(bench, "scale budget proxy", server, proxy_flags, cpu=cpus) as proxy,
    ):
        proxy_point(f"proxy 4 + server 4 workers on {BUDGET_CPUS} CPUs", proxy, cpu=load_cpus)


# rate(N) / (N x rate(1)) for each N, and plain ratios of two points
SCALE_RATIOS = (
    *(
        Ratio(
            f"server efficiency at {n} workers",
            f"scale server {n} workers",
            ("scale server 1 workers",),
            per=n,
        )
        for n in WORKER_COUNTS[1:]
    ),
    *(
        Ratio(
            f"proxy efficiency at {n} workers", f"scale proxy {n} workers", ("scale proxy 1 workers",), per=n
        )
        for n in WORKER_COUNTS[1:]
    ),
    Ratio(
        "REST: proxy 4 workers / 1 worker (goal on 16 cores: 3.2)",
        "scale proxy 4 workers",
        ("scale proxy 1 workers",),
    ),
    Ratio("server pinned / free, 2 workers", "scale server 2 workers pinned", ("scale server 2 workers",)),
    Ratio("proxy pinned / free, 2 workers", "scale proxy 2 workers pinned", ("scale proxy 2 workers",)),
    Ratio(
        "proxy: gunicorn / SO_REUSEPORT, 2 workers",
        "scale proxy 2 gunicorn workers",
        ("scale proxy 2 workers",),
    ),
)


def scale_ratios(points: list[dict]) -> list[dict]:
    """SCALE_RATIOS, each within a round, then the median and range over rounds."""
    return ratios_over_rounds(SCALE_RATIOS, points)


def scale_line(ratio: dict) -> str:
    return f"{ratio['ratio']}: {ratio['value']:.2f} ({ratio['low']:.2f}-{ratio['high']:.2f})"
