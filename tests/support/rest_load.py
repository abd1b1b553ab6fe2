"""A small, bounded REST load for fault tests: N workers POST a known flower until told to stop.

Every answer is checked: a request counts as failed unless it got 200 with the known species
(or a status the caller lists as expected, e.g. 429 under overload). Latencies are kept per
status so a test can report percentiles.
"""

import asyncio
import collections
import dataclasses
import math
import time

import aiohttp

from tests.support.waiting import until

# The tutorial's flower and its answer.
FLOWER = {"sepal_length": 6.8, "sepal_width": 3.2, "petal_length": 5.9, "petal_width": 2.3}
FLOWER_SPECIES = "2"
REQUEST_TIMEOUT_SECONDS = 10.0


@dataclasses.dataclass
class LoadResult:
    statuses: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    latencies: dict[int, list[float]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(list)
    )  # seconds, by status
    failures: list[str] = dataclasses.field(default_factory=list)  # one line per failed request
    # When each failed request was sent (time.monotonic()), in the order of `failures`.
    failures_sent_at: list[float] = dataclasses.field(default_factory=list)
    # The error message of each answer that was not a 200, by status.
    messages: dict[int, list[str]] = dataclasses.field(default_factory=lambda: collections.defaultdict(list))
    retry_after: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    @property
    def sent(self) -> int:
        return sum(self.statuses.values())

    @property
    def ok(self) -> int:
        return self.statuses[200]

    def summary(self) -> str:
        """One line with the counts and the latency of the 200s, for failure messages and reports."""
        return (
            f"sent {self.sent}, statuses {dict(self.statuses)}, failed {len(self.failures)}, "
            f"200 latency p50 {percentile_ms(self.latencies[200], 50):.1f} ms "
            f"p99 {percentile_ms(self.latencies[200], 99):.1f} ms"
        )


def percentile_ms(seconds: list[float], percent: float) -> float:
    """The nearest-rank percentile of `seconds`, in milliseconds (NaN for no values)."""
    if not seconds:
        return math.nan
    ordered = sorted(seconds)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1] * 1000


async def post_flower(
    session: aiohttp.ClientSession, url: str, result: LoadResult, expected: tuple[int, ...] = ()
) -> None:
    """POST the tutorial flower to `url` once and record the outcome in `result`."""
    started, sent_at = time.perf_counter(), time.monotonic()
    failures = len(result.failures)
    try:
        async with session.post(url, json=FLOWER) as response:
            body = await response.json(content_type=None)
            status = response.status
            if "Retry-After" in response.headers:
                result.retry_after[response.headers["Retry-After"]] += 1
    except (TimeoutError, aiohttp.ClientError, ValueError) as error:
        result.statuses["exception"] += 1
        result.failures.append(f"{type(error).__name__}: {error}")
        result.failures_sent_at.append(sent_at)
        return
    result.statuses[status] += 1
    result.latencies[status].append(time.perf_counter() - started)
    if status != 200:
        result.messages[status].append(str(body.get("error", {}).get("message")))
    if status == 200 and body.get("species") != FLOWER_SPECIES:
        result.failures.append(f"wrong answer {body}")
    elif status != 200 and status not in expected:
        result.failures.append(f"{status} {body}")
    if len(result.failures) > failures:
        result.failures_sent_at.append(sent_at)


async def steady_load(
    url: str,
    stop: asyncio.Event,
    result: LoadResult,
    workers: int = 8,
    max_requests: int = 20_000,
    expected: tuple[int, ...] = (),
) -> None:
    """`workers` loops POSTing the flower back to back (each on its own kept-alive connection)
    until `stop` is set or max_requests are sent, recording into `result` as they go (a test
    watches it meanwhile). Statuses in `expected` are not failures."""
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    connector = aiohttp.TCPConnector(limit=workers)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

        async def worker() -> None:
            while not stop.is_set() and result.sent < max_requests:
                await post_flower(session, url, result, expected)

        await asyncio.gather(*(worker() for _ in range(workers)))


async def burst(url: str, requests: int, expected: tuple[int, ...]) -> LoadResult:
    """`requests` POSTs of the flower all at once, each on its own connection."""
    result = LoadResult()
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    connector = aiohttp.TCPConnector(limit=0)  # no client-side queue: the server sees them all
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        await asyncio.gather(*(post_flower(session, url, result, expected) for _ in range(requests)))
    return result


async def wait_for_successes(result: LoadResult, count: int, within_seconds: float) -> None:
    """Wait until the running load has `count` more 200s than now; fail after `within_seconds`."""
    target = result.ok + count
    await until(
        lambda: result.ok >= target,
        within_seconds,
        lambda: f"load made no progress for {within_seconds} s: {result.summary()}",
    )
