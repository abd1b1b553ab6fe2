"""bench/steps.py: every point a ratio compares is named by a step that the bench measures, and a
step that no list holds fails loudly, before anything is measured, instead of a target showing
"not measured"."""

import argparse
import types

import pytest

from bench import ceilings, repository, rounds, scale, steps, targets
from bench.points import Bench
from bench.ratios import Ratio


def test_every_step_is_listed_once():
    listed = [*steps.ROUND_STEPS, *steps.CEILING_STEPS, *steps.SCALE_STEPS, *steps.REPOSITORY_STEPS]
    assert len(listed) == len(steps.STEPS)


def test_the_targets_compare_points_of_the_rounds():
    for ratio in targets.RATIO_TARGETS:
        assert set(ratio.steps) <= set(steps.ROUND_STEPS), ratio.name


def test_the_ceilings_scale_and_repository_ratios_compare_points_of_their_own_group():
    for ratio in ceilings.CEILING_RATIOS:
        assert set(ratio.steps) <= set(steps.CEILING_STEPS), ratio.name
    for ratio in scale.SCALE_RATIOS:
        assert set(ratio.steps) <= set(steps.SCALE_STEPS), ratio.name
    for ratio in repository.REPOSITORY_RATIOS:
        assert set(ratio.steps) <= set(steps.REPOSITORY_STEPS), ratio.name


def test_a_ratio_naming_a_step_that_does_not_exist_fails_where_it_is_defined():
    with pytest.raises(ValueError, match="server predict c65"):
        Ratio("1. Predict c65", "server predict c65", ("grpc-threaded predict c64",))


def test_a_point_with_a_step_that_does_not_exist_is_refused_before_its_load(tmp_path):
    bench = Bench(argparse.Namespace(out=tmp_path, seconds=1.0, warmup=0.0))
    checked = []

    with pytest.raises(ValueError, match="server predict c65"):
        bench.rest_point(
            "g",
            types.SimpleNamespace(port=1),
            "p",
            "/",
            "",
            "text/plain",
            1,
            lambda: checked.append(1),
            step="server predict c65",
        )

    assert checked == []
    assert bench.rows == []


def test_a_round_runs_its_points_in_round_steps_order_each_told_its_step(monkeypatch):
    ran = []

    def open_group(bench, stack):
        return {name: lambda step: ran.append(step) for name in ("server predict c64", "server predict c1")}

    monkeypatch.setattr(rounds, "ROUND_GROUPS", {"server": open_group})
    rounds.run_round(None, ["server"])

    assert ran == ["server predict c1", "server predict c64"]


def test_a_round_group_naming_a_step_not_in_round_steps_stops_the_round(monkeypatch):
    ran = []

    def open_group(bench, stack):
        return {"server predict c1": ran.append, "server Predict c64": ran.append}

    monkeypatch.setattr(rounds, "ROUND_GROUPS", {"server": open_group})
    with pytest.raises(RuntimeError, match="server Predict c64"):
        rounds.run_round(None, ["server"])
    assert ran == []
