"""Group `repository`: the hot path with many models served, and a version switch under load.

1. Many models. Two servers on CPU 0, both with --version-policy all: "single" over a repository
   holding iris/1 alone, "many" over one holding iris versions 1-3 and OTHER_MODELS more models
   (copies of iris under other names), MANY_VERSIONS versions in all. Each point (Predict at 1 and
   64 in flight, ModelInfer of one row at 64, from h2load on CPU 1) runs on one server then the
   other, the order alternating from round to round, --rounds times; each ratio many / single is
   taken within a round, then the median and range over rounds are reported. Both servers run
   through a round, started afresh each round; the one not measured idles, polling its repository
   every 2 s.
2. A version switch under load. A server over a repository holding iris/1, at --poll-seconds 2 (the
   default) and then 0.2, answers SWITCH_RATE_PER_S Predict calls a second from bench/switch_load.py
   (grpc.aio, an open loop, on CPU 1) while the bench publishes iris versions 2 to 6, one every
   few seconds, each a staging directory renamed into place (bench/publishing.py);
   bench/version_switches.py sets each call against the publications.
"""

import functools
import time

import numpy as np

from bench import checks, version_switches
from bench.processes import wait_until
from bench.product import LOAD_CPU, MODEL_INFER, PREDICT, start_server
from bench.publishing import fresh_repository, publish_copy
from bench.ratios import Ratio, ratios_over_rounds

OTHER_MODELS = 7
SERVED = {
    "single": {"iris": [1]},
    "many": {"iris": [1, 2, 3], **{f"iris_copy_{i}": [1] for i in range(1, OTHER_MODELS + 1)}},
}
MANY_VERSIONS = sum(len(versions) for versions in SERVED["many"].values())
GROUP = {"single": "repository: iris/1 only", "many": f"repository: {MANY_VERSIONS} versions"}
SWITCH_RATE_PER_S = 1000.0  # about a quarter of one server's Predict capacity at 64 in flight
SWITCH_POLL_SECONDS = (2.0, 0.2)
SWITCH_VERSIONS = range(2, 7)
SWITCH_LEAD_SECONDS = 1.0  # of load before the first steady state, not measured
SWITCH_SETTLE_SECONDS = 1.0  # between one switch's window and the next steady state


def hot_path_points(bench, service, served: str) -> dict:
    """The points of one server, by step, each waiting to be run."""
    port = service.port
    point = functools.partial(bench.grpc_point, GROUP[served], service)
    predict = functools.partial(checks.grpc_predict, port)
    infer = functools.partial(checks.v2_infer, port, 1)
    return {
        f"repository {served} predict c1": functools.partial(point, PREDICT, "predict", 1, predict),
        f"repository {served} predict c64": functools.partial(point, PREDICT, "predict", 64, predict),
        f"repository {served} infer1 c64": functools.partial(point, MODEL_INFER, "infer1", 64, infer),
    }


def run_many_models(bench) -> None:
    """Part 1 of the module, --rounds times; both servers run through a round, one measured at a time."""
    root = bench.args.out / "repository"
    repositories = {served: fresh_repository(root / served, versions) for served, versions in SERVED.items()}
    for index in range(bench.args.rounds):
        bench.round = index
        order = ("single", "many") if index % 2 == 0 else ("many", "single")
        points: dict = {}
        with (
            _repository_server(bench, "single", repositories["single"]) as single,
            _repository_server(bench, "many", repositories["many"]) as many,
        ):
            for served, service in (("single", single), ("many", many)):
                points.update(hot_path_points(bench, service, served))
            for point in ("predict c1", "predict c64", "infer1 c64"):
                for served in order:
                    step = f"repository {served} {point}"
                    points[step](step=step)
    bench.round = None


def _repository_server(bench, served: str, repository):
    """A server of every version in `repository`, once it says each of SERVED[served] is ready."""
    flags = ["--repository", str(repository), "--version-policy", "all"]
    service = start_server(bench, f"repository {served}", flags)
    service.wait_ready(functools.partial(checks.v2_models_ready, service.port, SERVED[served]))
    return service


def run_switches(bench, poll_seconds: float) -> dict:
    """Part 2 of the module at one --poll-seconds: the publications, each switch's numbers, a summary."""
    root = bench.args.out / "repository"
    repository = fresh_repository(root / f"switch-poll-{poll_seconds:g}", {"iris": [1]})
    records_path = root / f"switch-poll-{poll_seconds:g}.npy"
    ready = root / f"switch-poll-{poll_seconds:g}.ready"
    ready.unlink(missing_ok=True)
    flags = ["--repository", str(repository), "--poll-seconds", f"{poll_seconds:g}"]
    spacing = (
        poll_seconds
        + version_switches.WINDOW_SECONDS
        + SWITCH_SETTLE_SECONDS
        + version_switches.STEADY_SECONDS
    )
    published = []
    with start_server(bench, f"repository switch poll {poll_seconds:g}", flags) as server:
        load_args = [
            *("-m", "bench.switch_load", "--port", str(server.port)),
            *("--rate", f"{SWITCH_RATE_PER_S:g}", "--out", str(records_path), "--ready", str(ready)),
        ]
        with bench.start(f"switch load poll {poll_seconds:g}", load_args, cpu=LOAD_CPU):
            wait_until(ready.exists)
            time.sleep(SWITCH_LEAD_SECONDS + version_switches.STEADY_SECONDS)
            for version in SWITCH_VERSIONS:
                publish_copy(repository, "iris", version)
                published.append((version, time.monotonic()))
                time.sleep(spacing)
        # The load has written its records once stopped (SIGTERM).
    records = version_switches.as_records(np.load(records_path))
    switches = [version_switches.switch_stats(records, at, version) for version, at in published]
    run = {
        "poll_seconds": poll_seconds,
        "rate_per_s": SWITCH_RATE_PER_S,
        "switches": switches,
        "summary": version_switches.run_summary(switches, records),
    }
    print(switch_line(run), flush=True)
    return run


def run_repository(bench) -> None:
    """Both parts of the module; the switches' results go to bench.version_switches."""
    run_many_models(bench)
    for ratio in repository_ratios(bench.rows):
        print(ratio_line(ratio), flush=True)
    for poll_seconds in SWITCH_POLL_SECONDS:
        bench.version_switches.append(run_switches(bench, poll_seconds))


REPOSITORY_RATIOS = (
    Ratio(
        f"Predict c64 req/s, {MANY_VERSIONS} versions / iris/1 only",
        "repository many predict c64",
        ("repository single predict c64",),
    ),
    Ratio(
        f"ModelInfer 1 row c64 req/s, {MANY_VERSIONS} versions / iris/1 only",
        "repository many infer1 c64",
        ("repository single infer1 c64",),
    ),
    Ratio(
        f"Predict c1 p50, {MANY_VERSIONS} versions / iris/1 only",
        "repository many predict c1",
        ("repository single predict c1",),
        key="p50_ms",
        baseline_key="p50_ms",
    ),
)


def repository_ratios(points: list[dict]) -> list[dict]:
    """REPOSITORY_RATIOS, each within a round, then the median and range over rounds."""
    return ratios_over_rounds(REPOSITORY_RATIOS, points)


def ratio_line(ratio: dict) -> str:
    return f"repository: {ratio['ratio']}: {ratio['value']:.2f} ({ratio['low']:.2f}-{ratio['high']:.2f})"


def switch_line(run: dict) -> str:
    found = run["summary"]
    serving, p99 = found["seconds_to_serving"], found["p99_ratio"]
    if not serving["rounds"] or not p99["rounds"]:
        return (
            f"repository: poll {run['poll_seconds']:g} s: {found['served']} of {found['publications']} "
            f"publications served, {found['failed']} of {found['calls']} calls failed"
        )
    return (
        f"repository: poll {run['poll_seconds']:g} s: {found['served']} of {found['publications']} "
        f"publications served, {serving['value']:.2f} s to serving ({serving['low']:.2f}-"
        f"{serving['high']:.2f}), switch p99 / steady p99 {p99['value']:.2f} ({p99['low']:.2f}-"
        f"{p99['high']:.2f}), {found['failed']} of {found['calls']} calls failed"
    )
