"""The row stream: lone POST / rows travel as messages of one PredictStream, with unary answers."""

import asyncio
import time

import grpc
import pytest

import proxy.row_stream
from iris_pb import iris_pb2, iris_pb2_grpc
from proxy.config import parse_settings
from proxy.row_stream import RowStream
from tests.support.prometheus_text import parse, value
from tests.support.server_process import running_server

FLOWER = {"sepal_length": "6.8", "sepal_width": "3.2", "petal_length": "5.9", "petal_width": "2.3"}
ROWS = [(5.1, 3.5, 1.4, 0.2), (6.0, 2.9, 4.5, 1.5), (6.8, 3.2, 5.9, 2.3)]
PREDICT = "/iris.v1.IrisPredictor/Predict"
PREDICT_STREAM = "/iris.v1.IrisPredictor/PredictStream"


def request_of(row: tuple[float, ...]) -> iris_pb2.PredictRequest:
    return iris_pb2.PredictRequest(
        sepal_length=row[0], sepal_width=row[1], petal_length=row[2], petal_width=row[3]
    )


@pytest.fixture
async def stub(iris_server):
    async with grpc.aio.insecure_channel(iris_server.target) as channel:
        yield iris_pb2_grpc.IrisPredictorStub(channel)


async def upstream_counts(client) -> dict[tuple[str, str], float]:
    samples = parse(await (await client.get("/metrics")).text())
    return {
        (method, code): value(samples, "iris_upstream_requests_total", method=method, code=code)
        for method in (PREDICT, PREDICT_STREAM)
        for code in ("OK", "INVALID_ARGUMENT")
    }


async def test_rows_on_one_stream_get_the_unary_answers(stub):
    """Rows sent one after another on the stream get exactly what unary Predict answers, on one call."""
    rows = RowStream(lambda: stub, deadline_seconds=5.0)
    try:
        for row in ROWS:
            assert await rows.predict(request_of(row)) == await stub.Predict(request_of(row), timeout=5)
        call = rows._call
        assert await rows.predict(request_of(ROWS[0])) is not None
        assert rows._call is call  # the same stream carried every row
    finally:
        rows.close()


async def test_a_second_row_while_one_is_on_the_stream_is_left_to_a_unary_call(stub):
    """The stream carries one row at a time: a row arriving meanwhile gets None (send it unary)."""
    rows = RowStream(lambda: stub, deadline_seconds=5.0)
    try:
        first = asyncio.ensure_future(rows.predict(request_of(ROWS[0])))
        await asyncio.sleep(0)  # the first row is on the stream
        assert await rows.predict(request_of(ROWS[1])) is None
        assert (await first).species == 0
    finally:
        rows.close()


async def test_a_refused_row_gets_the_unary_error_and_the_next_row_a_new_stream(proxy_client, iris_server):
    """A row the server refuses on the stream is sent again unary, so its caller reads the same 400 as
    without the stream; the stream is not put off, so the next row goes on a new one."""
    too_large_row = {**FLOWER, "petal_width": "1e38"}  # finite, but the model's answer is not
    with_stream = await proxy_client(upstream=iris_server.target)
    without_stream = await proxy_client(upstream=iris_server.target, row_stream=False)
    answers = []
    for client in (with_stream, without_stream):
        response = await client.post("/", data=too_large_row)
        answers.append((response.status, await response.json()))
    assert answers[0] == answers[1]
    assert answers[0][0] == 400
    assert (await with_stream.post("/", data=FLOWER)).status == 200
    assert await upstream_counts(with_stream) == {
        (PREDICT_STREAM, "INVALID_ARGUMENT"): 1,
        (PREDICT, "INVALID_ARGUMENT"): 1,
        (PREDICT_STREAM, "OK"): 1,
        (PREDICT, "OK"): 0,
    }


async def test_a_nan_row_goes_unary_and_leaves_the_stream_open(proxy_client, iris_server):
    """A NaN row, which the server always refuses, skips the stream: its caller reads the server's
    400 from a unary call, and the stream stays open for the next row."""
    client = await proxy_client(upstream=iris_server.target)
    assert (await client.post("/", data=FLOWER)).status == 200
    response = await client.post("/", data={**FLOWER, "petal_width": "nan"})
    assert response.status == 400
    assert (await response.json())["error"][
        "message"
    ] == "petal_width is NaN; features must be finite numbers"
    assert (await client.post("/", data=FLOWER)).status == 200
    assert await upstream_counts(client) == {
        (PREDICT_STREAM, "INVALID_ARGUMENT"): 0,
        (PREDICT, "INVALID_ARGUMENT"): 1,
        (PREDICT_STREAM, "OK"): 2,
        (PREDICT, "OK"): 0,
    }


async def test_a_stream_past_its_age_is_ended_cleanly_and_replaced(stub, iris_server, monkeypatch):
    """Once MAX_AGE_SECONDS pass, an idle stream is half-closed (the server ends it OK, logging no
    failure) and the next row opens a new one."""
    monkeypatch.setattr(proxy.row_stream, "MAX_AGE_SECONDS", 0.05)
    logged_before = len(iris_server.log())
    rows = RowStream(lambda: stub, deadline_seconds=5.0)
    try:
        assert await rows.predict(request_of(ROWS[0])) is not None
        first = rows._call
        assert await asyncio.wait_for(first.code(), timeout=5) == grpc.StatusCode.OK
        assert rows._call is None
        assert await rows.predict(request_of(ROWS[1])) is not None
        assert rows._call is not first
    finally:
        rows.close()
    assert "PredictStream" not in iris_server.log()[logged_before:]


async def test_with_no_server_the_stream_is_put_off_and_rows_go_unary(refused_upstream):
    """A stream that fails (UNAVAILABLE) gives no answer, and none is tried again for a while."""
    async with grpc.aio.insecure_channel(refused_upstream) as channel:
        rows = RowStream(lambda: iris_pb2_grpc.IrisPredictorStub(channel), deadline_seconds=5.0)
        codes = []
        rows._on_row = codes.append
        try:
            assert await rows.predict(request_of(ROWS[0])) is None
            assert await rows.predict(request_of(ROWS[0])) is None
        finally:
            rows.close()
    assert codes == ["UNAVAILABLE"]  # the second row did not try the stream


async def test_a_stopping_server_is_not_held_for_its_grace_by_the_row_stream(proxy_client, tmp_path):
    """A server lets open streams finish within its grace period on SIGTERM; the proxy's stream
    retires within MAX_AGE_SECONDS, so the server exits long before a 20 s grace runs out."""
    grace_seconds = 20.0
    with running_server(tmp_path, "--grace-seconds", str(grace_seconds)) as server:
        client = await proxy_client(upstream=server.target)
        assert (await client.post("/", data=FLOWER)).status == 200
        assert (await upstream_counts(client))[(PREDICT_STREAM, "OK")] == 1  # the stream is open
        started = time.monotonic()
        exit_code = await asyncio.to_thread(server.stop)
        stopped_after = time.monotonic() - started
    assert exit_code == 0
    assert stopped_after < grace_seconds / 2, f"the server took {stopped_after:.1f} s to stop"


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [([], {}, True), (["--row-stream", "off"], {}, False), ([], {"IRIS_ROW_STREAM": "0"}, False)],
)
def test_row_stream_setting(argv, environ, expected):
    """On by default, with a flag and an IRIS_ROW_STREAM twin."""
    assert parse_settings(argv, environ).row_stream is expected
