"""bench/repository.py and bench/publishing.py: the ratios many / single are taken within a round
then summarised over rounds, results.md shows them and the switches, and a version is published
whole by renaming its staging directory."""

import json

import pytest

from bench import report, repository
from bench.publishing import fresh_repository, publish_copy
from tests.bench.test_bench_report import point


def hot_path_round(round_index, single_rps, many_rps, single_p50=0.3, many_p50=0.3):
    rows = []
    for served, rps, p50 in (("single", single_rps, single_p50), ("many", many_rps, many_p50)):
        group = repository.GROUP[served]
        rows += [
            point(
                group,
                "Predict predict",
                1,
                3000,
                round_index,
                p50=p50,
                step=f"repository {served} predict c1",
            ),
            point(group, "Predict predict", 64, rps, round_index, step=f"repository {served} predict c64"),
        ]
    return rows


def test_the_ratios_are_many_over_single_within_each_round_then_the_median_and_range():
    """Rounds give 0.9, 1.0 and 1.2 (median 1.0); the ratio of the medians would be 1100 / 1000."""
    rows = [
        *hot_path_round(0, 1000, 900),
        *hot_path_round(1, 2000, 2000),
        *hot_path_round(2, 500, 600, single_p50=0.2, many_p50=0.3),
    ]

    ratios = {ratio["ratio"]: ratio for ratio in repository.repository_ratios(rows)}

    predict = ratios["Predict c64 req/s, 10 versions / iris/1 only"]
    assert (predict["value"], predict["low"], predict["high"]) == pytest.approx((1.0, 0.9, 1.2))
    latency = ratios["Predict c1 p50, 10 versions / iris/1 only"]
    assert (latency["value"], latency["high"]) == pytest.approx((1.0, 1.5))
    assert "ModelInfer 1 row c64 req/s, 10 versions / iris/1 only" not in ratios  # not measured


def test_results_md_shows_the_ratios_and_each_poll_settings_switches():
    switch = {
        "version": 2,
        "seconds_to_serving": 0.25,
        "steady": {"calls": 2000, "failed": 0, "p50_ms": 1.0, "p99_ms": 2.0, "max_ms": 3.0},
        "switch": {"calls": 1000, "failed": 0, "p50_ms": 1.0, "p99_ms": 2.5, "max_ms": 4.0},
        "p99_ratio": 1.25,
        "old_after_switch": 0,
    }
    summary = {
        "publications": 1,
        "served": 1,
        "seconds_to_serving": {"value": 0.25, "low": 0.25, "high": 0.25},
        "p99_ratio": {"value": 1.25, "low": 1.25, "high": 1.25},
        "steady_p99_ms": {"value": 2.0},
        "switch_p99_ms": {"value": 2.5},
        "switch_max_ms": 4.0,
        "old_after_switch": 0,
        "calls": 12000,
        "failed": 0,
    }
    found = {
        "ratios": [{"ratio": "Predict c64 req/s, many / single", "value": 0.98, "low": 0.95, "high": 1.01}],
        "switches": [{"poll_seconds": 0.2, "rate_per_s": 1000.0, "switches": [switch], "summary": summary}],
    }

    text = "\n".join(report.repository_markdown(found))

    assert "| Predict c64 req/s, many / single | 0.98 | 0.95 - 1.01 |" in text
    assert (
        "| 0.2 | 1 of 1 | 0.25 (0.25 - 0.25) | 2.00 | 2.50 | 1.25 (1.25 - 1.25) | 4.00 | 0 | 0 of 12,000 |"
        in text
    )
    assert "| 0.2 | 2 | 0.25 | 1.00 / 2.00 / 3.00 | 1.00 / 2.50 / 4.00 | 1.25 | 0, 0 |" in text
    assert report.repository_markdown({}) == []


def test_publish_copy_renames_a_whole_version_into_place_under_its_name(tmp_path):
    published = publish_copy(tmp_path, "iris_copy_1", 4)

    assert published == tmp_path / "iris_copy_1" / "4"
    assert sorted(path.name for path in published.iterdir()) == ["model.json", "model.onnx"]
    manifest = json.loads((published / "model.json").read_text())
    assert (manifest["name"], manifest["version"]) == ("iris_copy_1", 4)
    assert [path.name for path in (tmp_path / "iris_copy_1").iterdir()] == ["4"]  # no staging left


def test_fresh_repository_holds_exactly_the_versions_asked_for(tmp_path):
    publish_copy(tmp_path / "repo", "iris", 7)

    fresh_repository(tmp_path / "repo", {"iris": [1, 2], "other": [1]})

    found = sorted(str(path.relative_to(tmp_path / "repo")) for path in (tmp_path / "repo").glob("*/*"))
    assert found == ["iris/1", "iris/2", "other/1"]
