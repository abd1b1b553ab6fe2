"""`make bench`: measure the product against constant-answer baselines in the same run.

Servers run pinned to CPU 0 and the load generators to CPU 1 (taskset); each point has a
warm-up, runs for --seconds, and is checked with a real call before and after. The groups the
targets compare (baselines, server, proxy) run --rounds times, one round after the other, and
each target is a ratio within one round, reported as the median over rounds with its range
(bench/rounds.py). Results go to bench/out/results.{md,json,png}. See docs/performance.md.
"""

import argparse
import datetime
import json
import pathlib
import platform

from bench import ceilings, chart, inprocess, once_groups, report, repository, scale, targets, tools
from bench.points import Bench
from bench.product import SERVER_CPU
from bench.rounds import ROUND_GROUPS, round_results, run_rounds

# What --only can name, and what runs each group measured outside the rounds.
GROUPS = {
    "inprocess": None,
    **{name: None for name in ROUND_GROUPS},  # run by run_rounds
    "workers": once_groups.run_workers,
    "observability": once_groups.run_observability,
    "soak": once_groups.run_soak,
    "levers": once_groups.run_levers,
    "ceilings": ceilings.run_ceilings,
    "scale": scale.run_scale,
    "repository": repository.run_repository,
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per point")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each point")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds of the groups the targets compare (baselines, server, proxy)",
    )
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("bench/out"))
    parser.add_argument("--only", default="", help="comma-separated groups to run (default: all)")
    parser.add_argument("--soak-seconds", type=float, default=300.0, help="length of the soak (group soak)")
    parser.add_argument("--soak-window", type=float, default=30.0, help="seconds per soak report window")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    selected = [g for g in args.only.split(",") if g] or list(GROUPS)
    tools.require(["h2load", "wrk", "taskset", *(["haproxy"] if "scale" in selected else [])])
    bench = Bench(args)
    inproc = inprocess.measure(SERVER_CPU, args.seconds / 2) if "inprocess" in selected else {}
    probes = run_rounds(bench, selected)
    for name in selected:
        if GROUPS.get(name):
            GROUPS[name](bench)
    results = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": tools.machine_description(),
        "python": platform.python_version(),
        "command": (
            f"make bench  (python -m bench --seconds {args.seconds:g} --warmup {args.warmup:g} "
            f"--rounds {args.rounds})"
        ),
        "host_probe_ms": probes,
        "in_process_onnxruntime": inproc,
        "startup": {str(index): numbers for index, numbers in bench.startup.items()},
        "points": bench.rows,
        "soak": bench.soak,
    }
    results["targets"] = targets.combined_targets(round_results(bench))
    results["ceilings"] = ceilings.ceiling_ratios(bench.rows)
    results["scale"] = scale.scale_ratios(bench.rows)
    results["repository"] = {
        "ratios": repository.repository_ratios(bench.rows),
        "switches": bench.version_switches,
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    (args.out / "results.md").write_text(report.markdown(results))
    chart.write(results, args.out / "results.png")
    print(f"\nwrote {args.out / 'results.md'}, {args.out / 'results.json'} and {args.out / 'results.png'}")


if __name__ == "__main__":
    main()
