"""The rounds: the groups the targets compare (baselines, server, proxy), --rounds times, one round
after the other.

A shared virtual machine's speed drifts by tens of percent within minutes, so each target is a
ratio within one round. Within a round those groups' servers all run at once and their points run
in ROUND_STEPS order, so the two points of each target's ratio are measured one after the other,
seconds apart.
"""

import contextlib
from collections.abc import Callable

from bench import tools
from bench.points import Bench
from bench.product import SERVER_CPU
from bench.round_groups import Steps, open_baselines, open_proxy, open_server
from bench.steps import ROUND_STEPS

# Each starts its servers and names its points. The server starts first, alone, so that its
# start-up time is its own.
ROUND_GROUPS: dict[str, Callable[[Bench, contextlib.ExitStack], Steps]] = {
    "server": open_server,
    "baselines": open_baselines,
    "proxy": open_proxy,
}


def run_round(bench: Bench, selected: list[str]) -> None:
    """Start the selected ROUND_GROUPS' servers, run their points in ROUND_STEPS order, stop them."""
    with contextlib.ExitStack() as stack:
        steps: Steps = {}
        for name, open_group in ROUND_GROUPS.items():
            if name in selected:
                steps.update(open_group(bench, stack))
        unordered = sorted(set(steps) - set(ROUND_STEPS))
        if unordered:
            raise RuntimeError(f"steps missing from ROUND_STEPS: {unordered}")
        for name in ROUND_STEPS:
            if name in steps:
                steps[name](step=name)


def run_rounds(bench: Bench, selected: list[str]) -> list[float]:
    """Run the selected ROUND_GROUPS --rounds times; the host speed probe's ms before each round."""
    probes = []
    for index in range(bench.args.rounds):
        bench.round = index
        probes.append(tools.host_probe_ms(SERVER_CPU))
        print(f"round {index + 1} of {bench.args.rounds}: host speed probe {probes[-1]:.0f} ms", flush=True)
        if any(name in selected for name in ROUND_GROUPS):
            run_round(bench, selected)
    bench.round = None
    return probes


def round_results(bench: Bench) -> list[dict]:
    """Each measured round's points and its server's start-up, in round order."""
    rounds = sorted({row["round"] for row in bench.rows if row["round"] is not None})
    return [
        {
            "points": [row for row in bench.rows if row["round"] == index],
            "startup": bench.startup.get(index, {}),
        }
        for index in rounds
    ]
