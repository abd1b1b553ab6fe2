"""`make bench`: measure the product against constant-answer baselines in the same run.

Servers run pinned to CPU 0 and the load generators to CPU 1 (taskset); each point has a
warm-up, runs for --seconds, and is checked with a real call before and after. The groups the
targets compare (baselines, server, proxy) run --rounds times, one round after the other: a
shared virtual machine's speed drifts by tens of percent within minutes, so each target is a
ratio within one round, reported as the median over rounds with its range. Within a round those
groups' servers all run at once and their points run in ROUND_STEPS order, so the two points of
each target's ratio are measured one after the other, seconds apart. Results go to
bench/out/results.{md,json}. See README "Performance".
"""

import argparse
import contextlib
import datetime
import functools
import json
import pathlib
import platform
from collections.abc import Callable

from bench import checks, frames, inprocess, loadgen, report, scale, soak, tools
from bench.processes import Service, free_port, wait_until
from bench.product import (
    BATCH_ROWS_REST,
    FORM_BODY,
    FORM_TYPE,
    JSON_BODY,
    LOAD_CPU,
    MODEL_INFER,
    PREDICT,
    PREDICT_BATCH,
    PREDICT_STREAM,
    SERVER_CPU,
    form_check,
    start_proxy,
    start_server,
)

Steps = dict[str, Callable[[], None]]  # a round's points by step name (see ROUND_STEPS)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per point")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each point")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds of the groups the targets compare (baselines, server, proxy)",
    )
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("bench/out"))
    parser.add_argument("--only", default="", help="comma-separated groups to run (default: all)")
    parser.add_argument("--soak-seconds", type=float, default=300.0, help="length of the soak (group soak)")
    parser.add_argument("--soak-window", type=float, default=30.0, help="seconds per soak report window")
    return parser.parse_args()


class Bench:
    """Runs the points of one benchmark and collects their rows."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.rows: list[dict] = []
        self.round: int | None = None  # the round being measured; None for groups measured once
        self.startup: dict[int | None, dict] = {}  # round -> start-up of its server
        self.bodies = frames.write_bodies(args.out / "bodies")
        self.logs = args.out / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, args: list[str], cpu: str | None = SERVER_CPU) -> Service:
        return Service(name, args, cpu, self.logs / f"{name.replace(' ', '_')}.log")

    def grpc_point(
        self,
        group,
        service,
        method,
        body,
        streams,
        check,
        connections=1,
        rows=1,
        messages=1,
        cpu=LOAD_CPU,
        label=None,
        threads=1,
    ):
        url = f"http://127.0.0.1:{service.port}/{method}"
        seconds, warmup = self.args.seconds, self.args.warmup
        self._run(
            group,
            service,
            label or f"{method.rsplit('/', 1)[1]} {body}",
            connections * streams,
            rows,
            messages,
            check,
            lambda: loadgen.h2load(
                url, self.bodies[body], connections, streams, seconds, warmup, cpu, threads
            ),
        )

    def rest_point(
        self,
        group,
        service,
        label,
        path,
        body,
        content_type,
        connections,
        check,
        rows=1,
        cpu=LOAD_CPU,
        threads=1,
    ):
        url = f"http://127.0.0.1:{service.port}{path}"
        seconds, warmup = self.args.seconds, self.args.warmup
        self._run(
            group,
            service,
            label,
            connections,
            rows,
            1,
            check,
            lambda: loadgen.wrk(url, body, content_type, connections, seconds, warmup, cpu, threads),
        )

    def _run(self, group, service, label, concurrency, rows, messages, check, load) -> None:
        row = {
            "group": group,
            "point": label,
            "concurrency": concurrency,
            "rows_per_request": rows,
            "messages_per_request": messages,
            "round": self.round,
        }
        try:
            if not check():
                raise RuntimeError("wrong answer before the load")
            result = load()
            if result.errors:
                raise RuntimeError(f"{result.errors} errors under load")
            if not check():
                raise RuntimeError("wrong answer after the load")
            row.update(
                status="ok",
                rps=result.rps,
                rows_per_s=result.rps * rows,
                messages_per_s=result.rps * messages,
                mean_ms=result.mean_ms,
                p50_ms=result.p50_ms,
                p99_ms=result.p99_ms,
                errors=result.errors,
            )
        except Exception as error:  # a failed point is reported as failed, never as fast
            row.update(status=f"FAILED: {_first_line(error)}")
        row["rss_mib"] = service.rss_mib() if hasattr(service, "rss_mib") else None
        print(report.one_line(row), flush=True)
        self.rows.append(row)


def _first_line(error: Exception) -> str:
    details = getattr(error, "details", None)
    if callable(details):  # a grpc.RpcError
        return f"{error.code().name}: {details()}"
    return (str(error).splitlines() or [type(error).__name__])[0][:200]


def start_baseline(bench: Bench, name: str, kind: str) -> Service:
    """`python -m bench.baselines KIND` on a free port (pinned to CPU 0), not yet waited for."""
    port = free_port()
    service = bench.start(name, ["-m", "bench.baselines", kind, "--port", str(port)])
    service.port = port
    return service


def open_baselines(bench: Bench, stack: contextlib.ExitStack) -> Steps:
    """Start the constant-answer servers; their points, by step name."""
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
    """Start the server (recording its start-up for this round); its points, by step name."""
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
    """Start a server and the proxy in front of it (both on CPU 0); the proxy's points, by step name."""
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


def run_workers(bench: Bench) -> None:
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


def run_ceilings(bench: Bench) -> None:
    """The most targets 1 and 5 could reach with part of the product's work made free
    (bench/variants.py), each point's ratio taken within a round, --rounds rounds."""
    variant = ("-m", "bench.variants")
    with contextlib.ExitStack() as stack:
        constant = stack.enter_context(start_baseline(bench, "ceilings const", "grpc-threaded"))
        wait_until(functools.partial(checks.grpc_predict, constant.port))
        servers = {"constant grpc-threaded": constant}
        for label, program in (
            ("server", ("-m", "server")),
            ("server, constant handler", (*variant, "server-constant-handler")),
            ("server, cached model run", (*variant, "server-cached-model-run")),
        ):
            servers[label] = stack.enter_context(
                start_server(bench, f"ceilings {label}", [], program=program)
            )
        proxy = stack.enter_context(
            start_proxy(
                bench,
                "ceilings proxy no upstream",
                servers["server"],
                ["--log-level", "warning"],
                program=(*variant, "proxy-no-upstream"),
            )
        )
        for index in range(bench.args.rounds):
            bench.round = index
            for label, service in servers.items():
                check = functools.partial(checks.grpc_predict, service.port)
                bench.grpc_point(f"{report.CEILINGS}{label}", service, PREDICT, "predict", 64, check)
            bench.rest_point(
                f"{report.CEILINGS}proxy, no upstream call",
                proxy,
                "POST / form",
                "/",
                FORM_BODY,
                FORM_TYPE,
                64,
                form_check(proxy.port),
            )
        bench.round = None
    for ceiling in report.ceilings(bench.rows):
        print(report.ceiling_line(ceiling), flush=True)


# The groups each target compares, measured in every round: each starts its servers and names
# its points. The server starts first, alone, so that its start-up time is its own.
ROUND_GROUPS: dict[str, Callable[[Bench, contextlib.ExitStack], Steps]] = {
    "server": open_server,
    "baselines": open_baselines,
    "proxy": open_proxy,
}
# The order of a round's points: the two points of each target's ratio one after the other.
ROUND_STEPS = (
    # Concurrency 1. Target 2: server Predict p99 against the constant servers'; target 6: REST
    # p50 against server Predict's.
    "aiohttp c1",
    "grpc-threaded predict c1",
    "grpc-aio predict c1",
    "server predict c1",
    "proxy form c1",
    "server batch1000 c1",
    "server infer1 c1",
    "server infer1000 c1",
    # 64 in flight. Targets 1 and 4: server Predict, PredictBatch and ModelInfer 1,000 rows
    # against the constant servers' Predict; 5 and 3: REST and PredictStream against Predict.
    "grpc-threaded predict c64",
    "grpc-aio predict c64",
    "server batch1000 c64",
    "server infer1000 c64",
    "server predict c64",
    "proxy form c64",
    "server stream64",
    "proxy json c64",
    "proxy batch c64",
    "server infer1 c64",
    "grpc-threaded stream64",
    "grpc-aio stream64",
    "aiohttp c64",
)
GROUPS = {
    "inprocess": None,
    **{name: None for name in ROUND_GROUPS},  # run by run_rounds
    "workers": run_workers,
    "observability": run_observability,
    "soak": run_soak,
    "levers": run_levers,
    "ceilings": run_ceilings,
    "scale": scale.run_scale,
}


def run_round(bench: Bench, selected: list[str]) -> None:
    """Start the selected ROUND_GROUPS' servers, run their points in ROUND_STEPS order, stop them."""
    with contextlib.ExitStack() as stack:
        steps: Steps = {}
        for name, open_group in ROUND_GROUPS.items():
            if name in selected:
                steps.update(open_group(bench, stack))
        unordered = sorted(set(steps) - set(ROUND_STEPS))
        if unordered:
            raise RuntimeError(f"steps missing from ROUND_STEPS: {unordered}")
        for name in ROUND_STEPS:
            if name in steps:
                steps[name]()


def run_rounds(bench: Bench, selected: list[str]) -> list[float]:
    """Run the selected ROUND_GROUPS --rounds times; the host speed probe's ms before each round."""
    probes = []
    for index in range(bench.args.rounds):
        bench.round = index
        probes.append(tools.host_probe_ms(SERVER_CPU))
        print(f"round {index + 1} of {bench.args.rounds}: host speed probe {probes[-1]:.0f} ms", flush=True)
        if any(name in selected for name in ROUND_GROUPS):
            run_round(bench, selected)
    bench.round = None
    return probes


def round_results(bench: Bench) -> list[dict]:
    rounds = sorted({row["round"] for row in bench.rows if row["round"] is not None})
    return [
        {
            "points": [row for row in bench.rows if row["round"] == index],
            "startup": bench.startup.get(index, {}),
        }
        for index in rounds
    ]


def main() -> None:
    args = parse_args()
    selected = [g for g in args.only.split(",") if g] or list(GROUPS)
    tools.require(["h2load", "wrk", "taskset", *(["haproxy"] if "scale" in selected else [])])
    bench = Bench(args)
    bench.soak = None
    inproc = inprocess.measure(SERVER_CPU, args.seconds / 2) if "inprocess" in selected else {}
    probes = run_rounds(bench, selected)
    for name in selected:
        if GROUPS.get(name):
            GROUPS[name](bench)
    results = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": tools.machine_description(),
        "python": platform.python_version(),
        "command": (
            f"make bench  (python -m bench --seconds {args.seconds:g} --warmup {args.warmup:g} "
            f"--rounds {args.rounds})"
        ),
        "host_probe_ms": probes,
        "in_process_onnxruntime": inproc,
        "startup": {str(index): numbers for index, numbers in bench.startup.items()},
        "points": bench.rows,
        "soak": bench.soak,
    }
    results["targets"] = report.combined_targets(round_results(bench))
    results["ceilings"] = report.ceilings(bench.rows)
    results["scale"] = scale.scale_ratios(bench.rows)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    (args.out / "results.md").write_text(report.markdown(results))
    print(f"\nwrote {args.out / 'results.md'} and {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
