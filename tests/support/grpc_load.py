"""A small, bounded gRPC load for fault tests: N callers share one channel and call Predict with a
known flower until told to stop, as a client of the edge would (one connection, many calls)."""

import asyncio
import collections
import dataclasses
import time

import grpc

from iris_pb import iris_pb2, iris_pb2_grpc
from tests.support.rest_load import FLOWER, FLOWER_SPECIES

CALL_TIMEOUT_SECONDS = 10.0


@dataclasses.dataclass
class GrpcLoadResult:
    codes: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    failures: list[str] = dataclasses.field(default_factory=list)  # one line per failed call
    failures_sent_at: list[float] = dataclasses.field(default_factory=list)  # time.monotonic()

    @property
    def ok(self) -> int:
        return self.codes["OK"]

    def summary(self) -> str:
        return f"calls {sum(self.codes.values())}, codes {dict(self.codes)}, failed {len(self.failures)}"


async def steady_grpc_load(
    target: str, stop: asyncio.Event, result: GrpcLoadResult, callers: int = 4, max_calls: int = 20_000
) -> None:
    """`callers` loops calling Predict back to back on one channel to `target` until `stop` is set
    or `max_calls` are made, recording each outcome in `result`."""
    request = iris_pb2.PredictRequest(**FLOWER)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = iris_pb2_grpc.IrisPredictorStub(channel)

        async def caller() -> None:
            while not stop.is_set() and sum(result.codes.values()) < max_calls:
                sent_at = time.monotonic()
                try:
                    reply = await stub.Predict(request, timeout=CALL_TIMEOUT_SECONDS)
                except grpc.aio.AioRpcError as error:
                    result.codes[error.code().name] += 1
                    result.failures.append(f"{error.code().name}: {error.details()}")
                    result.failures_sent_at.append(sent_at)
                    continue
                result.codes["OK"] += 1
                if str(reply.species) != FLOWER_SPECIES:
                    result.failures.append(f"wrong answer {reply}")
                    result.failures_sent_at.append(sent_at)

        await asyncio.gather(*(caller() for _ in range(callers)))
