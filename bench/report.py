"""Turn benchmark rows and ratios into results.md, and each point into one line of progress.

Points that feed the targets are measured in several rounds (bench/rounds.py): the table shows
each point's median over its rounds; the targets, ceilings and scale ratios come computed
(bench/targets.py, bench/ceilings.py, bench/scale.py, bench/repository.py), each the median of
per-round ratios.
"""

import statistics


def one_line(row: dict) -> str:
    if row["status"] != "ok":
        return f"{row['group']:32} {row['point']:34} c={row['concurrency']:<3} {row['status']}"
    return (
        f"{row['group']:32} {row['point']:34} c={row['concurrency']:<3} {row['rps']:9.0f} req/s "
        f"{row['rows_per_s']:11.0f} rows/s  p50 {row['p50_ms']:7.2f} ms  p99 {row['p99_ms']:7.2f} ms"
    )


MEDIAN_KEYS = ("rps", "rows_per_s", "messages_per_s", "mean_ms", "p50_ms", "p99_ms", "rss_mib")


def median_points(points: list[dict]) -> list[dict]:
    """One row per (group, point, in flight): the median of each number over its rounds, with the
    lowest and highest req/s. A point that failed in any round is reported failed (with its first
    failure): a load that errs is never averaged away. Rows come group by group, in the order
    groups were first measured, and within a group in first-measured order (a round interleaves
    its groups' points)."""
    groups = list(dict.fromkeys(row["group"] for row in points))
    measured: dict[tuple, list[dict]] = {}
    for row in sorted(points, key=lambda row: groups.index(row["group"])):  # stable
        measured.setdefault((row["group"], row["point"], row["concurrency"]), []).append(row)
    summary = []
    for rows in measured.values():
        failed = [row for row in rows if row["status"] != "ok"]
        if failed:
            summary.append({**failed[0], "rounds": len(rows)})
            continue
        row = {**rows[0], "rounds": len(rows), "errors": sum(r["errors"] for r in rows)}
        for key in MEDIAN_KEYS:
            values = [r[key] for r in rows if r.get(key) is not None]
            row[key] = statistics.median(values) if values else None
        row["rps_low"], row["rps_high"] = min(r["rps"] for r in rows), max(r["rps"] for r in rows)
        summary.append(row)
    return summary


def _fmt(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def markdown(results: dict) -> str:
    lines = [
        f"Measured {results['date']} on {results['machine']}, Python {results['python']}.",
        f"Command: `{results['command']}`. Servers pinned to CPU 0, load generators to CPU 1 "
        "(h2load for gRPC, wrk for REST) unless a group says unpinned.",
        "",
        f"Each point: the median of its rounds (req/s range in brackets); {_speed_note(results)}",
        "",
        "| group | point | in flight | req/s | rows/s | mean ms | p50 ms | p99 ms | errors | RSS MiB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in median_points(results["points"]):
        if row["status"] != "ok":
            lines.append(
                f"| {row['group']} | {row['point']} | {row['concurrency']} | {row['status']} |||||||"
            )
            continue
        lines.append(
            f"| {row['group']} | {row['point']} | {row['concurrency']} | "
            f"{_fmt(row['rps'], 0)}{_range(row)} | "
            f"{_fmt(row['rows_per_s'], 0)} | {_fmt(row['mean_ms'])} | {_fmt(row['p50_ms'])} | "
            f"{_fmt(row['p99_ms'])} | {row['errors']} | {_fmt(row['rss_mib'], 0)} |"
        )
    inproc = results.get("in_process_onnxruntime") or {}
    if inproc:
        lines += [
            "",
            "| onnxruntime in process (CPU 0) | calls/s | rows/s | mean µs |",
            "|---|---:|---:|---:|",
        ]
        for name, numbers in inproc.items():
            lines.append(
                f"| session.run, {name.replace('_', ' ')} | {_fmt(numbers['calls_per_s'], 0)} | "
                f"{_fmt(numbers['rows_per_s'], 0)} | {_fmt(numbers['mean_us'], 1)} |"
            )
    if results.get("soak"):
        lines += soak_markdown(results["soak"])
    lines += targets_markdown(results["targets"])
    if results.get("ceilings"):
        lines += [
            "",
            "| ceiling (group `ceilings`: part of the work made free; median of the rounds) | ratio "
            "| rounds' range | target's goal |",
            "|---|---:|---:|---:|",
        ]
        for ceiling in results["ceilings"]:
            lines.append(
                f"| {ceiling['ceiling']} | {_fmt(ceiling['value'])} | "
                f"{_fmt(ceiling['low'])} - {_fmt(ceiling['high'])} | {ceiling['goal']:g} |"
            )
    lines += scale_markdown(results)
    lines += repository_markdown(results.get("repository") or {})
    return "\n".join(lines) + "\n"


def targets_markdown(targets: list[dict]) -> list[str]:
    """The targets' table, unless the groups they compare did not run."""
    if all(target["met"] is None for target in targets):
        return []
    lines = [
        "",
        "| target (median of the rounds' ratios) | measured | rounds' range | goal | met |",
        "|---|---:|---:|---|---|",
    ]
    for target in targets:
        met = {True: "yes", False: "**no**", None: "not measured"}[target["met"]]
        spread = f"{_fmt(target['low'])} - {_fmt(target['high'])}" if target["rounds"] else "-"
        lines.append(
            f"| {target['target']} | {_fmt(target['value'])} | {spread} | {target['goal']} | {met} |"
        )
    return lines


def scale_markdown(results: dict) -> list[str]:
    """The `scale` group's ratios, and how one gRPC connection's calls spread over the servers."""
    if not results.get("scale"):
        return []
    lines = [
        "",
        "| scale (group `scale`, unpinned; median of the rounds' ratios) | ratio | rounds' range |",
        "|---|---:|---:|",
    ]
    for ratio in results["scale"]:
        spread = f"{_fmt(ratio['low'])} - {_fmt(ratio['high'])}"
        lines.append(f"| {ratio['ratio']} | {_fmt(ratio['value'])} | {spread} |")
    spreads = [row for row in results["points"] if row.get("calls_per_server")]
    if spreads:
        lines += ["", "One gRPC connection through the edge (HAProxy), calls per server, round by round:", ""]
        for row in spreads:
            lines.append(
                f"- round {row['round'] + 1}: {' / '.join(f'{n:.0f}' for n in row['calls_per_server'])}"
            )
    return lines


def repository_markdown(repository: dict) -> list[str]:
    """The `repository` group: its ratios many / single, and the version switches under load."""
    lines = []
    if repository.get("ratios"):
        lines += [
            "",
            "| repository (group `repository`; median of the rounds' ratios) | ratio | rounds' range |",
            "|---|---:|---:|",
        ]
        for ratio in repository["ratios"]:
            spread = f"{_fmt(ratio['low'])} - {_fmt(ratio['high'])}"
            lines.append(f"| {ratio['ratio']} | {_fmt(ratio['value'])} | {spread} |")
    runs = repository.get("switches") or []
    if not runs:
        return lines
    rate = runs[0]["rate_per_s"]
    lines += [
        "",
        f"Version switches under load (group `repository`): iris.v1 Predict at {rate:,.0f} calls/s from "
        "bench/switch_load.py (grpc.aio, one channel, an open loop: each call's latency counts from its "
        "scheduled start), server on CPU 0, load on CPU 1, while the bench publishes iris versions one "
        "after the other. Steady: the calls started in the 2 s before a publication; switch: the calls "
        "started within 0.5 s of the first answer of the new version; p99 over the successful calls.",
        "",
        "| --poll-seconds | served | s from publication to serving: median (range) | steady p99 ms "
        "| switch p99 ms | switch p99 / steady p99: median (range) | switch max ms "
        "| old version after switch | failed calls |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        found = run["summary"]
        lines.append(
            f"| {run['poll_seconds']:g} | {found['served']} of {found['publications']} | "
            f"{_spread(found['seconds_to_serving'])} | {_fmt(found['steady_p99_ms']['value'])} | "
            f"{_fmt(found['switch_p99_ms']['value'])} | {_spread(found['p99_ratio'])} | "
            f"{_fmt(found['switch_max_ms'])} | {found['old_after_switch']} | "
            f"{found['failed']} of {found['calls']:,} |"
        )
    lines += [
        "",
        "| --poll-seconds | version | s to serving | steady p50 / p99 / max ms | switch p50 / p99 / max ms "
        "| p99 ratio | failed (steady, switch) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        for switch in run["switches"]:
            steady, during = switch["steady"], switch["switch"] or {}
            lines.append(
                f"| {run['poll_seconds']:g} | {switch['version']} | {_fmt(switch['seconds_to_serving'])} | "
                f"{_fmt(steady['p50_ms'])} / {_fmt(steady['p99_ms'])} / {_fmt(steady['max_ms'])} | "
                f"{_fmt(during.get('p50_ms'))} / {_fmt(during.get('p99_ms'))} / "
                f"{_fmt(during.get('max_ms'))} | "
                f"{_fmt(switch['p99_ratio'])} | {steady['failed']}, {during.get('failed', '-')} |"
            )
    return lines


def _spread(found: dict) -> str:
    """A summary's median and range, e.g. "1.02 (0.31 - 1.95)"."""
    if found["value"] is None:
        return "-"
    return f"{_fmt(found['value'])} ({_fmt(found['low'])} - {_fmt(found['high'])})"


def _range(row: dict) -> str:
    if row.get("rounds", 1) < 2:
        return ""
    return f" ({_fmt(row['rps_low'], 0)}-{_fmt(row['rps_high'], 0)})"


def _speed_note(results: dict) -> str:
    """How fast the host ran during the bench: the same CPU-bound probe, timed before each round."""
    probes = results.get("host_probe_ms") or []
    if not probes:
        return "no host speed probe."
    return (
        f"host speed probe (a fixed CPU loop on CPU 0, before each round): "
        f"{', '.join(f'{ms:.0f}' for ms in probes)} ms."
    )


def soak_line(result: dict) -> str:
    verdict = "passed" if result["passed"] else "FAILED"
    return (
        f"soak {verdict}: {result['requests']} requests at {result['rate_rps']:.0f}/s over "
        f"{result['connections']} connection(s) "
        f"({result['rate_rps'] / max(result['capacity_rps'], 1e-9):.0%} of {result['capacity_rps']:.0f}/s), "
        f"{result['errors']} errors, RSS {result['rss_mib'][0]:.0f} -> {result['rss_mib'][-1]:.0f} MiB "
        f"({result['rss_growth']:+.1%} under load), worst p99 {result['p99_drift']:.2f}x the first window's"
    )


def soak_markdown(result: dict) -> list[str]:
    lines = [
        "",
        f"Soak: {soak_line(result)}.",
        "",
        "| window from s | ok | errors | p50 ms | p99 ms |",
        "|---:|---:|---:|---:|---:|",
    ]
    for window in result["windows"]:
        lines.append(
            f"| {window['start_s']:.0f} | {window['ok']} | {window['errors']} | "
            f"{window['p50_ms']:.2f} | {window['p99_ms']:.2f} |"
        )
    return lines
