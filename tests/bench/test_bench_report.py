"""bench/report.py: points measured in several rounds become medians, a point that failed in any
round is reported failed, and results.md shows the ranges of points, targets and ceilings."""

from bench import ceilings, report, targets


def point(group, name, concurrency, rps, round_index, status="ok", p50=1.0, p99=2.0, step=None):
    row = {
        "group": group,
        "point": name,
        "step": step,
        "concurrency": concurrency,
        "round": round_index,
        "status": status,
    }
    if status == "ok":
        row.update(
            rps=rps,
            rows_per_s=rps,
            messages_per_s=rps,
            mean_ms=p50,
            p50_ms=p50,
            p99_ms=p99,
            errors=0,
            rss_mib=80.0,
        )
    return row


def round_points(round_index, const_rps, predict_rps, rest_rps):
    return [
        point(
            "constant grpc-threaded",
            "Predict predict",
            64,
            const_rps,
            round_index,
            step="grpc-threaded predict c64",
        ),
        point(
            "server (1 worker)", "Predict predict", 64, predict_rps, round_index, step="server predict c64"
        ),
        point("proxy + server (one core)", "POST / form", 64, rest_rps, round_index, step="proxy form c64"),
    ]


def test_median_points_takes_each_numbers_median_and_keeps_the_req_s_range():
    rows = [
        point("server (1 worker)", "Predict predict", 64, rps, i) for i, rps in enumerate([300, 100, 200])
    ]

    [summary] = report.median_points(rows)

    assert summary["rps"] == 200
    assert (summary["rps_low"], summary["rps_high"]) == (100, 300)
    assert summary["rounds"] == 3


def test_median_points_lists_interleaved_points_group_by_group():
    """A round measures its groups' points interleaved; the table still shows each group together."""
    rows = [
        point("constant grpc-threaded", "Predict predict", 1, 900, 0),
        point("server (1 worker)", "Predict predict", 1, 800, 0),
        point("constant grpc-threaded", "Predict predict", 64, 1000, 0),
        point("server (1 worker)", "Predict predict", 64, 700, 0),
    ]

    summary = report.median_points(rows)

    assert [(row["group"], row["concurrency"]) for row in summary] == [
        ("constant grpc-threaded", 1),
        ("constant grpc-threaded", 64),
        ("server (1 worker)", 1),
        ("server (1 worker)", 64),
    ]


def test_a_point_failed_in_any_round_is_reported_failed():
    rows = [
        point("server (1 worker)", "Predict predict", 64, 500, 0),
        point("server (1 worker)", "Predict predict", 64, None, 1, status="FAILED: 3 errors under load"),
    ]

    [summary] = report.median_points(rows)

    assert summary["status"] == "FAILED: 3 errors under load"


def test_markdown_shows_the_range_of_rounds_and_of_each_target():
    rounds = [
        {"points": round_points(i, const_rps=1000, predict_rps=rps, rest_rps=1600), "startup": {}}
        for i, rps in enumerate([800, 600])
    ]
    results = {
        "date": "d",
        "machine": "m",
        "python": "3.11",
        "command": "c",
        "host_probe_ms": [300.0, 500.0],
        "points": [row for one in rounds for row in one["points"]],
        "targets": targets.combined_targets(rounds),
    }

    text = report.markdown(results)

    assert "| server (1 worker) | Predict predict | 64 | 700 (600-800) |" in text
    assert "| 1. Predict c64 / fastest constant unary c64 | 0.70 | 0.60 - 0.80 | >= 0.85 | **no** |" in text
    assert "300, 500 ms" in text


def ceiling_points(round_index, const_rps, server_rps, free_handler_rps, proxy_rps):
    groups = {
        "constant grpc-threaded": const_rps,
        "server": server_rps,
        "server, constant handler": free_handler_rps,
        "proxy, no upstream call": proxy_rps,
    }
    return [
        point(
            f"{ceilings.CEILINGS}{group}", "Predict predict", 64, rps, round_index, step=f"ceilings {group}"
        )
        for group, rps in groups.items()
    ]


def test_markdown_lists_the_ceilings_only_when_measured():
    points = ceiling_points(0, const_rps=1000, server_rps=600, free_handler_rps=900, proxy_rps=1500)
    results = {
        "date": "d",
        "machine": "m",
        "python": "3.11",
        "command": "c",
        "points": points,
        "targets": [],
    }

    without = report.markdown(results)
    results["ceilings"] = ceilings.ceiling_ratios(points)
    text = report.markdown(results)

    assert "| ceiling (group" not in without
    assert "| 1. ... with a constant Predict handler | 0.90 | 0.90 - 0.90 | 0.85 |" in text
