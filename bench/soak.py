"""The soak: minutes of REST load at about 70% of measured capacity, proxy and server on one core.

wrk is a closed-loop generator, so the load is set by its number of connections: the soak
probes a few counts and keeps the one whose throughput is nearest 70% of the 64-connection
capacity, then runs back-to-back windows at it, sampling the services' RSS between windows.
Passes when no request fails, RSS grows by less than 10% from the first window on, and no
window's p99 exceeds 3x the first window's.
"""

from bench import loadgen

CAPACITY_SHARE = 0.7
MAX_RSS_GROWTH = 0.10
MAX_P99_DRIFT = 3.0
PROBE_CONNECTIONS = (1, 2, 4, 8, 12, 16, 24, 32, 48)
PROBE_SECONDS = 3
BODY = "sepal_length=6.8&sepal_width=3.2&petal_length=5.9&petal_width=2.3"
CONTENT_TYPE = "application/x-www-form-urlencoded"


def _rss(services) -> float:
    return sum(s.rss_mib() for s in services)


def _connections_for(url: str, target_rps: float, load_cpu: str) -> int:
    """The probed connection count whose req/s is nearest `target_rps`."""
    measured = {
        c: loadgen.wrk(url, BODY, CONTENT_TYPE, c, PROBE_SECONDS, 1, load_cpu).rps for c in PROBE_CONNECTIONS
    }
    best = min(measured, key=lambda c: abs(measured[c] - target_rps))
    return best


def soak(url: str, services, seconds: float, window_seconds: float, load_cpu: str) -> dict:
    """Measure capacity (64 connections), then hold about CAPACITY_SHARE of it for `seconds`."""
    capacity = loadgen.wrk(url, BODY, CONTENT_TYPE, 64, 5, 2, load_cpu).rps
    if capacity == 0:
        raise RuntimeError("no request succeeded while measuring capacity: see the proxy's log")
    connections = _connections_for(url, CAPACITY_SHARE * capacity, load_cpu)
    rss = [_rss(services)]
    windows = []
    for index in range(max(1, round(seconds / window_seconds))):
        result = loadgen.wrk(url, BODY, CONTENT_TYPE, connections, window_seconds, 0, load_cpu)
        rss.append(_rss(services))
        windows.append(
            {
                "start_s": index * window_seconds,
                "ok": result.requests,
                "errors": result.errors,
                "rps": result.rps,
                "p50_ms": result.p50_ms,
                "p99_ms": result.p99_ms,
                "rss_mib": rss[-1],
            }
        )
    errors = sum(w["errors"] for w in windows)
    rss_growth = (rss[-1] - rss[1]) / rss[1]
    drift = max(w["p99_ms"] for w in windows) / windows[0]["p99_ms"] if windows[0]["p99_ms"] else 0.0
    rate = sum(w["rps"] for w in windows) / len(windows)
    return {
        "capacity_rps": capacity,
        "connections": connections,
        "rate_rps": rate,
        "seconds": seconds,
        "requests": sum(w["ok"] + w["errors"] for w in windows),
        "errors": errors,
        "rss_mib": rss,
        "rss_growth": rss_growth,
        "windows": windows,
        "p99_drift": drift,
        "passed": errors == 0 and rss_growth < MAX_RSS_GROWTH and drift <= MAX_P99_DRIFT,
    }
