"""The POST / coalescer: concurrent rows share PredictBatch calls, each caller its own answer or error."""

import asyncio
import logging
import math

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2, status_pb2

from common.names import FEATURE_NAMES
from common.settings import SettingsError
from iris_pb import iris_pb2, iris_pb2_grpc
from proxy.coalescer import MAX_BATCH_ID_CHARS, Coalescer, bad_row, batch_request_id
from proxy.config import parse_settings

NOT_FINITE = "sepal_width is NaN; features must be finite numbers"
CLASS_NAMES = ("setosa", "versicolor", "virginica")


def flower(sepal_length: float, sepal_width: float = 3.0) -> dict[str, float]:
    return dict(zip(FEATURE_NAMES, (sepal_length, sepal_width, 1.0, 0.5), strict=True))


def species_of(features: dict[str, float]) -> int:
    """The fake model's answer: each test flower says which species it wants."""
    return int(features["sepal_length"]) % 3


def rpc_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


def refused(message: str, field: str, description: str = NOT_FINITE) -> grpc.aio.AioRpcError:
    """INVALID_ARGUMENT whose google.rpc.Status details carry a BadRequest violation of `field`."""
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message)
    violation = error_details_pb2.BadRequest.FieldViolation(field=field, description=description)
    status.details.add().Pack(error_details_pb2.BadRequest(field_violations=[violation]))
    trailing = grpc.aio.Metadata(("grpc-status-details-bin", status.SerializeToString()))
    return grpc.aio.AioRpcError(grpc.StatusCode.INVALID_ARGUMENT, grpc.aio.Metadata(), trailing, message)


def the_servers_refusal(row: int) -> grpc.aio.AioRpcError:
    """What the server answers a batch whose row `row` has a NaN sepal_width."""
    return refused(f"row {row}: {NOT_FINITE}", f"rows[{row}].sepal_width")


class FakeUpstream:
    """Upstream's predict and predict_batch, answering like the server (first NaN row refused).

    While `gate` is clear every call waits for it, so tests decide what is in flight.
    """

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.gate.set()
        self.calls: list[tuple[str, int, str]] = []  # (method, rows, x-request-id)
        self.batch_error: grpc.aio.AioRpcError | None = None
        self.refusal = the_servers_refusal  # the error for a batch whose row k has a NaN

    async def predict(self, features, request_id):
        self.calls.append(("Predict", 1, request_id))
        await self.gate.wait()
        if math.isnan(features["sepal_width"]):
            raise rpc_error(grpc.StatusCode.INVALID_ARGUMENT, NOT_FINITE)
        species = species_of(features)
        return iris_pb2.PredictReply(
            species=species,
            species_name=CLASS_NAMES[species],
            probabilities=[0.5, 0.25, 0.25],
            model_name="iris",
            model_version="1",
        )

    async def predict_batch(self, flat, request_id):
        rows = [dict(zip(FEATURE_NAMES, flat[i : i + 4], strict=True)) for i in range(0, len(flat), 4)]
        self.calls.append(("PredictBatch", len(rows), request_id))
        await self.gate.wait()
        if self.batch_error is not None:
            raise self.batch_error
        for index, row in enumerate(rows):
            if math.isnan(row["sepal_width"]):
                raise self.refusal(index)
        return iris_pb2.PredictBatchReply(
            species=[species_of(row) for row in rows],
            probabilities=[0.5, 0.25, 0.25] * len(rows),
            class_names=CLASS_NAMES,
            model_name="iris",
            model_version="1",
        )

    def methods(self) -> list[tuple[str, int]]:
        return [(method, rows) for method, rows, _ in self.calls]


async def settle() -> None:
    """Let every ready task run until none is left to run (no timers involved)."""
    for _ in range(20):
        await asyncio.sleep(0)


async def submit(coalescer: Coalescer, flowers: list[dict[str, float]]) -> list[asyncio.Task]:
    """Start one caller per flower, in order, each with request id r<index>."""
    tasks = []
    for index, features in enumerate(flowers):
        tasks.append(asyncio.ensure_future(coalescer.predict(features, f"r{index}")))
        await asyncio.sleep(0)  # the caller runs up to its wait
    return tasks


async def test_a_lone_request_goes_at_once_as_a_unary_call():
    upstream = FakeUpstream()
    coalescer = Coalescer(upstream, max_rows=64, max_wait_us=1_000_000)
    reply = await coalescer.predict(flower(2), "only")
    assert (reply.species, reply.species_name) == (2, "virginica")
    assert upstream.calls == [("Predict", 1, "only")]


async def test_requests_arriving_during_a_call_share_one_batch_call_and_get_their_own_answers():
    upstream = FakeUpstream()
    upstream.gate.clear()
    coalescer = Coalescer(upstream, max_rows=64, max_wait_us=1_000_000)
    tasks = await submit(coalescer, [flower(n) for n in (0, 1, 2, 3, 4)])
    upstream.gate.set()  # the first call returns; the four that waited go together
    replies = await asyncio.gather(*tasks)
    assert [r.species for r in replies] == [0, 1, 2, 0, 1]
    assert [r.species_name for r in replies] == ["setosa", "versicolor", "virginica", "setosa", "versicolor"]
    assert all(list(r.probabilities) == [0.5, 0.25, 0.25] for r in replies)
    assert {(r.model_name, r.model_version) for r in replies} == {("iris", "1")}
    assert upstream.methods() == [("Predict", 1), ("PredictBatch", 4)]
    assert upstream.calls[1][2] == "r1 r2 r3 r4"  # the batch call carries its rows' ids


async def test_a_batch_goes_as_soon_as_max_rows_wait():
    upstream = FakeUpstream()
    upstream.gate.clear()
    coalescer = Coalescer(upstream, max_rows=2, max_wait_us=1_000_000)
    tasks = await submit(coalescer, [flower(n) for n in range(6)])
    await settle()
    # One alone (nothing was in flight), two full batches at once; the sixth row waits.
    assert upstream.methods() == [("Predict", 1), ("PredictBatch", 2), ("PredictBatch", 2)]
    upstream.gate.set()
    assert [r.species for r in await asyncio.gather(*tasks)] == [0, 1, 2, 0, 1, 2]
    assert upstream.methods()[3:] == [("Predict", 1)]  # sent when a call returned


async def test_a_waiting_row_goes_after_max_wait_even_while_a_call_is_stuck():
    stuck = asyncio.Event()

    class StuckFirstCall(FakeUpstream):
        async def predict(self, features, request_id):
            if request_id == "stuck":
                await stuck.wait()
            return await super().predict(features, request_id)

    upstream = StuckFirstCall()
    coalescer = Coalescer(upstream, max_rows=64, max_wait_us=1000)
    first = asyncio.ensure_future(coalescer.predict(flower(0), "stuck"))
    await settle()
    reply = await coalescer.predict(flower(1), "later")  # answered although the first call never returns
    assert reply.species == 1
    assert not first.done()
    stuck.set()
    assert (await first).species == 0


async def test_a_bad_row_gets_its_own_error_and_never_fails_its_neighbours():
    upstream = FakeUpstream()
    upstream.gate.clear()
    coalescer = Coalescer(upstream, max_rows=64, max_wait_us=1_000_000)
    flowers = [flower(0), flower(1), flower(2, math.nan), flower(3), flower(4, math.nan), flower(5)]
    tasks = await submit(coalescer, flowers)
    upstream.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [r.species for i, r in enumerate(results) if i not in (2, 4)] == [0, 1, 0, 2]
    for bad in (results[2], results[4]):
        assert isinstance(bad, grpc.aio.AioRpcError)
        assert bad.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert bad.details() == NOT_FINITE  # what the caller would have got alone: no batch row number
    assert results[2] is not results[4]
    # The batch of rows 1-5 fails on row 2, which is retried alone while the rest go again; that
    # batch fails on row 4 (its row 2), retried alone; the last batch answers rows 1, 3 and 5.
    assert sorted(upstream.calls) == sorted(
        [
            ("Predict", 1, "r0"),
            ("PredictBatch", 5, "r1 r2 r3 r4 r5"),
            ("Predict", 1, "r2"),
            ("PredictBatch", 4, "r1 r3 r4 r5"),
            ("Predict", 1, "r4"),
            ("PredictBatch", 3, "r1 r3 r5"),
        ]
    )


async def test_invalid_argument_naming_no_row_sends_every_row_alone():
    upstream = FakeUpstream()
    upstream.gate.clear()
    upstream.batch_error = rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "features has 7 values")
    coalescer = Coalescer(upstream, max_rows=64, max_wait_us=1_000_000)
    tasks = await submit(coalescer, [flower(n) for n in range(4)])
    upstream.gate.set()
    assert [r.species for r in await asyncio.gather(*tasks)] == [0, 1, 2, 0]
    assert sorted(upstream.methods()) == [("Predict", 1)] * 4 + [("PredictBatch", 3)]


async def test_the_row_named_in_the_details_is_sent_again_alone_whatever_the_message_says():
    """The coalescer learns the bad row from the BadRequest details, never from the message."""
    upstream = FakeUpstream()
    upstream.refusal = lambda row: refused("a row is not finite", f"rows[{row}].sepal_width")
    upstream.gate.clear()
    coalescer = Coalescer(upstream, max_rows=64, max_wait_us=1_000_000)
    tasks = await submit(coalescer, [flower(0), flower(1), flower(2, math.nan), flower(3)])
    upstream.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [results[i].species for i in (0, 1, 3)] == [0, 1, 0]
    assert results[2].details() == NOT_FINITE
    assert sorted(upstream.calls) == sorted(
        [
            ("Predict", 1, "r0"),
            ("PredictBatch", 3, "r1 r2 r3"),
            ("Predict", 1, "r2"),
            ("PredictBatch", 2, "r1 r3"),
        ]
    )


async def test_a_row_named_only_in_the_message_is_not_taken_for_the_bad_one():
    """Without details, "row k: ..." in a message names no row: every row is sent again alone."""
    upstream = FakeUpstream()
    upstream.refusal = lambda row: rpc_error(grpc.StatusCode.INVALID_ARGUMENT, f"row {row}: {NOT_FINITE}")
    upstream.gate.clear()
    coalescer = Coalescer(upstream, max_rows=64, max_wait_us=1_000_000)
    tasks = await submit(coalescer, [flower(0), flower(1), flower(2, math.nan), flower(3)])
    upstream.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [results[i].species for i in (0, 1, 3)] == [0, 1, 0]
    assert results[2].details() == NOT_FINITE
    assert sorted(upstream.methods()) == [("Predict", 1)] * 4 + [("PredictBatch", 3)]


@pytest.mark.parametrize(
    ("error", "row"),
    [
        (refused("refused", "rows[1].sepal_width"), 1),
        (refused("refused", "rows[2]"), 2),
        (refused("refused", "rows[3].sepal_width"), None),  # not a row of a 3-row batch
        (refused("refused", "features"), None),
        (refused("refused", "rowsy[1]"), None),
        (rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "row 1: sepal_width is NaN"), None),
    ],
)
def test_bad_row_reads_the_row_from_the_details_of_a_3_row_batch(error, row):
    assert bad_row(error, rows=3) == row


async def test_bad_row_finds_the_row_in_the_real_servers_answer_to_a_grpc_aio_call(iris_server):
    """The server's details reach the proxy's kind of client (grpc.aio) intact."""
    features = [5.1, 3.5, 1.4, 0.2] * 2 + [5.1, math.nan, 1.4, 0.2]
    async with grpc.aio.insecure_channel(iris_server.target) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await iris_pb2_grpc.IrisPredictorStub(channel).PredictBatch(
                iris_pb2.PredictBatchRequest(features=features), timeout=10
            )
    assert bad_row(error.value, rows=3) == 2


def test_details_that_contradict_the_calls_message_name_no_row():
    """A google.rpc.Status must repeat the call's code and message; one that does not is ignored."""
    honest = refused("row 1: refused", "rows[1].sepal_width")
    status = grpc.aio.AioRpcError(
        grpc.StatusCode.INVALID_ARGUMENT, grpc.aio.Metadata(), honest.trailing_metadata(), "something else"
    )
    assert bad_row(status, rows=3) is None


@pytest.mark.parametrize(
    "code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.INTERNAL]
)
async def test_a_failed_batch_call_is_every_callers_own_error(code):
    upstream = FakeUpstream()
    upstream.gate.clear()
    upstream.batch_error = rpc_error(code, "upstream trouble")
    coalescer = Coalescer(upstream, max_rows=64, max_wait_us=1_000_000)
    tasks = await submit(coalescer, [flower(n) for n in range(4)])
    upstream.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0].species == 0  # the first call, alone, succeeded
    errors = results[1:]
    assert all(isinstance(e, grpc.aio.AioRpcError) and e.code() is code for e in errors)
    assert all(e.details() == "upstream trouble" for e in errors)
    assert len({id(e) for e in errors}) == 3  # each caller raises its own exception
    assert upstream.methods() == [("Predict", 1), ("PredictBatch", 3)]  # nothing sent again


async def test_a_failed_batch_logs_every_request_id_it_carried(caplog):
    upstream = FakeUpstream()
    upstream.gate.clear()
    upstream.batch_error = rpc_error(grpc.StatusCode.UNAVAILABLE, "gone")
    coalescer = Coalescer(upstream, max_rows=64, max_wait_us=1_000_000)
    tasks = await submit(coalescer, [flower(n) for n in range(3)])
    with caplog.at_level(logging.WARNING, logger="proxy.coalescer"):
        upstream.gate.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    [record] = [r for r in caplog.records if r.name == "proxy.coalescer"]
    assert record.request_ids == ["r1", "r2"]
    assert (record.grpc_code, record.grpc_details) == ("UNAVAILABLE", "gone")


async def test_a_caller_that_went_away_does_not_disturb_the_others():
    upstream = FakeUpstream()
    upstream.gate.clear()
    coalescer = Coalescer(upstream, max_rows=64, max_wait_us=1_000_000)
    tasks = await submit(coalescer, [flower(n) for n in range(4)])
    tasks[2].cancel()
    upstream.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[2], asyncio.CancelledError)
    assert [results[i].species for i in (0, 1, 3)] == [0, 1, 0]


async def test_max_rows_1_sends_every_row_alone():
    upstream = FakeUpstream()
    upstream.gate.clear()
    coalescer = Coalescer(upstream, max_rows=1, max_wait_us=1_000_000)
    tasks = await submit(coalescer, [flower(n) for n in range(3)])
    upstream.gate.set()
    assert [r.species for r in await asyncio.gather(*tasks)] == [0, 1, 2]
    assert upstream.methods() == [("Predict", 1)] * 3


async def test_close_cancels_rows_still_waiting():
    upstream = FakeUpstream()
    upstream.gate.clear()
    coalescer = Coalescer(upstream, max_rows=64, max_wait_us=1_000_000)
    tasks = await submit(coalescer, [flower(n) for n in range(2)])
    coalescer.close()
    upstream.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0].species == 0
    assert isinstance(results[1], asyncio.CancelledError)


async def test_concurrent_posts_to_a_real_server_each_get_their_own_answer_or_error(
    proxy_client, iris_server, iris_stub
):
    """Through the real proxy and server: bad rows among good ones get their own 400, the rest 200."""
    client = await proxy_client(upstream=iris_server.target)
    flowers = [flower(4.4 + 0.1 * n, 2.5 + 0.05 * n) for n in range(24)]
    flowers[5]["sepal_width"] = math.nan
    flowers[17]["petal_width"] = 1e38  # too large for the model: the server refuses it after the run
    bodies = [{name: str(value) for name, value in f.items()} for f in flowers]
    responses = await asyncio.gather(*(client.post("/", data=body) for body in bodies))
    answers = [await response.json() for response in responses]
    assert [r.status for r in responses] == [400 if n in (5, 17) else 200 for n in range(24)]
    assert answers[5]["error"]["message"] == NOT_FINITE
    assert answers[17]["error"]["message"].startswith("features too large for the model")
    for n in set(range(24)) - {5, 17}:
        expected = iris_stub.Predict(iris_pb2.PredictRequest(**flowers[n]), timeout=5)
        assert answers[n]["species"] == str(expected.species)
        # onnxruntime's float32 results for a row in a batch may differ in the last digits.
        assert answers[n]["probabilities"] == pytest.approx(list(expected.probabilities), rel=1e-5, abs=1e-7)


def test_a_batch_request_id_lists_the_ids_and_stays_bounded():
    assert batch_request_id(["a", "b"]) == "a b"
    ids = [f"{n:0128d}" for n in range(64)]
    joined = batch_request_id(ids)
    assert len(joined) <= MAX_BATCH_ID_CHARS + len(" +64 more")
    kept = joined.split(" +")[0].split(" ")
    assert kept == ids[: len(kept)]
    assert joined.endswith(f" +{64 - len(kept)} more")


def test_coalescing_settings_have_flags_and_environment_twins():
    assert parse_settings(["--coalesce-max-rows=8", "--coalesce-max-wait-us=0"], {}).coalesce_max_rows == 8
    environ = {"IRIS_COALESCE_MAX_ROWS": "1", "IRIS_COALESCE_MAX_WAIT_US": "500"}
    settings = parse_settings([], environ)
    assert (settings.coalesce_max_rows, settings.coalesce_max_wait_us) == (1, 500)


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"IRIS_COALESCE_MAX_ROWS": "0"}, "IRIS_COALESCE_MAX_ROWS='0'"),
        ({"IRIS_COALESCE_MAX_WAIT_US": "-1"}, "IRIS_COALESCE_MAX_WAIT_US='-1'"),
        ({"IRIS_COALESCE_MAX_WAIT_US": "2000000"}, "IRIS_COALESCE_MAX_WAIT_US='2000000'"),
        ({"IRIS_COALESCE_MAX_WAIT_US": "0.5"}, "IRIS_COALESCE_MAX_WAIT_US='0.5'"),
    ],
)
def test_a_bad_coalescing_setting_is_named(environ, named):
    with pytest.raises(SettingsError, match=named):
        parse_settings([], environ)
