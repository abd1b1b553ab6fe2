"""A TCP relay for direct gRPC: one published port that reaches the model servers at any scale.

Docker can publish a container port on one host port once, so `--scale server=3` cannot give
every replica host port 50052. The proxy container publishes 50052 instead and relays each
client connection, byte for byte, to one server address, taking the resolved addresses of the
target in turn. The relay never parses gRPC (TLS passes through untouched); a client's calls all
go over its one HTTP/2 connection, so they reach one replica: clients that want their calls
spread open several connections, or use the REST API, whose channel balances every call.

At most `max_connections` are relayed at once (--grpc-relay-max-connections): each holds two of
the proxy's sockets, which the REST API needs too. A connection beyond that is closed as soon as
it is accepted, so its client's call fails at once with UNAVAILABLE and can be retried.
"""

import asyncio
import contextlib
import itertools
import logging
import socket
import time
from collections.abc import Sequence

CHUNK_BYTES = 64 * 1024
CONNECT_TIMEOUT_SECONDS = 3.0
# While connections are being turned away, say so at most this often (not once per connection).
REFUSAL_LOG_INTERVAL_SECONDS = 10.0

log = logging.getLogger("proxy.grpc_relay")


def split_target(target: str) -> tuple[str, int]:
    """`host:port` (or `[v6]:port`) -> (host, port); ValueError for anything else."""
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(target)
    return host.strip("[]"), int(port)


def pick_address(addresses: Sequence[tuple[str, int]], turn: int) -> tuple[str, int]:
    """The address whose turn it is: each connection takes the next, in a stable order."""
    ordered = sorted(set(addresses))
    return ordered[turn % len(ordered)]


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(CHUNK_BYTES):
            writer.write(data)
            await writer.drain()


class GrpcRelay:
    """Relays connections accepted on one port to the addresses `target` resolves to, at most
    `max_connections` at once."""

    def __init__(self, target: str, max_connections: int):
        self.host, self.port = split_target(target)
        self.max_connections = max_connections
        self._turns = itertools.count()
        self._connections: set[asyncio.Task] = set()
        self._server: asyncio.Server | None = None
        self._refusals_logged_at = -REFUSAL_LOG_INTERVAL_SECONDS

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port; the port bound (useful with port 0)."""
        self._server = await asyncio.start_server(self._track, host, port)
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _track(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._connections) >= self.max_connections:
            self._log_refusal()
            writer.close()
            return
        task = asyncio.current_task()
        self._connections.add(task)
        try:
            await self._relay(reader, writer)
        finally:
            self._connections.discard(task)
            writer.close()

    def _log_refusal(self) -> None:
        now = time.monotonic()
        if now - self._refusals_logged_at >= REFUSAL_LOG_INTERVAL_SECONDS:
            self._refusals_logged_at = now
            log.warning(
                "grpc relay: %d connections open, the most --grpc-relay-max-connections allows; "
                "closing new ones until some end",
                self.max_connections,
            )

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        infos = await asyncio.get_running_loop().getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        address = pick_address([info[4][:2] for info in infos], next(self._turns))
        return await asyncio.wait_for(asyncio.open_connection(*address), CONNECT_TIMEOUT_SECONDS)

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await self._connect()
        except (OSError, TimeoutError) as error:
            # Closing at once makes the client's call fail fast with UNAVAILABLE.
            log.warning("grpc relay: no server at %s:%s: %s", self.host, self.port, error)
            return
        pumps = [
            asyncio.create_task(_pump(client_reader, server_writer)),
            asyncio.create_task(_pump(server_reader, client_writer)),
        ]
        try:
            # HTTP/2 never half-closes: when either side is done, the connection is.
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            server_writer.close()
