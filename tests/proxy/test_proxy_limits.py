"""The proxy's limits (proxy/limits.py): in-flight POSTs, request time, and their settings."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import pytest

from common.settings import SettingsError
from proxy.config import Settings, parse_settings
from proxy.limits import http_server_limits
from proxy.metrics import METRICS
from tests.support.waiting import until

HANDLING_TIMEOUT_SECONDS = 5.0


async def unfinished_body(sent: asyncio.Event, finish: asyncio.Event) -> AsyncIterator[bytes]:
    """A request body that stops after its first bytes until `finish` is set."""
    yield b'{"sepal_length": 6.8'
    sent.set()
    await finish.wait()
    yield b"}"


@contextlib.asynccontextmanager
async def held_post(client, path: str) -> AsyncIterator[asyncio.Task]:
    """A POST to `path` whose body stops after its first bytes, so the proxy holds it (and its
    in-flight slot) until the block ends; yields the task that answers it."""
    sent, finish = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(
        client.post(path, data=unfinished_body(sent, finish), headers={"Content-Type": "application/json"})
    )
    await sent.wait()
    try:
        await handling(client, requests=1)
        yield holder
    finally:
        finish.set()


async def handling(client, requests: int) -> None:
    """Return once the proxy's in-flight gauge counts `requests` requests being handled."""
    metrics = client.app[METRICS]
    await until(
        lambda: metrics.http_requests_in_flight.value >= requests,
        HANDLING_TIMEOUT_SECONDS,
        lambda: f"the proxy was not handling {requests} request(s) within {HANDLING_TIMEOUT_SECONDS:g} s",
    )


async def test_post_past_max_in_flight_gets_429_at_once(proxy_client):
    """With every in-flight slot held, another POST gets 429 with Retry-After naming the setting."""
    client = await proxy_client(max_in_flight=1)
    async with held_post(client, "/") as holder:
        refused = await client.post("/", json={})
        body = await refused.json()
    held = await holder
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "1"
    assert body["error"]["code"] == "RESOURCE_EXHAUSTED"
    assert "--max-in-flight" in body["error"]["message"]
    assert held.status == 400  # it was let through: the body is missing fields


async def test_get_probes_are_never_turned_away(proxy_client):
    """GET /healthz answers while every POST slot is held."""
    client = await proxy_client(max_in_flight=1)
    async with held_post(client, "/") as holder:
        probe = await client.get("/healthz")
    await holder
    assert probe.status == 200


async def test_slots_are_given_back(proxy_client):
    """Requests one after another never run out of slots, whatever their outcome."""
    client = await proxy_client(max_in_flight=1)
    statuses = [(await client.post("/", json={"sepal_length": "x"})).status for _ in range(5)]
    assert statuses == [400] * 5


async def test_unfinished_body_gets_408_after_the_request_timeout(proxy_client):
    """A body that stops arriving is answered 408 after --request-timeout-seconds, naming it."""
    client = await proxy_client(request_timeout_seconds=0.2, deadline_seconds=0.1)
    sent, finish = asyncio.Event(), asyncio.Event()
    response = await client.post(
        "/", data=unfinished_body(sent, finish), headers={"Content-Type": "application/json"}
    )
    body = await response.json()
    finish.set()
    assert response.status == 408
    assert body["error"]["code"] == "DEADLINE_EXCEEDED"
    assert "--request-timeout-seconds" in body["error"]["message"]


async def test_v2_requests_get_the_v2_error_body_from_the_limits(proxy_client, assert_conforms):
    """The proxy's own 429 and 408 on /v2 paths are KServe V2 errors, as its OpenAPI document says."""
    client = await proxy_client(max_in_flight=1, request_timeout_seconds=0.5, deadline_seconds=0.1)
    document = json.loads(await (await client.get("/openapi.json")).text())
    path, infer = "/v2/models/{name}/infer", "/v2/models/iris/infer"
    async with held_post(client, infer) as holder:
        refused = await client.post(infer, json={})
        refused_body = await refused.json()
        timed_out = await holder  # the held body stops arriving: 408
        timed_out_body = await timed_out.json()
    assert (refused.status, timed_out.status) == (429, 408)
    assert "--max-in-flight" in refused_body["error"]
    assert "--request-timeout-seconds" in timed_out_body["error"]
    assert_conforms(document, "POST", path, 429, refused.headers, refused_body)
    assert_conforms(document, "POST", path, 408, timed_out.headers, timed_out_body)


async def test_v2_body_over_the_limit_is_413_with_the_v2_error_body(proxy_client, assert_conforms):
    client = await proxy_client(max_body_bytes=1024)
    document = json.loads(await (await client.get("/openapi.json")).text())
    response = await client.post(
        "/v2/models/iris/infer", data="1" * 2048, headers={"Content-Type": "application/json"}
    )
    body = await response.json()
    assert response.status == 413
    assert isinstance(body["error"], str)
    assert_conforms(document, "POST", "/v2/models/{name}/infer", 413, response.headers, body)


def test_limit_settings_have_flags_and_environment_twins():
    """--max-in-flight, --request-timeout-seconds and --keepalive-seconds, and their IRIS_ twins."""
    flags = ["--max-in-flight=8", "--request-timeout-seconds=7.5", "--keepalive-seconds=30"]
    environ = {
        "IRIS_MAX_IN_FLIGHT": "8",
        "IRIS_REQUEST_TIMEOUT_SECONDS": "7.5",
        "IRIS_KEEPALIVE_SECONDS": "30",
    }
    expected = (8, 7.5, 30.0)
    for settings in (parse_settings(flags, {}), parse_settings([], environ)):
        assert (
            settings.max_in_flight,
            settings.request_timeout_seconds,
            settings.keepalive_seconds,
        ) == expected


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--max-in-flight=0"], "--max-in-flight='0'"),
        (["--request-timeout-seconds=-1"], "--request-timeout-seconds='-1'"),
        (["--keepalive-seconds=inf"], "--keepalive-seconds='inf'"),
    ],
)
def test_bad_limit_is_named(argv, named):
    with pytest.raises(SettingsError) as raised:
        parse_settings(argv, {})
    assert str(raised.value).startswith(named)


def test_request_timeout_must_exceed_the_deadline():
    """A request timeout not above the gRPC deadline would answer a slow server 408: refused."""
    with pytest.raises(SettingsError, match=r"--request-timeout-seconds=5 .*--deadline-seconds=5"):
        parse_settings(["--request-timeout-seconds=5", "--deadline-seconds=5"], {})


def test_http_server_limits_are_passed_to_aiohttp():
    """web.run_app gets the keep-alive setting and bounded request heads."""
    limits = http_server_limits(Settings(keepalive_seconds=12.0))
    assert limits["keepalive_timeout"] == 12.0
    assert limits["max_line_size"] > 0
    assert limits["max_field_size"] > 0
    assert limits["max_headers"] > 0
