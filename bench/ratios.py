"""Ratios of two points measured in the same round, and their median over the rounds.

A shared virtual machine's speed drifts by tens of percent within minutes, so a ratio is taken
within each round, between points measured seconds apart, and reported as the median of the
rounds' ratios with their range. A ratio finds its points by their step (bench/steps.py).
"""

import dataclasses
import statistics

from bench import steps

LATENCY_KEYS = frozenset({"mean_ms", "p50_ms", "p99_ms"})  # lower is better


@dataclasses.dataclass(frozen=True)
class Ratio:
    """The `key` of step `measured` over `baseline_key` of the best of steps `baselines` (highest
    throughput, or lowest latency), times `per`; `op` and `goal` say what the ratio should reach."""

    name: str
    measured: str
    baselines: tuple[str, ...]
    key: str = "rps"
    baseline_key: str = "rps"
    per: float = 1.0
    op: str | None = None
    goal: float | None = None

    def __post_init__(self) -> None:
        steps.require_known(self.steps)

    @property
    def steps(self) -> tuple[str, ...]:
        return (self.measured, *self.baselines)

    def value(self, by_step: dict[str, dict]) -> float | None:
        """The ratio within one round, from its rows measured ok by step; None without both points."""
        measured = by_step.get(self.measured)
        found = [by_step[step] for step in self.baselines if step in by_step]
        best = min if self.baseline_key in LATENCY_KEYS else max
        baseline = best(found, key=lambda row: row[self.baseline_key], default=None)
        if measured is None or baseline is None or not baseline[self.baseline_key]:
            return None
        return measured[self.key] / (baseline[self.baseline_key] * self.per)


def measured_by_step(rows: list[dict]) -> dict[str, dict]:
    """The rows measured ok that have a step, by step."""
    return {row["step"]: row for row in rows if row.get("step") and row["status"] == "ok"}


def round_values(ratio: Ratio, points: list[dict]) -> list[float]:
    """`ratio` within each round that measured both its points, in round order."""
    rounds = sorted({row["round"] for row in points if row["round"] is not None})
    values = (ratio.value(measured_by_step([r for r in points if r["round"] == index])) for index in rounds)
    return [value for value in values if value is not None]


def summary(values: list[float]) -> dict:
    """The median of the rounds' values, their lowest and highest, and every one (None if empty)."""
    return {
        "value": statistics.median(values) if values else None,
        "low": min(values, default=None),
        "high": max(values, default=None),
        "rounds": values,
    }


def ratios_over_rounds(ratios: tuple[Ratio, ...], points: list[dict]) -> list[dict]:
    """Each of `ratios` within each round, then the median and range over the rounds (those that
    no round measured are left out)."""
    found = []
    for ratio in ratios:
        values = round_values(ratio, points)
        if values:
            middle = summary(values)
            found.append(
                {"ratio": ratio.name, "value": middle["value"], "low": middle["low"], "high": middle["high"]}
            )
    return found
