"""results.png: the points of each ratio the bench reports, their throughput and their latency.

  python -m bench.chart RESULTS.json [OUT.png]    (default OUT: RESULTS.json with .png)

One row per ratio measured (the targets, then the ceilings, the scale and the repository ratios),
titled with its median over the rounds, its range and its goal. Left, each of its points'
throughput in the unit the ratio uses (req/s, or messages/s for a stream); right, their p50 and p99
latency. Each point is its median over its rounds, as in results.md. Drawn with Agg: no display
needed.
"""

import json
import pathlib
import sys

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bench import ceilings, report, repository, scale, targets
from bench.ratios import Ratio, round_values, summary

RATIOS = (
    *targets.RATIO_TARGETS,
    *ceilings.CEILING_RATIOS,
    *scale.SCALE_RATIOS,
    *repository.REPOSITORY_RATIOS,
)
THROUGHPUT_UNITS = {"rps": "req/s", "messages_per_s": "messages/s", "rows_per_s": "rows/s"}
MEASURED_COLOUR, BASELINE_COLOUR = "tab:blue", "tab:gray"
ROW_INCHES, POINT_INCHES, TITLE_INCHES, WIDTH_INCHES = 1.0, 0.45, 0.8, 14.0
BAR_HEIGHT = 0.4  # of a latency bar; p50 and p99 side by side fill 0.8 of a point's row
FONT_SIZE, DOTS_PER_INCH = 9, 100


def _title(ratio: Ratio, points: list[dict]) -> str:
    found = summary(round_values(ratio, points))
    if found["value"] is None:
        value = "not measured"
    else:
        value = f"{found['value']:.2f} (rounds {found['low']:.2f}-{found['high']:.2f})"
    goal = f", goal {ratio.op} {ratio.goal:g}" if ratio.goal is not None else ""
    return f"{ratio.name}: {value}{goal}"


def _label(step: str, row: dict | None, per: float) -> str:
    times = f" (x{per:g})" if per != 1 else ""
    if row is None:
        return f"{step}{times} (not measured)"
    return f"{step}{times}" if row["status"] == "ok" else f"{step}{times} (failed)"


def _draw_throughput(axes, ratio: Ratio, rows: list[dict | None], colours: list[str]) -> None:
    keys = [ratio.key, *[ratio.baseline_key] * len(ratio.baselines)]
    keys = [key if key in THROUGHPUT_UNITS else "rps" for key in keys]
    ok = [row is not None and row["status"] == "ok" for row in rows]
    rates = [row[key] if measured else 0 for row, key, measured in zip(rows, keys, ok, strict=True)]
    bars = axes.barh(range(len(rows)), rates, color=colours)
    texts = [f"{rate:,.0f} {THROUGHPUT_UNITS[key]}" for rate, key in zip(rates, keys, strict=True)]
    axes.bar_label(
        bars, [text if measured else "" for text, measured in zip(texts, ok, strict=True)], padding=3
    )
    axes.set_yticks(
        range(len(rows)),
        [
            _label(step, row, 1 if step == ratio.measured else ratio.per)
            for step, row in zip(ratio.steps, rows, strict=True)
        ],
    )
    axes.set_xlabel(f"throughput ({', '.join(sorted({THROUGHPUT_UNITS[key] for key in keys}))})")


def _draw_latency(axes, rows: list[dict | None], colours: list[str]) -> None:
    ok = [row is not None and row["status"] == "ok" for row in rows]
    for offset, key, hatch in ((-BAR_HEIGHT / 2, "p50_ms", ""), (BAR_HEIGHT / 2, "p99_ms", "//")):
        values = [row[key] if measured else 0 for row, measured in zip(rows, ok, strict=True)]
        positions = [index + offset for index in range(len(rows))]
        bars = axes.barh(positions, values, BAR_HEIGHT, color=colours, hatch=hatch, edgecolor="white")
        texts = [
            f"{key.removesuffix('_ms')} {value:.2f}" if measured else ""
            for value, measured in zip(values, ok, strict=True)
        ]
        axes.bar_label(bars, texts, padding=3)
    axes.set_yticks(range(len(rows)), [""] * len(rows))
    axes.set_xlabel("latency (ms): p50, and p99 hatched")


def draw(results: dict) -> Figure:
    """The chart of `results` (a results.json's content)."""
    points = results["points"]
    medians = {row["step"]: row for row in report.median_points(points) if row.get("step")}
    drawn = [
        ratio
        for ratio in RATIOS
        if ratio.measured in medians and any(step in medians for step in ratio.baselines)
    ]
    if not drawn:
        figure = Figure(figsize=(8, 1.5))
        figure.text(
            0.5, 0.5, "No target, ceiling or scale ratio has its points in these results.", ha="center"
        )
        return figure
    heights = [ROW_INCHES + POINT_INCHES * len(ratio.steps) for ratio in drawn]
    figure = Figure(figsize=(WIDTH_INCHES, sum(heights) + TITLE_INCHES), layout="constrained")
    figure.suptitle(
        f"{results['command']}, {results['date']}\nblue: the measured point; grey: what it is divided by"
    )
    grid = figure.add_gridspec(len(drawn), 2, height_ratios=heights, width_ratios=(3, 2))
    for index, ratio in enumerate(drawn):
        rows = [medians.get(step) for step in ratio.steps]
        colours = [MEASURED_COLOUR, *[BASELINE_COLOUR] * len(ratio.baselines)]
        throughput, latency = figure.add_subplot(grid[index, 0]), figure.add_subplot(grid[index, 1])
        _draw_throughput(throughput, ratio, rows, colours)
        throughput.set_title(_title(ratio, points), loc="left")
        _draw_latency(latency, rows, colours)
        for axes in (throughput, latency):
            axes.invert_yaxis()
            axes.margins(x=0.3)
    return figure


def write(results: dict, path: pathlib.Path) -> None:
    """Draw `results` into the PNG file `path`."""
    with matplotlib.rc_context({"font.size": FONT_SIZE}):
        figure = draw(results)
        FigureCanvasAgg(figure)
        figure.savefig(path, dpi=DOTS_PER_INCH)


def main() -> None:
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: python -m bench.chart RESULTS.json [OUT.png]")
    source = pathlib.Path(sys.argv[1])
    out = pathlib.Path(sys.argv[2]) if len(sys.argv) == 3 else source.with_suffix(".png")
    write(json.loads(source.read_text()), out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
