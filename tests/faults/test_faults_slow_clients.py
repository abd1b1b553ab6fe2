"""Fault: slow or abusive clients hold connections to the proxy; everyone else is still served.

Raw sockets play the abusers: connections that never send a byte, request heads trickled in a
byte at a time, and bodies announced but never finished. While they hold on, a normal request
is answered at once; then the proxy's limits (proxy/limits.py) end each abuser: idle and
trickling connections are closed after --keepalive-seconds, an unfinished body gets 408 after
--request-timeout-seconds and its connection is closed.
"""

import asyncio
import contextlib
import time

import aiohttp

from tests.support.proxy_process import running_proxy
from tests.support.rest_load import FLOWER, FLOWER_SPECIES
from tests.support.server_process import running_server

KEEPALIVE_SECONDS = 1.0
REQUEST_TIMEOUT_SECONDS = 2.0
DEADLINE_SECONDS = 1.0
IDLE_CONNECTIONS = 200
TRICKLING_CONNECTIONS = 50
UNFINISHED_BODIES = 50
TRICKLE_INTERVAL_SECONDS = 0.2
# How long past its limit the proxy may take to end an abuser (a loaded test machine is slow).
CLOSE_MARGIN_SECONDS = 10.0

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def open_connections(port: int, count: int) -> list[Connection]:
    return [await asyncio.open_connection("127.0.0.1", port) for _ in range(count)]


async def trickle(writer: asyncio.StreamWriter) -> None:
    """Send a request head one byte at a time, never finishing it, until the proxy hangs up."""
    head = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"a" * 10_000
    with contextlib.suppress(ConnectionError):
        for byte in head:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(TRICKLE_INTERVAL_SECONDS)


def unfinished_body_head(port: int) -> bytes:
    return (
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n" % port
    )


async def read_until_closed(reader: asyncio.StreamReader, within_seconds: float) -> tuple[bytes, float]:
    """Everything the proxy sends until it closes the connection, and when it closed it."""
    data = await asyncio.wait_for(reader.read(), within_seconds)
    return data, time.monotonic()


async def normal_request(url: str) -> tuple[int, str, float]:
    started = time.monotonic()
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.post(url, json=FLOWER) as response,
    ):
        body = await response.json()
    return response.status, body["species"], time.monotonic() - started


async def test_abusive_connections_do_not_stop_others_and_are_ended(tmp_path):
    """Idle, trickling and unfinished-body connections: a normal request is answered meanwhile,
    and each abuser is ended by the documented limit."""
    limits = ("--keepalive-seconds", str(KEEPALIVE_SECONDS))
    limits += ("--request-timeout-seconds", str(REQUEST_TIMEOUT_SECONDS))
    limits += ("--deadline-seconds", str(DEADLINE_SECONDS))
    with (
        running_server(tmp_path) as server,
        running_proxy(tmp_path, server.target, *limits) as proxy,
    ):
        opened = time.monotonic()
        idle = await open_connections(proxy.port, IDLE_CONNECTIONS)
        trickling = await open_connections(proxy.port, TRICKLING_CONNECTIONS)
        trickles = [asyncio.create_task(trickle(writer)) for _, writer in trickling]
        unfinished = await open_connections(proxy.port, UNFINISHED_BODIES)
        for _, writer in unfinished:
            writer.write(unfinished_body_head(proxy.port) + b'{"sepal_length": 6.8')
        try:
            status, species, seconds = await normal_request(f"{proxy.url}/")
            assert (status, species) == (200, FLOWER_SPECIES)

            idle_ends, trickle_ends, unfinished_ends = await asyncio.gather(
                *(
                    asyncio.gather(
                        *(read_until_closed(reader, limit + CLOSE_MARGIN_SECONDS) for reader, _ in group)
                    )
                    for group, limit in (
                        (idle, KEEPALIVE_SECONDS),
                        (trickling, KEEPALIVE_SECONDS),
                        (unfinished, REQUEST_TIMEOUT_SECONDS),
                    )
                )
            )
            status_after, species_after, seconds_after = await normal_request(f"{proxy.url}/")
        finally:
            for task in trickles:
                task.cancel()
            for _, writer in idle + trickling + unfinished:
                writer.close()
        assert proxy.process.poll() is None
    closed_after = [max(t for _, t in ends) - opened for ends in (idle_ends, trickle_ends, unfinished_ends)]
    print(
        f"slow clients: with {IDLE_CONNECTIONS} idle, {TRICKLING_CONNECTIONS} trickling and "
        f"{UNFINISHED_BODIES} unfinished-body connections open, a normal request took "
        f"{seconds * 1000:.0f} ms; the proxy closed the last idle one {closed_after[0]:.1f} s after they "
        f"opened, the last trickling one after {closed_after[1]:.1f} s, and answered 408 and closed the "
        f"last unfinished body after {closed_after[2]:.1f} s; a request afterwards took "
        f"{seconds_after * 1000:.0f} ms"
    )
    assert all(data == b"" for data, _ in idle_ends), "an idle connection was sent something"
    assert all(not data.startswith(b"HTTP/1.1 200") for data, _ in trickle_ends)
    for data, _ in unfinished_ends:
        assert data.startswith(b"HTTP/1.1 408 "), data[:200]
        assert b"--request-timeout-seconds" in data
    assert (status_after, species_after) == (200, FLOWER_SPECIES)
