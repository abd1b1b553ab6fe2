"""The proxy's Prometheus metrics at GET /metrics, read with prometheus-client's parser: requests by
route template, method and status, their latency, requests in flight, the gRPC calls made upstream
by status, process metrics; and the --metrics and --access-log switches."""

import logging

import pytest

from common.settings import SettingsError
from proxy.config import parse_settings
from tests.support.prometheus_text import Samples, label_values, parse, value

FLOWER = {"sepal_length": "6.8", "sepal_width": "3.2", "petal_length": "5.9", "petal_width": "2.3"}
PREDICT = "/iris.v1.IrisPredictor/Predict"
PREDICT_BATCH = "/iris.v1.IrisPredictor/PredictBatch"
PREDICT_STREAM = "/iris.v1.IrisPredictor/PredictStream"


async def scrape(client) -> Samples:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return parse(await response.text())


async def test_requests_are_counted_by_route_method_and_status(proxy_client):
    """Each answered request adds one to its route template, method and status, and to its latency."""
    client = await proxy_client()
    for _ in range(2):
        assert (await client.get("/healthz")).status == 200
    samples = await scrape(client)
    assert value(samples, "iris_http_requests_total", route="/healthz", method="GET", status="200") == 2
    assert value(samples, "iris_http_request_duration_seconds_count", route="/healthz") == 2
    assert value(samples, "iris_http_request_duration_seconds_bucket", route="/healthz", le="+Inf") == 2
    buckets = sorted(
        float(le) for le in label_values(samples, "iris_http_request_duration_seconds_bucket", "le")
    )
    assert buckets[0] <= 0.0001  # sub-millisecond
    assert buckets[-2] >= 10  # to multi-second, then +Inf


async def test_client_errors_are_counted_with_their_status(proxy_client):
    """A bad body counts as 400 on its route; unknown paths as 404 under one route label, never the path."""
    client = await proxy_client()
    bad_json = await client.post("/", data="{", headers={"Content-Type": "application/json"})
    assert bad_json.status == 400
    for path in ("/nowhere", "/nowhere/else"):
        assert (await client.get(path)).status == 404
    assert (await client.request("PROPFIND", "/healthz")).status == 405
    samples = await scrape(client)
    assert value(samples, "iris_http_requests_total", route="/", method="POST", status="400") == 1
    assert value(samples, "iris_http_requests_total", route="unmatched", method="GET", status="404") == 2
    assert value(samples, "iris_http_requests_total", route="unmatched", method="other", status="405") == 1
    routes = label_values(samples, "iris_http_requests_total", "route")
    assert not any("nowhere" in route for route in routes)


async def test_failed_upstream_calls_are_counted_by_grpc_code(proxy_client):
    """With no server up, POST / answers 503 and counts one Predict call that ended UNAVAILABLE."""
    client = await proxy_client()
    assert (await client.post("/", data=FLOWER)).status == 503
    samples = await scrape(client)
    assert value(samples, "iris_upstream_requests_total", method=PREDICT, code="UNAVAILABLE") == 1
    assert value(samples, "iris_http_requests_total", route="/", method="POST", status="503") == 1


async def test_upstream_calls_to_a_real_server_are_counted(proxy_client, iris_server):
    """A row answered on the row stream counts OK under PredictStream; a batch the server refuses
    counts its code, RESOURCE_EXHAUSTED."""
    client = await proxy_client(upstream=iris_server.target)
    answer = await client.post("/", data=FLOWER)
    assert (answer.status, (await answer.json())["species"]) == (200, "2")
    too_many_rows = {"instances": [[5.1, 3.5, 1.4, 0.2]] * 10_001}  # the server's default limit is 10000
    assert (await client.post("/predict", json=too_many_rows)).status == 429
    samples = await scrape(client)
    assert value(samples, "iris_upstream_requests_total", method=PREDICT_STREAM, code="OK") == 1
    assert value(samples, "iris_upstream_requests_total", method=PREDICT, code="OK") == 0
    assert (
        value(samples, "iris_upstream_requests_total", method=PREDICT_BATCH, code="RESOURCE_EXHAUSTED") == 1
    )
    assert value(samples, "iris_http_requests_total", route="/predict", method="POST", status="429") == 1


async def test_the_scrape_itself_is_in_flight(proxy_client):
    """While /metrics is answered, it is the one request in flight."""
    client = await proxy_client()
    assert value(await scrape(client), "iris_http_requests_in_flight") == 1


async def test_process_metrics_are_reported(proxy_client):
    """The standard process and Python metrics are there."""
    samples = await scrape(await proxy_client())
    assert value(samples, "process_resident_memory_bytes") > 0
    assert label_values(samples, "python_info", "implementation") == {"CPython"}


async def test_metrics_off_serves_no_metrics(proxy_client):
    """With --metrics off, GET /metrics is 404 like any unknown path."""
    client = await proxy_client(metrics=False)
    assert (await client.get("/metrics")).status == 404


@pytest.mark.parametrize("access_log", [True, False])
async def test_access_log_switch(proxy_client, caplog, access_log):
    """One access-log line per request (request id, route, status, latency), none when switched off."""
    client = await proxy_client(access_log=access_log)
    with caplog.at_level(logging.INFO, logger="proxy.access"):
        await client.get("/healthz", headers={"X-Request-Id": "req-1"})
    lines = [record for record in caplog.records if record.name == "proxy.access"]
    if not access_log:
        assert lines == []
        return
    [line] = lines
    assert (line.request_id, line.route, line.status) == ("req-1", "/healthz", 200)
    assert line.latency_ms >= 0


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        ([], {}, (True, True)),
        (["--access-log", "off", "--metrics", "off"], {}, (False, False)),
        ([], {"IRIS_ACCESS_LOG": "0", "IRIS_METRICS": "false"}, (False, False)),
        (["--access-log=on"], {"IRIS_ACCESS_LOG": "0"}, (True, True)),
    ],
)
def test_access_log_and_metrics_settings(argv, environ, expected):
    """Both switches are on by default, with a flag and an IRIS_* twin each; the flag wins."""
    settings = parse_settings(argv, environ)
    assert (settings.access_log, settings.metrics) == expected


def test_a_bad_switch_value_is_named():
    with pytest.raises(SettingsError, match="IRIS_METRICS='maybe' is not valid: expected on or off"):
        parse_settings([], {"IRIS_METRICS": "maybe"})
