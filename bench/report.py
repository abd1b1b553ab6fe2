"""Turn benchmark rows into the markdown table, the target checks and one-line progress.

Points that feed the targets are measured in several rounds (see bench/__main__.py): the table
shows each point's median over its rounds, and each target is computed within each round (so a
ratio compares points measured seconds apart, not a quarter of an hour) and reported as the
median of those ratios with their range.
"""

import statistics


def one_line(row: dict) -> str:
    if row["status"] != "ok":
        return f"{row['group']:32} {row['point']:34} c={row['concurrency']:<3} {row['status']}"
    return (
        f"{row['group']:32} {row['point']:34} c={row['concurrency']:<3} {row['rps']:9.0f} req/s "
        f"{row['rows_per_s']:11.0f} rows/s  p50 {row['p50_ms']:7.2f} ms  p99 {row['p99_ms']:7.2f} ms"
    )


def _find(results: dict, group_prefix: str, point_prefix: str, concurrency: int) -> dict | None:
    for row in results["points"]:
        if (
            row["group"].startswith(group_prefix)
            and row["point"].startswith(point_prefix)
            and row["concurrency"] == concurrency
            and row["status"] == "ok"
        ):
            return row
    return None


def _ratio(a: dict | None, key_a: str, b: dict | None, key_b: str) -> float | None:
    return a[key_a] / b[key_b] if a and b and b[key_b] else None


def targets(results: dict) -> list[dict]:
    """The performance issue's targets from one round's points and start-up (value None where a
    point is missing or failed)."""
    threaded = _find(results, "constant grpc-threaded", "Predict predict", 64)
    aio = _find(results, "constant grpc-aio", "Predict predict", 64)
    fastest_const = max((r for r in (threaded, aio) if r), key=lambda r: r["rps"], default=None)
    const_c1 = [_find(results, f"constant {k}", "Predict predict", 1) for k in ("grpc-threaded", "grpc-aio")]
    fastest_c1 = min((r for r in const_c1 if r), key=lambda r: r["p99_ms"], default=None)
    predict64 = _find(results, "server (1 worker)", "Predict predict", 64)
    predict1 = _find(results, "server (1 worker)", "Predict predict", 1)
    stream = _find(results, "server (1 worker)", "PredictStream", 64) or _find(
        results, "server (1 worker)", "PredictStream", 1
    )
    batch = _find(results, "server (1 worker)", "PredictBatch", 64)
    infer = _find(results, "server (1 worker)", "ModelInfer infer1000", 64)
    rest64 = _find(results, "proxy + server", "POST / form", 64)
    rest1 = _find(results, "proxy + server", "POST / form", 1)
    startup = results.get("startup") or {}
    checks = [
        (
            "1. Predict c64 / fastest constant unary c64",
            _ratio(predict64, "rps", fastest_const, "rps"),
            ">=",
            0.85,
        ),
        ("2. Predict c1 p99 / constant c1 p99", _ratio(predict1, "p99_ms", fastest_c1, "p99_ms"), "<=", 1.3),
        (
            "3. PredictStream msgs/s / Predict c64 req/s",
            _ratio(stream, "messages_per_s", predict64, "rps"),
            ">=",
            2,
        ),
        (
            "4a. PredictBatch 1000 req/s / constant unary c64",
            _ratio(batch, "rps", fastest_const, "rps"),
            ">=",
            0.5,
        ),
        (
            "4b. ModelInfer 1000 req/s / constant unary c64",
            _ratio(infer, "rps", fastest_const, "rps"),
            ">=",
            0.5,
        ),
        ("5. REST POST / c64 / gRPC Predict c64", _ratio(rest64, "rps", predict64, "rps"), ">=", 2),
        ("6. REST c1 p50 / gRPC Predict c1 p50", _ratio(rest1, "p50_ms", predict1, "p50_ms"), "<=", 2),
        ("7a. seconds to SERVING", startup.get("seconds_to_serving"), "<=", 1.0),
        ("7b. idle server RSS MiB (1 worker)", startup.get("idle_rss_mib"), "<=", 100),
    ]
    rows = []
    for name, value, op, goal in checks:
        met = _met(value, op, goal)
        rows.append(
            {
                "target": name,
                "value": value,
                "op": op,
                "goal_value": goal,
                "goal": f"{op} {goal:g}",
                "met": met,
            }
        )
    return rows


def _met(value: float | None, op: str, goal: float) -> bool | None:
    return None if value is None else (value >= goal if op == ">=" else value <= goal)


def combined_targets(rounds: list[dict]) -> list[dict]:
    """Each target's median over the rounds (each round: {"points": ..., "startup": ...}), with the
    lowest and highest round and every round's value; a round that could not measure it is left out."""
    per_round = [targets(one) for one in rounds]
    combined = []
    for index, first in enumerate(per_round[0] if per_round else []):
        values = [r[index]["value"] for r in per_round if r[index]["value"] is not None]
        value = statistics.median(values) if values else None
        combined.append(
            {
                **first,
                "value": value,
                "low": min(values, default=None),
                "high": max(values, default=None),
                "rounds": values,
                "met": _met(value, first["op"], first["goal_value"]),
            }
        )
    return combined


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
