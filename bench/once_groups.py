"""The groups measured once, outside the rounds, whose points no target compares: workers,
observability, soak and levers."""

import functools

from bench import checks, report, soak
from bench.points import Bench
from bench.product import (
    FORM_BODY,
    FORM_TYPE,
    LOAD_CPU,
    PREDICT,
    PREDICT_BATCH,
    form_check,
    start_proxy,
    start_server,
)


def run_workers(bench: Bench) -> None:
    """gRPC Predict over 8 connections from a server of 1, then 2, --workers, all unpinned."""
    for workers in (1, 2):
        with start_server(
            bench, f"server {workers} workers", ["--workers", str(workers)], cpu=None
        ) as service:
            bench.grpc_point(
                f"server, {workers} worker(s), unpinned",
                service,
                PREDICT,
                "predict",
                8,
                lambda port=service.port: checks.grpc_predict(port),
                connections=8,
                cpu=None,
            )


# What observability costs: the same points with metrics and access logs on, then off (server
# args, proxy args). start_server gives the server a metrics port unless told 0.
OBSERVABILITY = {
    "on": ([], ["--access-log", "on", "--metrics", "on"]),
    "off": (["--metrics-port", "0"], ["--access-log", "off", "--metrics", "off"]),
}


def run_observability(bench: Bench) -> None:
    """gRPC Predict and REST POST / at 64 in flight, with metrics and access logs on and off."""
    rps = {}
    for switch, (server_args, proxy_args) in OBSERVABILITY.items():
        group = f"observability {switch}"
        with start_server(bench, f"server observability {switch}", server_args) as server:
            predict = functools.partial(checks.grpc_predict, server.port)
            bench.grpc_point(group, server, PREDICT, "predict", 64, predict)
            # INFO, so that the access log, when on, is written (to the log file, as in a container).
            extra = ["--log-level", "info", *proxy_args]
            with start_proxy(bench, f"proxy observability {switch}", server, extra) as proxy:
                form = form_check(proxy.port)
                bench.rest_point(group, proxy, "POST / form", "/", FORM_BODY, FORM_TYPE, 64, form)
        rps[switch] = {row["point"]: row.get("rps") for row in bench.rows if row["group"] == group}
    for point, on in rps["on"].items():
        off = rps["off"].get(point)
        if on and off:
            print(f"observability on costs {point} {1 - on / off:.1%} of its req/s ({on:.0f} vs {off:.0f})")


def run_soak(bench: Bench) -> None:
    """Minutes at about 70% of capacity through the proxy: zero errors, flat RSS, stable p99."""
    with (
        start_server(bench, "server for soak", []) as server,
        start_proxy(bench, "proxy for soak", server, ["--log-level", "warning"]) as proxy,
    ):
        url = f"http://127.0.0.1:{proxy.port}/"
        bench.soak = soak.soak(
            url, [server, proxy], bench.args.soak_seconds, bench.args.soak_window, LOAD_CPU
        )
        print(report.soak_line(bench.soak), flush=True)


def run_levers(bench: Bench) -> None:
    """Levers of the performance work, measured off in the same run: REST POST / with the row
    stream off (c1 and 64 in flight), and with coalescing off too (one unary call per request);
    gRPC Predict and PredictBatch with 32 threads for unary calls, the default before
    server/thread_pools.py."""
    with start_server(bench, "server for levers", []) as server:
        proxies = (
            ("row stream off", ["--row-stream", "off"], (1, 64)),
            ("coalescing and row stream off", ["--row-stream", "off", "--coalesce-max-rows", "1"], (64,)),
        )
        for label, flags, in_flight in proxies:
            with start_proxy(bench, f"proxy, {label}", server, ["--log-level", "warning", *flags]) as proxy:
                for connections in in_flight:
                    bench.rest_point(
                        f"lever: proxy + server, {label}",
                        proxy,
                        "POST / form",
                        "/",
                        FORM_BODY,
                        FORM_TYPE,
                        connections,
                        form_check(proxy.port),
                    )
    with start_server(bench, "server 32 threads", ["--threads", "32"]) as server:
        group = "lever: server --threads 32"
        predict = functools.partial(checks.grpc_predict, server.port)
        bench.grpc_point(group, server, PREDICT, "predict", 64, predict)
        batch = functools.partial(checks.grpc_batch, server.port)
        bench.grpc_point(group, server, PREDICT_BATCH, "batch1000", 64, batch, rows=1000)
