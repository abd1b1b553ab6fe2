"""The performance issue's targets: ratios of the round groups' points, and the server's start-up.

Each ratio is taken within a round (bench/ratios.py), then reported as the median of the rounds
with their range; start-up is measured once a round, as the round's server starts.
"""

from bench.ratios import Ratio, measured_by_step, summary

FASTEST_CONSTANT_C64 = ("grpc-threaded predict c64", "grpc-aio predict c64")
FASTEST_CONSTANT_C1 = ("grpc-threaded predict c1", "grpc-aio predict c1")

RATIO_TARGETS = (
    Ratio(
        "1. Predict c64 / fastest constant unary c64",
        "server predict c64",
        FASTEST_CONSTANT_C64,
        op=">=",
        goal=0.85,
    ),
    Ratio(
        "2. Predict c1 p99 / constant c1 p99",
        "server predict c1",
        FASTEST_CONSTANT_C1,
        key="p99_ms",
        baseline_key="p99_ms",
        op="<=",
        goal=1.3,
    ),
    Ratio(
        "3. PredictStream msgs/s / Predict c64 req/s",
        "server stream64",
        ("server predict c64",),
        key="messages_per_s",
        op=">=",
        goal=2,
    ),
    Ratio(
        "4a. PredictBatch 1000 req/s / constant unary c64",
        "server batch1000 c64",
        FASTEST_CONSTANT_C64,
        op=">=",
        goal=0.5,
    ),
    Ratio(
        "4b. ModelInfer 1000 req/s / constant unary c64",
        "server infer1000 c64",
        FASTEST_CONSTANT_C64,
        op=">=",
        goal=0.5,
    ),
    Ratio(
        "5. REST POST / c64 / gRPC Predict c64", "proxy form c64", ("server predict c64",), op=">=", goal=2
    ),
    Ratio(
        "6. REST c1 p50 / gRPC Predict c1 p50",
        "proxy form c1",
        ("server predict c1",),
        key="p50_ms",
        baseline_key="p50_ms",
        op="<=",
        goal=2,
    ),
)
# name, the key of a round's start-up (bench/round_groups.py, open_server), op, goal
STARTUP_TARGETS = (
    ("7a. seconds to SERVING", "seconds_to_serving", "<=", 1.0),
    ("7b. idle server RSS MiB (1 worker)", "idle_rss_mib", "<=", 100),
)


def _met(value: float | None, op: str, goal: float) -> bool | None:
    return None if value is None else (value >= goal if op == ">=" else value <= goal)


def _target(name: str, values: list[float], op: str, goal: float) -> dict:
    found = summary(values)
    return {
        "target": name,
        "value": found["value"],
        "op": op,
        "goal_value": goal,
        "goal": f"{op} {goal:g}",
        "met": _met(found["value"], op, goal),
        "low": found["low"],
        "high": found["high"],
        "rounds": found["rounds"],
    }


def combined_targets(rounds: list[dict]) -> list[dict]:
    """Each target's median over the rounds (each round: {"points": ..., "startup": ...}), with the
    lowest and highest round and every round's value; a round that could not measure it is left out."""
    if not rounds:
        return []
    found = []
    for ratio in RATIO_TARGETS:
        values = [ratio.value(measured_by_step(one["points"])) for one in rounds]
        found.append(_target(ratio.name, [v for v in values if v is not None], ratio.op, ratio.goal))
    for name, key, op, goal in STARTUP_TARGETS:
        values = [one["startup"].get(key) for one in rounds if one.get("startup")]
        found.append(_target(name, [v for v in values if v is not None], op, goal))
    return found
