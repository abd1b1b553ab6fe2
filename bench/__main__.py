"""`make bench`: measure the product against constant-answer baselines in the same run.

Servers run pinned to CPU 0 and the load generators to CPU 1 (taskset); each point has a
warm-up, runs for --seconds, and is checked with a real call before and after. The groups the
targets compare (baselines, server, proxy) run --rounds times, one round after the other: a
shared virtual machine's speed drifts by tens of percent within minutes, so each target is a
ratio within one round, reported as the median over rounds with its range. Results go to
bench/out/results.{md,json}. See README "Performance".
"""

import argparse
import datetime
import functools
import json
import pathlib
import platform
import time
from collections.abc import Callable

from bench import checks, frames, inprocess, loadgen, report, soak, tools
from bench.processes import Service, free_port, wait_until

SERVER_CPU, LOAD_CPU = "0", "1"
FORM_BODY = "sepal_length=6.8&sepal_width=3.2&petal_length=5.9&petal_width=2.3"
JSON_BODY = json.dumps(
    dict(zip(["sepal_length", "sepal_width", "petal_length", "petal_width"], frames.VIRGINICA, strict=True))
)
BATCH_ROWS_REST = 100
FORM_TYPE = "application/x-www-form-urlencoded"


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
        self, group, service, method, body, streams, check, connections=1, rows=1, messages=1, cpu=LOAD_CPU
    ):
        url = f"http://127.0.0.1:{service.port}/{method}"
        self._run(
            group,
            service,
            f"{method.rsplit('/', 1)[1]} {body}",
            connections * streams,
            rows,
            messages,
            check,
            lambda: loadgen.h2load(
                url, self.bodies[body], connections, streams, self.args.seconds, self.args.warmup, cpu
            ),
        )

    def rest_point(self, group, service, label, path, body, content_type, connections, check, rows=1):
        url = f"http://127.0.0.1:{service.port}{path}"
        self._run(
            group,
            service,
            label,
            connections,
            rows,
            1,
            check,
            lambda: loadgen.wrk(
                url, body, content_type, connections, self.args.seconds, self.args.warmup, LOAD_CPU
            ),
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


def run_baselines(bench: Bench) -> None:
    for kind in ("grpc-threaded", "grpc-aio"):
        port = free_port()
        with bench.start(f"const {kind}", ["-m", "bench.baselines", kind, "--port", str(port)]) as service:
            service.port = port
            check = functools.partial(checks.grpc_predict, port)
            wait_until(check)
            group = f"constant {kind}"
            bench.grpc_point(group, service, "iris.v1.IrisPredictor/Predict", "predict", 1, check)
            bench.grpc_point(group, service, "iris.v1.IrisPredictor/Predict", "predict", 64, check)
            bench.grpc_point(
                group, service, "iris.v1.IrisPredictor/PredictStream", "stream64", 1, check, messages=64
            )
    port = free_port()
    with bench.start("const aiohttp", ["-m", "bench.baselines", "aiohttp", "--port", str(port)]) as service:
        service.port = port
        check = functools.partial(
            checks.rest_post, port, "/", FORM_BODY.encode(), "application/x-www-form-urlencoded", {}
        )
        wait_until(check)
        for connections in (1, 64):
            bench.rest_point(
                "constant aiohttp",
                service,
                "POST / form",
                "/",
                FORM_BODY,
                "application/x-www-form-urlencoded",
                connections,
                check,
            )


def start_server(bench: Bench, name: str, extra: list[str], cpu: str | None = SERVER_CPU) -> Service:
    port = free_port()
    started = time.monotonic()
    # Its own metrics port (not the default 9090, which another server may hold); `extra` may override.
    metrics = ["--metrics-port", str(free_port())]
    args = ["-m", "server", "--port", str(port), *metrics, "--log-level", "warning", *extra]
    service = bench.start(name, args, cpu)
    service.port = port
    wait_until(lambda: checks.grpc_health(port))
    service.startup_seconds = time.monotonic() - started
    return service


def run_server(bench: Bench) -> None:
    with start_server(bench, "server", []) as service:
        port = service.port
        group = "server (1 worker)"
        bench.startup[bench.round] = {
            "seconds_to_serving": service.startup_seconds,
            "idle_rss_mib": service.rss_mib(),
        }
        predict = lambda: checks.grpc_predict(port)  # noqa: E731
        bench.grpc_point(group, service, "iris.v1.IrisPredictor/Predict", "predict", 1, predict)
        bench.grpc_point(group, service, "iris.v1.IrisPredictor/Predict", "predict", 64, predict)
        bench.grpc_point(
            group,
            service,
            "iris.v1.IrisPredictor/PredictStream",
            "stream64",
            1,
            lambda: checks.grpc_stream(port),
            messages=64,
        )
        for streams in (1, 64):
            bench.grpc_point(
                group,
                service,
                "iris.v1.IrisPredictor/PredictBatch",
                "batch1000",
                streams,
                lambda: checks.grpc_batch(port),
                rows=1000,
            )
        for rows, streams in ((1, 1), (1, 64), (1000, 1), (1000, 64)):
            bench.grpc_point(
                group,
                service,
                "inference.GRPCInferenceService/ModelInfer",
                f"infer{rows}",
                streams,
                lambda rows=rows: checks.v2_infer(port, rows),
                rows=rows,
            )


def form_check(port: int) -> Callable[[], bool]:
    """A real POST / form call through the proxy on `port`, answered with species "2"."""
    return functools.partial(checks.rest_post, port, "/", FORM_BODY.encode(), FORM_TYPE, {"species": "2"})


def start_proxy(bench: Bench, name: str, server: Service, extra: list[str]) -> Service:
    """A proxy in front of `server` (pinned to CPU 0 with it), returned once POST / answers right."""
    port = free_port()
    args = ["-m", "proxy", "--port", str(port), "--upstream", f"127.0.0.1:{server.port}", *extra]
    proxy = bench.start(name, args)
    proxy.port = port
    try:
        wait_until(form_check(port))
    except BaseException:
        proxy.stop()
        raise
    return proxy


def run_proxy(bench: Bench) -> None:
    with (
        start_server(bench, "server for proxy", []) as server,
        start_proxy(bench, "proxy", server, ["--log-level", "warning"]) as proxy,
    ):
        port, form = proxy.port, form_check(proxy.port)
        group = "proxy + server (one core)"
        for connections in (1, 64):
            bench.rest_point(group, proxy, "POST / form", "/", FORM_BODY, FORM_TYPE, connections, form)
        json_check = functools.partial(
            checks.rest_post, port, "/", JSON_BODY.encode(), "application/json", {"species": "2"}
        )
        bench.rest_point(group, proxy, "POST / json", "/", JSON_BODY, "application/json", 64, json_check)
        batch = json.dumps({"instances": frames.batch_rows(BATCH_ROWS_REST).tolist()})
        batch_check = lambda: checks.rest_post(port, "/predict", batch.encode(), "application/json", {})  # noqa: E731
        bench.rest_point(
            group,
            proxy,
            f"POST /predict {BATCH_ROWS_REST} rows",
            "/predict",
            batch,
            "application/json",
            64,
            batch_check,
            rows=BATCH_ROWS_REST,
        )


def run_workers(bench: Bench) -> None:
    for workers in (1, 2):
        with start_server(
            bench, f"server {workers} workers", ["--workers", str(workers)], cpu=None
        ) as service:
            bench.grpc_point(
                f"server, {workers} worker(s), unpinned",
                service,
                "iris.v1.IrisPredictor/Predict",
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
            bench.grpc_point(group, server, "iris.v1.IrisPredictor/Predict", "predict", 64, predict)
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
    gRPC Predict with 4 handler threads."""
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
    with start_server(bench, "server 4 threads", ["--threads", "4"]) as server:
        predict = functools.partial(checks.grpc_predict, server.port)
        bench.grpc_point(
            "lever: server --threads 4", server, "iris.v1.IrisPredictor/Predict", "predict", 64, predict
        )


GROUPS = {
    "inprocess": None,
    "baselines": run_baselines,
    "server": run_server,
    "proxy": run_proxy,
    "workers": run_workers,
    "observability": run_observability,
    "soak": run_soak,
    "levers": run_levers,
}


# The groups each target compares: measured in every round.
ROUND_GROUPS = ("baselines", "server", "proxy")


def run_rounds(bench: Bench, selected: list[str]) -> list[float]:
    """Run the selected ROUND_GROUPS --rounds times; the host speed probe's ms before each round."""
    probes = []
    for index in range(bench.args.rounds):
        bench.round = index
        probes.append(tools.host_probe_ms(SERVER_CPU))
        print(f"round {index + 1} of {bench.args.rounds}: host speed probe {probes[-1]:.0f} ms", flush=True)
        for name in (g for g in ROUND_GROUPS if g in selected):
            GROUPS[name](bench)
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
    tools.require(["h2load", "wrk", "taskset"])
    bench = Bench(args)
    bench.soak = None
    selected = [g for g in args.only.split(",") if g] or list(GROUPS)
    inproc = inprocess.measure(SERVER_CPU, args.seconds / 2) if "inprocess" in selected else {}
    probes = run_rounds(bench, selected)
    for name in selected:
        if GROUPS.get(name) and name not in ROUND_GROUPS:
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
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    (args.out / "results.md").write_text(report.markdown(results))
    print(f"\nwrote {args.out / 'results.md'} and {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
