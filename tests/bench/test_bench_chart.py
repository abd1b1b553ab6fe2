"""bench/chart.py: results.png shows a row per measured ratio, its points' throughput and latency,
drawn from a results.json with no display."""

import json
import os
import subprocess
import sys

from bench import chart
from tests.bench.test_bench_report import round_points

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def results_of_two_rounds() -> dict:
    points = [
        *round_points(0, const_rps=1000, predict_rps=800, rest_rps=1600),
        *round_points(1, const_rps=500, predict_rps=350, rest_rps=800),
    ]
    return {"date": "2026-12-05T10:00:00+00:00", "command": "make bench", "points": points}


def test_the_chart_has_a_row_per_measured_ratio_titled_with_its_value_and_goal():
    figure = chart.draw(results_of_two_rounds())

    throughput, latency = figure.axes[0::2], figure.axes[1::2]
    assert [axes.get_title(loc="left") for axes in throughput] == [
        "1. Predict c64 / fastest constant unary c64: 0.75 (rounds 0.70-0.80), goal >= 0.85",
        "5. REST POST / c64 / gRPC Predict c64: 2.14 (rounds 2.00-2.29), goal >= 2",
    ]
    assert [tick.get_text() for tick in throughput[1].get_yticklabels()] == [
        "proxy form c64",
        "server predict c64",
    ]
    assert throughput[0].get_xlabel() == "throughput (req/s)"
    assert latency[0].get_xlabel().startswith("latency (ms)")


def test_python_m_bench_chart_writes_a_png_next_to_the_results_without_a_display(tmp_path):
    """An interactive backend is configured, with no fallback and no display: pyplot would fail."""
    source = tmp_path / "results.json"
    source.write_text(json.dumps(results_of_two_rounds()))
    (tmp_path / "matplotlibrc").write_text("backend: TkAgg\nbackend_fallback: False\n")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}

    done = subprocess.run(
        [sys.executable, "-m", "bench.chart", str(source)],
        env={**env, "MATPLOTLIBRC": str(tmp_path)},
        capture_output=True,
        text=True,
    )

    assert done.returncode == 0, done.stderr
    assert (tmp_path / "results.png").read_bytes()[:8] == PNG_SIGNATURE
