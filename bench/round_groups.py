"""The groups the targets compare (baselines, server, proxy), measured in every round: each starts
its servers and returns its points by step, for bench/rounds.py to run in ROUND_STEPS order."""

import contextlib
import functools
import json
from collections.abc import Callable

from bench import checks, frames
from bench.points import Bench
from bench.processes import Service, free_port, wait_until
from bench.product import (
    BATCH_ROWS_REST,
    FORM_BODY,
    FORM_TYPE,
    JSON_BODY,
    MODEL_INFER,
    PREDICT,
    PREDICT_BATCH,
    PREDICT_STREAM,
    form_check,
    start_proxy,
    start_server,
)

# A round's points by step (bench/steps.py); each is called with step=its step.
Steps = dict[str, Callable[..., None]]


def start_baseline(bench: Bench, name: str, kind: str) -> Service:
    """`python -m bench.baselines KIND` on a free port (pinned to CPU 0), not yet waited for."""
    port = free_port()
    service = bench.start(name, ["-m", "bench.baselines", kind, "--port", str(port)])
    service.port = port
    return service


def open_baselines(bench: Bench, stack: contextlib.ExitStack) -> Steps:
    """Start the constant-answer servers; their points, by step."""
    steps: Steps = {}
    for kind in ("grpc-threaded", "grpc-aio"):
        service = stack.enter_context(start_baseline(bench, f"const {kind}", kind))
        check = functools.partial(checks.grpc_predict, service.port)
        wait_until(check)
        point = functools.partial(bench.grpc_point, f"constant {kind}", service)
        for streams in (1, 64):
            steps[f"{kind} predict c{streams}"] = functools.partial(point, PREDICT, "predict", streams, check)
        steps[f"{kind} stream64"] = functools.partial(
            point, PREDICT_STREAM, "stream64", 1, check, messages=64
        )
    service = stack.enter_context(start_baseline(bench, "const aiohttp", "aiohttp"))
    check = functools.partial(checks.rest_post, service.port, "/", FORM_BODY.encode(), FORM_TYPE, {})
    wait_until(check)
    for connections in (1, 64):
        steps[f"aiohttp c{connections}"] = functools.partial(
            bench.rest_point,
            "constant aiohttp",
            service,
            "POST / form",
            "/",
            FORM_BODY,
            FORM_TYPE,
            connections,
            check,
        )
    return steps


def open_server(bench: Bench, stack: contextlib.ExitStack) -> Steps:
    """Start the server (recording its start-up for this round); its points, by step."""
    service = stack.enter_context(start_server(bench, "server", []))
    port = service.port
    bench.startup[bench.round] = {
        "seconds_to_serving": service.startup_seconds,
        "idle_rss_mib": service.rss_mib(),
    }
    point = functools.partial(bench.grpc_point, "server (1 worker)", service)
    predict = functools.partial(checks.grpc_predict, port)
    steps: Steps = {}
    for streams in (1, 64):
        steps[f"server predict c{streams}"] = functools.partial(point, PREDICT, "predict", streams, predict)
        steps[f"server batch1000 c{streams}"] = functools.partial(
            point, PREDICT_BATCH, "batch1000", streams, functools.partial(checks.grpc_batch, port), rows=1000
        )
        for rows in (1, 1000):
            steps[f"server infer{rows} c{streams}"] = functools.partial(
                point,
                MODEL_INFER,
                f"infer{rows}",
                streams,
                functools.partial(checks.v2_infer, port, rows),
                rows=rows,
            )
    steps["server stream64"] = functools.partial(
        point, PREDICT_STREAM, "stream64", 1, functools.partial(checks.grpc_stream, port), messages=64
    )
    return steps


def open_proxy(bench: Bench, stack: contextlib.ExitStack) -> Steps:
    """Start a server and the proxy in front of it (both on CPU 0); the proxy's points, by step."""
    server = stack.enter_context(start_server(bench, "server for proxy", []))
    proxy = stack.enter_context(start_proxy(bench, "proxy", server, ["--log-level", "warning"]))
    port, form = proxy.port, form_check(proxy.port)
    point = functools.partial(bench.rest_point, "proxy + server (one core)", proxy)
    json_check = functools.partial(
        checks.rest_post, port, "/", JSON_BODY.encode(), "application/json", {"species": "2"}
    )
    batch = json.dumps({"instances": frames.batch_rows(BATCH_ROWS_REST).tolist()})
    batch_check = functools.partial(
        checks.rest_post, port, "/predict", batch.encode(), "application/json", {}
    )
    steps: Steps = {
        f"proxy form c{connections}": functools.partial(
            point, "POST / form", "/", FORM_BODY, FORM_TYPE, connections, form
        )
        for connections in (1, 64)
    }
    steps["proxy json c64"] = functools.partial(
        point, "POST / json", "/", JSON_BODY, "application/json", 64, json_check
    )
    steps["proxy batch c64"] = functools.partial(
        point,
        f"POST /predict {BATCH_ROWS_REST} rows",
        "/predict",
        batch,
        "application/json",
        64,
        batch_check,
        rows=BATCH_ROWS_REST,
    )
    return steps
