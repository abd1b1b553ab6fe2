"""Fault: every upstream is down, then comes back; and the gRPC client against a dead port.

With no server, the proxy answers 503 (with Retry-After) well within its deadline, since calls
never wait for a connection, and /readyz says not ready. When the server returns on the same
port, the same proxy process answers again after its reconnect backoff, without a restart.
"""

import asyncio
import signal
import socket
import time

import aiohttp

from tests.support.client_process import run_client
from tests.support.proxy_process import running_proxy
from tests.support.rest_load import FLOWER, FLOWER_SPECIES
from tests.support.server_process import free_port, running_server

DEADLINE_SECONDS = 3.0
DOWN_REQUESTS = 20
# The proxy's reconnect backoff is at most 2 s (proxy/upstream.py); allow for a slow machine.
RECOVERY_TIMEOUT_SECONDS = 20.0
CLIENT_TIMEOUT_SECONDS = 5.0


async def post_flower(session: aiohttp.ClientSession, url: str) -> tuple[int, dict, dict, float]:
    started = time.perf_counter()
    async with session.post(url, json=FLOWER) as response:
        return response.status, await response.json(), dict(response.headers), time.perf_counter() - started


async def test_all_upstreams_down_then_back(tmp_path):
    """No server: 503 + Retry-After within the deadline, /readyz 503; server back: 200, same proxy."""
    port = free_port()
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir()
    second_dir.mkdir()
    proxy_args = ("--deadline-seconds", str(DEADLINE_SECONDS))
    with (
        running_server(first_dir, port=port) as server,
        running_proxy(tmp_path, server.target, *proxy_args) as proxy,
    ):
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            status, body, _, _ = await post_flower(session, f"{proxy.url}/")
            assert (status, body["species"]) == (200, FLOWER_SPECIES)

            assert await asyncio.to_thread(server.stop, signal.SIGTERM) == 0
            down = [await post_flower(session, f"{proxy.url}/") for _ in range(DOWN_REQUESTS)]
            async with session.get(f"{proxy.url}/readyz") as ready:
                ready_status, ready_headers = ready.status, ready.headers

            with running_server(second_dir, port=port):
                recovered_after = await _seconds_until_answered(session, f"{proxy.url}/")
                async with session.get(f"{proxy.url}/readyz") as ready_again:
                    ready_again_status = ready_again.status
        assert proxy.process.poll() is None, "the proxy must not restart"

    latencies = sorted(latency for *_, latency in down)
    print(
        f"all upstreams down: {len(down)} requests, statuses {sorted({s for s, *_ in down})}, "
        f"latency max {latencies[-1] * 1000:.1f} ms; recovered {recovered_after:.2f} s after the restart"
    )
    for status, body, headers, latency in down:
        assert status == 503
        assert body["error"]["code"] == "UNAVAILABLE"
        assert headers["Retry-After"].isdigit()
        assert latency < DEADLINE_SECONDS
    assert ready_status == 503
    assert ready_headers["Retry-After"].isdigit()
    assert ready_again_status == 200


async def _seconds_until_answered(session: aiohttp.ClientSession, url: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < RECOVERY_TIMEOUT_SECONDS:
        status, body, _, _ = await post_flower(session, url)
        if status == 200:
            assert body["species"] == FLOWER_SPECIES
            return time.monotonic() - started
        assert status == 503, body
        await asyncio.sleep(0.1)  # the proxy reconnects on its own backoff; poll its answer
    raise AssertionError(f"the proxy did not recover within {RECOVERY_TIMEOUT_SECONDS} s")


def test_client_against_a_dead_port_fails_fast_and_clearly():
    """`python -m client` with nothing listening: non-zero exit, a message naming the server, no wait."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port = closed.getsockname()[1]
        started = time.monotonic()
        run = run_client(port)
        elapsed = time.monotonic() - started
    print(f"client against a dead port: exit {run.returncode} after {elapsed:.2f} s: {run.stderr.strip()}")
    assert run.returncode == 1
    assert f"127.0.0.1:{port}: UNAVAILABLE" in run.stderr
    assert run.stdout == ""
    assert elapsed < CLIENT_TIMEOUT_SECONDS  # it did not wait for the default deadline
