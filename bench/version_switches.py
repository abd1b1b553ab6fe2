"""What a version switch under load did, read from the load's per-call records (bench/switch_load.py:
scheduled start, end, version that answered or 0, ok) and the moment the version was published.

- served: the end of the first successful answer carrying the new version; its time from the
  publication is what a client waits for the new version;
- steady state: the calls started in the STEADY_SECONDS before the publication;
- the switch: the calls started within WINDOW_SECONDS either side of the first new answer, which
  holds the poll that found the version, its load and warm-up (on the server's CPU, while it
  answers) and the switch itself;
- p50, p99 and max latency of each, over its successful calls, and the failed calls apart (there
  must be none);
- old answers after the switch: calls started after the first new answer that an older version
  answered (the switch is one step, so there must be none).
"""

import numpy as np

from bench.ratios import summary

STEADY_SECONDS = 2.0
WINDOW_SECONDS = 0.5
START, END, VERSION, OK = range(4)  # the columns of a record


def as_records(records) -> np.ndarray:
    """Records as float64 [calls, 4], whether they came as an array or a list of tuples."""
    return np.asarray(records, dtype=np.float64).reshape(-1, 4)


def latency_stats(records: np.ndarray) -> dict:
    """Calls, failed calls, and p50, p99 and max ms of the successful ones (None when there are none)."""
    ok = records[records[:, OK] == 1]
    latencies_ms = (ok[:, END] - ok[:, START]) * 1000.0
    found = len(latencies_ms) > 0
    return {
        "calls": len(records),
        "failed": int(np.count_nonzero(records[:, OK] != 1)),
        "p50_ms": float(np.percentile(latencies_ms, 50)) if found else None,
        "p99_ms": float(np.percentile(latencies_ms, 99)) if found else None,
        "max_ms": float(latencies_ms.max()) if found else None,
    }


def switch_stats(
    records,
    published_at: float,
    version: int,
    steady_seconds: float = STEADY_SECONDS,
    window_seconds: float = WINDOW_SECONDS,
) -> dict:
    """One publication of `version` at `published_at` (same clock as the records), as the module says;
    the switch's numbers are None if no answer ever carried the version."""
    records = as_records(records)
    starts = records[:, START]
    steady = latency_stats(records[(starts >= published_at - steady_seconds) & (starts < published_at)])
    new = records[(records[:, OK] == 1) & (records[:, VERSION] == version)]
    result = {"version": version, "published_at": published_at, "steady": steady}
    if not len(new):
        unseen = dict.fromkeys(("seconds_to_serving", "switch", "p99_ratio", "old_after_switch"))
        return {**result, **unseen}
    served_at = float(new[:, END].min())
    window = records[np.abs(starts - served_at) <= window_seconds]
    switch = latency_stats(window)
    after = records[(starts > served_at) & (records[:, OK] == 1)]
    ratio = switch["p99_ms"] / steady["p99_ms"] if switch["p99_ms"] and steady["p99_ms"] else None
    return {
        **result,
        "seconds_to_serving": served_at - published_at,
        "switch": switch,
        "p99_ratio": ratio,
        "old_after_switch": int(np.count_nonzero(after[:, VERSION] < version)),
    }


def run_summary(switches: list[dict], records) -> dict:
    """Publications of one load, together: the median and range over switches of the time to serving
    and of the p99 ratio; how many switches were seen; calls and failed calls of the whole load."""
    records = as_records(records)
    served = [s for s in switches if s["seconds_to_serving"] is not None]
    return {
        "publications": len(switches),
        "served": len(served),
        "seconds_to_serving": summary([s["seconds_to_serving"] for s in served]),
        "p99_ratio": summary([s["p99_ratio"] for s in served if s["p99_ratio"] is not None]),
        "steady_p99_ms": summary([s["steady"]["p99_ms"] for s in switches if s["steady"]["p99_ms"]]),
        "switch_p99_ms": summary([s["switch"]["p99_ms"] for s in served if s["switch"]["p99_ms"]]),
        "switch_max_ms": max((s["switch"]["max_ms"] or 0.0 for s in served), default=None),
        "old_after_switch": sum(s["old_after_switch"] for s in served),
        "calls": len(records),
        "failed": int(np.count_nonzero(records[:, OK] != 1)),
    }
