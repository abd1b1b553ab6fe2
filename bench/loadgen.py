"""Drive the standard load generators (h2load for gRPC, wrk for REST) and read their results.

Every run is pinned to the load CPU with taskset; each returns one `LoadResult`.
"""

import dataclasses
import pathlib
import re
import subprocess
import tempfile

import numpy as np

GRPC_HEADERS = ["-H", "content-type: application/grpc", "-H", "te: trailers"]
WRK_SUMMARY = re.compile(r"^RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)$", re.MULTILINE)

# wrk prints its numbers through this hook, so nothing depends on its human-readable layout.
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "{content_type}"
wrk.body = [==[{body}]==]
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    e.status, e.connect + e.read + e.write + e.timeout, latency.mean,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclasses.dataclass
class LoadResult:
    """What one load point measured; latencies in milliseconds."""

    requests: int
    seconds: float
    errors: int
    mean_ms: float
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _pinned(cpu: str | None, command: list[str]) -> list[str]:
    return ["taskset", "-c", cpu, *command] if cpu is not None else command


def h2load(
    url: str,
    body: pathlib.Path,
    connections: int,
    streams: int,
    seconds: float,
    warmup: float,
    cpu: str | None,
    threads: int = 1,
) -> LoadResult:
    """POST `body` (gRPC frames) to `url` over `connections` x `streams` concurrent HTTP/2 streams,
    from `threads` threads."""
    with tempfile.NamedTemporaryFile(suffix=".log") as log:
        command = [
            "h2load",
            f"--duration={seconds:g}",
            f"--warm-up-time={warmup:g}",
            f"--clients={connections}",
            f"--threads={min(threads, connections)}",
            f"--max-concurrent-streams={streams}",
            f"--log-file={log.name}",
            *GRPC_HEADERS,
            f"--data={body}",
            url,
        ]
        out = subprocess.run(
            _pinned(cpu, command), capture_output=True, text=True, timeout=seconds + warmup + 60
        )
        elapsed_us = np.loadtxt(log.name, usecols=(1, 2), ndmin=2)
    summary = re.search(r"(\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", out.stdout)
    if out.returncode != 0 or summary is None:
        raise RuntimeError(f"h2load failed: {out.stdout[-500:]} {out.stderr[-500:]}")
    succeeded, failed, errored, timed_out = (int(g) for g in summary.groups())
    # Status 0 marks a stream the duration cut short; it is neither an answer nor an error.
    finished = elapsed_us[elapsed_us[:, 0] != 0] if len(elapsed_us) else elapsed_us
    not_ok = int(np.count_nonzero(finished[:, 0] != 200))
    latencies_ms = finished[:, 1] / 1000.0 if len(finished) else np.zeros(1)
    return LoadResult(
        requests=succeeded,
        seconds=seconds,
        errors=failed + errored + timed_out + not_ok,
        mean_ms=float(latencies_ms.mean()),
        p50_ms=float(np.percentile(latencies_ms, 50)),
        p99_ms=float(np.percentile(latencies_ms, 99)),
    )


def wrk(
    url: str,
    body: str,
    content_type: str,
    connections: int,
    seconds: float,
    warmup: float,
    cpu: str | None,
    threads: int = 1,
) -> LoadResult:
    """POST `body` to `url` over `connections` keep-alive connections from `threads` threads, after
    a discarded warm-up."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(WRK_SCRIPT.format(content_type=content_type, body=body))
        script.flush()

        def run(duration: float) -> str:
            command = [
                "wrk",
                f"-t{min(threads, connections)}",
                f"-c{connections}",
                f"-d{duration:g}s",
                "--timeout",
                "10s",
                "-s",
                script.name,
            ]
            out = subprocess.run(
                _pinned(cpu, [*command, url]), capture_output=True, text=True, timeout=duration + 60
            )
            if out.returncode != 0:
                raise RuntimeError(f"wrk failed: {out.stdout[-500:]} {out.stderr[-500:]}")
            return out.stdout

        if warmup > 0:
            run(warmup)
        match = WRK_SUMMARY.search(run(seconds))
    if match is None:
        raise RuntimeError("wrk printed no RESULT line")
    requests, duration_us, status_errors, socket_errors, mean_us, p50_us, p99_us = (
        int(g) for g in match.groups()
    )
    return LoadResult(
        requests=requests - status_errors,
        seconds=duration_us / 1e6,
        errors=status_errors + socket_errors,
        mean_ms=mean_us / 1000.0,
        p50_ms=p50_us / 1000.0,
        p99_ms=p99_us / 1000.0,
    )
