"""Group `ceilings`: the most targets 1 and 5 could reach with part of the product's work made free
(bench/variants.py), each ratio taken within a round, --rounds rounds, then the median and range."""

import contextlib
import functools

from bench import checks
from bench.points import Bench
from bench.processes import wait_until
from bench.product import FORM_BODY, FORM_TYPE, PREDICT, form_check, start_proxy, start_server
from bench.ratios import Ratio, round_values, summary
from bench.round_groups import start_baseline

CEILINGS = "ceilings: "  # the group prefix of this group's points

CEILING_RATIOS = (
    Ratio(
        "1. Predict c64 / constant c64, as measured by this group",
        "ceilings server",
        ("ceilings constant grpc-threaded",),
        op=">=",
        goal=0.85,
    ),
    Ratio(
        "1. ... with a constant Predict handler",
        "ceilings server, constant handler",
        ("ceilings constant grpc-threaded",),
        op=">=",
        goal=0.85,
    ),
    Ratio(
        "1. ... with the model run cached",
        "ceilings server, cached model run",
        ("ceilings constant grpc-threaded",),
        op=">=",
        goal=0.85,
    ),
    Ratio(
        "5. REST POST / c64 / gRPC Predict c64, with no gRPC call",
        "ceilings proxy, no upstream call",
        ("ceilings server",),
        op=">=",
        goal=2,
    ),
)


def run_ceilings(bench: Bench) -> None:
    """Start the constant server, the server, its variants and the proxy with no upstream call; then
    each round measures Predict (or POST /) at 64 in flight on each."""
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
                group = f"{CEILINGS}{label}"
                bench.grpc_point(group, service, PREDICT, "predict", 64, check, step=f"ceilings {label}")
            bench.rest_point(
                f"{CEILINGS}proxy, no upstream call",
                proxy,
                "POST / form",
                "/",
                FORM_BODY,
                FORM_TYPE,
                64,
                form_check(proxy.port),
                step="ceilings proxy, no upstream call",
            )
        bench.round = None
    for ceiling in ceiling_ratios(bench.rows):
        print(ceiling_line(ceiling), flush=True)


def ceiling_ratios(points: list[dict]) -> list[dict]:
    """The ratios of CEILING_RATIOS, each within a round, then their median and range (none if the
    ceilings group did not run)."""
    found = []
    for ratio in CEILING_RATIOS:
        values = round_values(ratio, points)
        if values:
            found.append({"ceiling": ratio.name, **summary(values), "goal": ratio.goal})
    return found


def ceiling_line(ceiling: dict) -> str:
    return (
        f"ceiling {ceiling['ceiling']}: {ceiling['value']:.2f} ({ceiling['low']:.2f}-{ceiling['high']:.2f}), "
        f"goal {ceiling['goal']:g}"
    )
