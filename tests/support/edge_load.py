"""REST and gRPC load through an edge together, running until stopped: what the end-to-end tests
hold steady while they restart, kill, update or publish (tests/e2e/)."""

import asyncio
import dataclasses
from collections.abc import Callable

from tests.support.grpc_load import GrpcLoadResult, steady_grpc_load
from tests.support.rest_load import LoadResult, steady_load, wait_for_successes
from tests.support.waiting import until

FAILURES_SHOWN = 20


@dataclasses.dataclass(frozen=True)
class LoadShape:
    """How hard the loads press, and how far `progress` waits."""

    rest_workers: int
    grpc_callers: int
    max_requests: int  # a bound on each load, far above what a test sends
    successes_per_phase: int = 100
    phase_timeout_seconds: float = 60.0


class EdgeLoads:
    """REST requests to `rest_url` and gRPC calls on one channel to `grpc_target`, until stopped."""

    def __init__(self, rest_url: str, grpc_target: str, shape: LoadShape) -> None:
        self.rest, self.grpc = LoadResult(), GrpcLoadResult()
        self.shape = shape
        self._targets = rest_url, grpc_target
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    def start(self) -> "EdgeLoads":
        rest_url, grpc_target = self._targets
        shape = self.shape
        rest = steady_load(rest_url, self._stop, self.rest, shape.rest_workers, shape.max_requests)
        calls = steady_grpc_load(grpc_target, self._stop, self.grpc, shape.grpc_callers, shape.max_requests)
        self._tasks = [asyncio.create_task(rest), asyncio.create_task(calls)]
        return self

    async def progress(self) -> None:
        """Wait until both loads have succeeded `successes_per_phase` more times."""
        successes, timeout = self.shape.successes_per_phase, self.shape.phase_timeout_seconds
        await wait_for_successes(self.rest, successes, timeout)
        target = self.grpc.ok + successes
        await until(lambda: self.grpc.ok >= target, timeout, self.grpc.summary)

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    def summary(self) -> str:
        return f"REST: {self.rest.summary()}; gRPC: {self.grpc.summary()}"

    def assert_nothing_failed(self, context: Callable[[], str] = str) -> None:
        """Fail, showing the first failures and `context()` (asked only then), if any call failed."""
        for failures in (self.rest.failures, self.grpc.failures):
            if failures:
                shown = "\n".join(failures[:FAILURES_SHOWN])
                raise AssertionError(f"{self.summary()}\n{shown}{context()}")
