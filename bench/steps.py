"""The identifiers of the points that targets, ceilings, scale and repository ratios compare.

Each such point's row carries its identifier as `step`; a ratio names its points by these, never
by their labels, which are free to change. Producers and ratios both check their identifiers
against these lists, so a renamed one fails at import or at its first point instead of leaving a
target "not measured".
"""

from collections.abc import Iterable

# The order of a round's points (bench/rounds.py): the two points of each target's ratio one
# after the other.
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
# Group `ceilings` (bench/ceilings.py), Predict or POST / at 64 in flight.
CEILING_STEPS = (
    "ceilings constant grpc-threaded",
    "ceilings server",
    "ceilings server, constant handler",
    "ceilings server, cached model run",
    "ceilings proxy, no upstream call",
)
# Group `scale` (bench/scale.py): "scale " and the point's label.
SCALE_STEPS = (
    "scale server 1 workers",
    "scale server 2 workers",
    "scale server 2 workers pinned",
    "scale server 4 workers",
    "scale proxy 1 workers",
    "scale proxy 2 workers",
    "scale proxy 2 workers pinned",
    "scale proxy 4 workers",
    "scale proxy 2 gunicorn workers",
    "scale one connection through the edge, 2 servers",
    "scale proxy 4 + server 4 workers on 8 CPUs",
)
# Group `repository` (bench/repository.py): a server of one version against one of many.
REPOSITORY_STEPS = tuple(
    f"repository {served} {point}"
    for point in ("predict c1", "predict c64", "infer1 c64")
    for served in ("single", "many")
)
STEPS = frozenset((*ROUND_STEPS, *CEILING_STEPS, *SCALE_STEPS, *REPOSITORY_STEPS))


def require_known(names: Iterable[str]) -> None:
    """Raise ValueError naming every identifier that is not one of STEPS."""
    unknown = sorted(set(names) - STEPS)
    if unknown:
        raise ValueError(f"not a step of bench/steps.py: {unknown}")
