"""bench/targets.py: each target is a ratio within a round, then the median of the rounds, between
points found by their step, whatever their labels say."""

from bench import targets
from tests.bench.test_bench_report import point, round_points


def test_targets_are_ratios_within_a_round_then_their_median():
    # Round 2 ran on a host half as fast: its points are all lower, its ratios the same.
    rounds = [
        {"points": round_points(0, const_rps=1000, predict_rps=800, rest_rps=1600), "startup": {}},
        {"points": round_points(1, const_rps=500, predict_rps=400, rest_rps=800), "startup": {}},
        {"points": round_points(2, const_rps=1000, predict_rps=700, rest_rps=1600), "startup": {}},
    ]

    found = {t["target"].split(".")[0]: t for t in targets.combined_targets(rounds)}

    assert found["1"]["value"] == 0.8
    assert (found["1"]["low"], found["1"]["high"]) == (0.7, 0.8)
    assert found["1"]["met"] is False
    assert found["5"]["value"] == 2.0
    assert found["5"]["met"] is True
    assert found["3"]["value"] is None  # no stream point was measured
    assert found["3"]["met"] is None


def test_targets_find_their_points_by_step_not_by_label():
    """Relabelled points still count; a point with the old label but no step does not."""
    relabelled = [
        point("server, renamed", "Predict, renamed", 64, 800, 0, step="server predict c64"),
        point("constant, renamed", "Predict, renamed", 64, 1000, 0, step="grpc-threaded predict c64"),
        point("server (1 worker)", "Predict predict", 1, 900, 0, p99=2.0),
        point("constant grpc-threaded", "Predict predict", 1, 1000, 0, p99=1.0),
    ]

    found = {t["target"].split(".")[0]: t for t in targets.combined_targets([{"points": relabelled}])}

    assert found["1"]["value"] == 0.8
    assert found["2"]["value"] is None


def test_the_fastest_constant_server_is_the_baseline_by_the_targets_measure():
    """Throughput against the highest req/s of the two constant servers, p99 against the lowest p99."""
    points = [
        point("s", "p", 64, 800, 0, step="server predict c64"),
        point("t", "p", 64, 900, 0, step="grpc-threaded predict c64"),
        point("a", "p", 64, 1000, 0, step="grpc-aio predict c64"),
        point("s", "p", 1, 500, 0, p99=3.0, step="server predict c1"),
        point("t", "p", 1, 500, 0, p99=2.0, step="grpc-threaded predict c1"),
        point("a", "p", 1, 500, 0, p99=4.0, step="grpc-aio predict c1"),
    ]

    found = {t["target"].split(".")[0]: t for t in targets.combined_targets([{"points": points}])}

    assert found["1"]["value"] == 0.8
    assert found["2"]["value"] == 1.5


def test_start_up_targets_are_the_median_of_the_rounds():
    rounds = [
        {"points": [], "startup": {"seconds_to_serving": seconds, "idle_rss_mib": 80.0}}
        for seconds in (0.5, 2.0, 0.7)
    ]

    found = {t["target"].split(".")[0]: t for t in targets.combined_targets(rounds)}

    assert (found["7a"]["value"], found["7a"]["met"]) == (0.7, True)
    assert found["7b"]["rounds"] == [80.0, 80.0, 80.0]
