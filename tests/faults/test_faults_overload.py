"""Fault: more concurrent requests than capacity, at the server and at the proxy.

The server holds at most --max-concurrent-requests calls (running or queued); gRPC refuses the
rest with RESOURCE_EXHAUSTED before they take a thread. The proxy answers that 429 with
Retry-After, and turns away POSTs past its own --max-in-flight with 429 at once. Either way
every request gets an answer (accepted or refused), none fails otherwise, and the server still
answers normally afterwards. Numbers are printed (run with -s to see them); calls carry a 30 s
deadline, and one that ran out would fail the test.
"""

import asyncio
import collections
import dataclasses
import time

import grpc

from iris_pb import iris_pb2, iris_pb2_grpc
from tests.support.proxy_process import running_proxy
from tests.support.rest_load import FLOWER, LoadResult, burst, percentile_ms, steady_load
from tests.support.server_process import running_server

SERVER_LIMIT_ARGS = ("--threads", "4", "--max-concurrent-requests", "8")
GRPC_CALLS = 200
# Large batches make each call cost the server far more than it costs this test to send it.
BATCH_ROWS = 5000
# Clients each sending one request after another, and what they send in all.
REST_CLIENTS = 32
REST_REQUESTS = 1000
DEADLINE_SECONDS = 30.0


@dataclasses.dataclass
class GrpcBurst:
    codes: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    latencies: dict[str, list[float]] = dataclasses.field(  # seconds, by status code name
        default_factory=lambda: collections.defaultdict(list)
    )
    details: dict[str, set[str]] = dataclasses.field(default_factory=lambda: collections.defaultdict(set))

    def summary(self) -> str:
        ok, refused = self.latencies["OK"], self.latencies["RESOURCE_EXHAUSTED"]
        return (
            f"{dict(self.codes)}; accepted p50 {percentile_ms(ok, 50):.0f} ms "
            f"p99 {percentile_ms(ok, 99):.0f} ms; refused p50 {percentile_ms(refused, 50):.0f} ms "
            f"p99 {percentile_ms(refused, 99):.0f} ms"
        )


async def grpc_burst(target: str, calls: int, rows: int) -> GrpcBurst:
    """`calls` PredictBatch calls of `rows` rows each, sent at once."""
    request = iris_pb2.PredictBatchRequest(features=list(FLOWER.values()) * rows)
    result = GrpcBurst()
    async with grpc.aio.insecure_channel(target) as channel:
        stub = iris_pb2_grpc.IrisPredictorStub(channel)
        await stub.PredictBatch(request, timeout=DEADLINE_SECONDS, wait_for_ready=True)  # connected

        async def one() -> None:
            started = time.perf_counter()
            try:
                await stub.PredictBatch(request, timeout=DEADLINE_SECONDS)
                code = "OK"
            except grpc.aio.AioRpcError as error:
                code = error.code().name
                result.details[code].add(error.details())
            result.codes[code] += 1
            result.latencies[code].append(time.perf_counter() - started)

        await asyncio.gather(*(one() for _ in range(calls)))
    return result


def grpc_predict_one(target: str) -> int:
    with grpc.insecure_channel(target) as channel:
        reply = iris_pb2_grpc.IrisPredictorStub(channel).Predict(
            iris_pb2.PredictRequest(**FLOWER), timeout=DEADLINE_SECONDS
        )
    return reply.species


async def rest_overload(url: str) -> LoadResult:
    """REST_CLIENTS clients POSTing back to back until REST_REQUESTS are sent; 429 expected."""
    result = LoadResult()
    await steady_load(url, asyncio.Event(), result, REST_CLIENTS, REST_REQUESTS, expected=(429,))
    return result


async def test_server_refuses_calls_past_its_limit_at_once(tmp_path):
    """Past --max-concurrent-requests the server answers RESOURCE_EXHAUSTED; the rest are answered."""
    with running_server(tmp_path, *SERVER_LIMIT_ARGS) as server:
        result = await grpc_burst(server.target, GRPC_CALLS, BATCH_ROWS)
        species_after = await asyncio.to_thread(grpc_predict_one, server.target)
    setup = f"{GRPC_CALLS} x PredictBatch of {BATCH_ROWS} rows at once, {' '.join(SERVER_LIMIT_ARGS)}"
    print(f"server overload ({setup}): {result.summary()}")
    assert set(result.codes) == {"OK", "RESOURCE_EXHAUSTED"}
    assert sum(result.codes.values()) == GRPC_CALLS
    assert all(result.details["RESOURCE_EXHAUSTED"]), "a refusal must say why"
    assert species_after == 2


async def test_proxy_answers_server_refusals_429_with_retry_after(tmp_path):
    """The server's RESOURCE_EXHAUSTED reaches REST clients as 429 + Retry-After, never as 5xx."""
    with (
        # 2: the health watch of the proxy's one connection holds one call for good.
        running_server(tmp_path, "--threads", "4", "--max-concurrent-requests", "2") as server,
        running_proxy(tmp_path, server.target, "--upstream-connections", "1") as proxy,
    ):
        result = await rest_overload(f"{proxy.url}/")
        after = await burst(f"{proxy.url}/", 1, expected=())
    print(
        f"server overload through the proxy ({REST_CLIENTS} clients, server --max-concurrent-requests 2): "
        f"{result.summary()}; 429 p99 {percentile_ms(result.latencies[429], 99):.1f} ms"
    )
    assert result.failures == [], result.failures[:10]
    assert result.statuses[429] > 0
    assert result.retry_after == {"1": result.statuses[429]}
    assert after.ok == 1


async def test_proxy_refuses_posts_past_max_in_flight_with_429(tmp_path):
    """Past --max-in-flight the proxy answers 429 + Retry-After itself, naming the setting."""
    with (
        running_server(tmp_path) as server,
        running_proxy(tmp_path, server.target, "--max-in-flight", "4") as proxy,
    ):
        result = await rest_overload(f"{proxy.url}/")
        after = await burst(f"{proxy.url}/", 1, expected=())
    print(
        f"proxy overload ({REST_CLIENTS} clients, --max-in-flight 4): {result.summary()}; "
        f"429 p50 {percentile_ms(result.latencies[429], 50):.1f} ms "
        f"p99 {percentile_ms(result.latencies[429], 99):.1f} ms"
    )
    assert result.failures == [], result.failures[:10]
    assert result.statuses[429] > 0
    assert result.ok > 0
    assert result.retry_after == {"1": result.statuses[429]}
    assert "--max-in-flight" in result.messages[429][0]
    assert after.ok == 1
