"""Structured logs: both services write JSON lines with the same keys (ts, level, logger, message,
then the fields; common/logs.py), the proxy one access-log line per request, the server its errors with the
caller's request id, and nothing else on stderr (onnxruntime's telemetry warning included)."""

import io
import json
import logging
import re

import grpc
import pytest

import common.logs
from iris_pb import iris_pb2, iris_pb2_grpc
from tests.support.server_process import running_server

BASE_KEYS = ["ts", "level", "logger", "message"]
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def assert_base_keys(line: dict) -> None:
    assert list(line)[:4] == BASE_KEYS
    assert TIMESTAMP.fullmatch(line["ts"])
    assert line["level"] in ("debug", "info", "warning", "error", "critical")


@pytest.fixture
def proxy_json_log():
    """Log the proxy's way (JSON) into a buffer for the test; restore pytest's logging afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    buffer = io.StringIO()
    common.logs.configure_logging("INFO", "json", buffer)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


async def test_proxy_access_log_is_one_json_line_per_request(proxy_client, proxy_json_log):
    """Each request logs one proxy.access line with its id, method, route, status and latency."""
    client = await proxy_client()
    await client.get("/healthz", headers={"X-Request-Id": "req-42"})
    await client.get("/nowhere")
    access = [line for line in proxy_json_log() if line["logger"] == "proxy.access"]
    assert len(access) == 2
    for line in access:
        assert_base_keys(line)
        assert {"request_id", "method", "route", "status", "latency_ms"} <= set(line)
        assert line["level"] == "info"
    assert (access[0]["request_id"], access[0]["route"], access[0]["status"]) == ("req-42", "/healthz", 200)
    assert (access[1]["route"], access[1]["status"]) == ("unmatched", 404)
    assert access[1]["request_id"]  # made by the proxy


def test_server_log_is_json_lines_only_with_errors_carrying_the_request_id(tmp_path):
    """With --log-format json every stderr line is a JSON object with the shared keys; a failed call
    is logged with the caller's x-request-id. HOME and XDG_CACHE_HOME point where nothing can be
    written, like the containers' read-only filesystem, where onnxruntime used to warn on start."""
    unwritable = {"HOME": "/dev/null", "XDG_CACHE_HOME": "/dev/null/cache"}
    with running_server(tmp_path, "--log-format", "json", env=unwritable) as process:
        with grpc.insecure_channel(process.target) as channel, pytest.raises(grpc.RpcError):
            iris_pb2_grpc.IrisPredictorStub(channel).Predict(
                iris_pb2.PredictRequest(sepal_length=float("nan")),
                metadata=[("x-request-id", "req-7")],
                timeout=30,
            )
        assert process.stop() == 0
        lines = [json.loads(text) for text in process.log().splitlines()]
    for line in lines:
        assert_base_keys(line)
    [failure] = [line for line in lines if line["message"] == "request failed"]
    assert (failure["request_id"], failure["code"]) == ("req-7", "INVALID_ARGUMENT")
    assert failure["level"] == "warning"
    assert next(line["message"] for line in lines if line["logger"] == "server") == "server started"
