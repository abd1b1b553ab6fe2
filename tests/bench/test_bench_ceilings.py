"""bench/ceilings.py: each ceiling is a ratio of the group's points within a round, then the median."""

from bench import ceilings
from tests.bench.test_bench_report import ceiling_points, point


def test_ceilings_are_ratios_within_a_round_then_their_median():
    points = [
        # Round 1 ran on a host half as fast; a median of each point's req/s would give 0.8 and 2.1.
        *ceiling_points(0, const_rps=1000, server_rps=600, free_handler_rps=800, proxy_rps=1500),
        *ceiling_points(1, const_rps=500, server_rps=350, free_handler_rps=450, proxy_rps=700),
        *ceiling_points(2, const_rps=1000, server_rps=700, free_handler_rps=850, proxy_rps=1260),
        # another group's point: not used
        point("server (1 worker)", "Predict predict", 64, 10, 0, step="server predict c64"),
    ]

    found = {ceiling["ceiling"]: ceiling for ceiling in ceilings.ceiling_ratios(points)}

    free_handler = found["1. ... with a constant Predict handler"]
    assert free_handler["value"] == 0.85
    assert (free_handler["low"], free_handler["high"]) == (0.8, 0.9)
    no_upstream = found["5. REST POST / c64 / gRPC Predict c64, with no gRPC call"]
    assert no_upstream["value"] == 2.0
    assert (no_upstream["low"], no_upstream["high"]) == (1.8, 2.5)
    assert "1. ... with the model run cached" not in found  # not measured
