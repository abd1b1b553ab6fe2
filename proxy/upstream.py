"""The proxy's long-lived gRPC channels to the prediction server(s), and the calls made on it.

The channels are opened once per process and shared by every request (HTTP/2 multiplexes the
calls). With a `dns:///host:port` target each connects to every address the name resolves to
and spreads calls over them (round_robin), so more server replicas take more load. There are
--upstream-connections of them, each with its own connections (a local subchannel pool), and
each call takes the next: a server whose --workers share one port (SO_REUSEPORT) hands each
connection to one worker, so one connection per address would reach one worker only. Calls
that fail with UNAVAILABLE (a replica going away, a model not yet ready) are retried by gRPC
itself, a bounded number of times, within the call's deadline. Calls never wait for a
connection (wait_for_ready is False): with no server up they fail fast with UNAVAILABLE.
"""

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import grpc
from aiohttp import web
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common.names import ACCEPTING_CALLS_HEALTH_NAME, IRIS_SERVICE, REQUEST_ID_KEY, V2_SERVICE
from inference_pb import grpc_predict_v2_pb2_grpc
from iris_pb import iris_pb2, iris_pb2_grpc

# Services whose calls are safe to repeat (predictions have no side effects).
RETRIED_SERVICES = (IRIS_SERVICE, V2_SERVICE)
RETRY_MAX_ATTEMPTS = 3
# The server's health name that turns NOT_SERVING when it starts draining, and only then (the
# server's ACCEPTING_CALLS_HEALTH_NAME): a warming server's liveness and readiness stay reachable.
DRAINING_HEALTH_NAME = "iris.accepting-calls"
RETRY_INITIAL_BACKOFF_SECONDS = 0.05
RETRY_MAX_BACKOFF_SECONDS = 0.5
# gRPC's default reconnect backoff grows to 120 s; a server that comes back after an outage
# should be found within a couple of seconds.
RECONNECT_INITIAL_BACKOFF_MS = 250
RECONNECT_MAX_BACKOFF_MS = 2000
# gRPC re-resolves a dns:/// target at most every 30 s by default; servers close connections at
# their max age, and replicas added by `--scale` should take load within seconds of that.
DNS_MIN_MS_BETWEEN_RESOLUTIONS = 2000
# A JSON body of B bytes holds at most B/10 rows ("[1,2,3,4],"); a batch request takes 16 bytes
# a row and its reply about 13, so 4x the body limit never cuts a valid call. 4 MiB is gRPC's
# default and the floor.
MESSAGE_BYTES_PER_BODY_BYTE = 4
MIN_MESSAGE_BYTES = 4 * 1024 * 1024


def service_config() -> str:
    """gRPC service config: round_robin over the resolved addresses, retry only UNAVAILABLE."""
    retry_policy = {
        "maxAttempts": RETRY_MAX_ATTEMPTS,
        "initialBackoff": f"{RETRY_INITIAL_BACKOFF_SECONDS}s",
        "maxBackoff": f"{RETRY_MAX_BACKOFF_SECONDS}s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE"],
    }
    return json.dumps(
        {
            "loadBalancingConfig": [{"round_robin": {}}],
            # Each connection watches the server's health (grpc.health.v1 Watch): a replica that
            # is draining after SIGTERM gets no more calls (see common/names.py).
            "healthCheckConfig": {"serviceName": ACCEPTING_CALLS_HEALTH_NAME},
            "methodConfig": [
                {"name": [{"service": service} for service in RETRIED_SERVICES], "retryPolicy": retry_policy}
            ],
        }
    )


def channel_options(max_body_bytes: int) -> list[tuple[str, str | int]]:
    max_message_bytes = max(MIN_MESSAGE_BYTES, MESSAGE_BYTES_PER_BODY_BYTE * max_body_bytes)
    return [
        ("grpc.service_config", service_config()),
        # Only our service config counts, never one published in DNS TXT records.
        ("grpc.service_config_disable_resolution", 1),
        ("grpc.enable_retries", 1),
        ("grpc.initial_reconnect_backoff_ms", RECONNECT_INITIAL_BACKOFF_MS),
        ("grpc.max_reconnect_backoff_ms", RECONNECT_MAX_BACKOFF_MS),
        ("grpc.dns_min_time_between_resolutions_ms", DNS_MIN_MS_BETWEEN_RESOLUTIONS),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.primary_user_agent", "iris-proxy"),
        # Channels with equal options share connections (gRPC's global subchannel pool): a pool of
        # its own gives each channel connections of its own, to reach more server workers.
        ("grpc.use_local_subchannel_pool", 1),
    ]


def open_channel(
    target: str,
    max_body_bytes: int,
    interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
    credentials: grpc.ChannelCredentials | None = None,
) -> grpc.aio.Channel:
    """The channel to `target`: plaintext, or TLS with `credentials` (see proxy/tls.py)."""
    options, chained = channel_options(max_body_bytes), list(interceptors) or None
    if credentials is None:
        return grpc.aio.insecure_channel(target, options=options, interceptors=chained)
    return grpc.aio.secure_channel(target, credentials, options=options, interceptors=chained)


def _metadata(request_id: str) -> tuple[tuple[str, str], ...]:
    return ((REQUEST_ID_KEY, request_id),)


class _ChannelStubs:
    """One channel and a stub of each service on it."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.channel = channel
        self.iris = iris_pb2_grpc.IrisPredictorStub(channel)
        self.health = health_pb2_grpc.HealthStub(channel)
        self.inference = grpc_predict_v2_pb2_grpc.GRPCInferenceServiceStub(channel)


class Upstream:
    """The calls the proxy makes to the prediction server(s), over one or more channels.

    Each use of `iris`, `health` or `inference` takes the next connected channel's stub in turn
    (see `_next`). Every call carries the HTTP request's id as gRPC metadata `x-request-id` and the
    per-request deadline. Failures leave as grpc.aio.AioRpcError (see errors.py).

    With `reconnect_seconds`, `reconnect_in_turn` replaces each channel by a new one that often: a
    new channel resolves the target afresh, so replicas added since are found, and the proxy, not
    the server, decides when a connection ends (the old channel takes no new call and is closed once
    its calls are done). Servers that close connections at --max-connection-age-seconds do the same
    from their side, racing the calls that arrive meanwhile; the edge (HAProxy) loses calls to that
    race, so where the proxy reconnects by itself the servers need no connection age.
    """

    def __init__(
        self,
        open_channel: Callable[[], grpc.aio.Channel],
        connections: int,
        deadline_seconds: float,
        reconnect_seconds: float = 0.0,
    ) -> None:
        self.deadline_seconds = deadline_seconds
        self.reconnect_seconds = reconnect_seconds
        self._open_channel = open_channel
        self._stubs = [_ChannelStubs(open_channel()) for _ in range(connections)]
        self._turn = 0
        self._closing: set[asyncio.Task[None]] = set()

    def reconnect(self, index: int) -> None:
        """Replace channel `index` by a new one; the old one is closed once the calls on it end
        (within their deadline)."""
        old = self._stubs[index].channel
        self._stubs[index] = _ChannelStubs(self._open_channel())
        closing = asyncio.ensure_future(old.close(grace=self.deadline_seconds))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    async def reconnect_in_turn(self) -> None:
        """Until cancelled: replace one channel every reconnect_seconds / connections, so that each
        is replaced every reconnect_seconds."""
        index = 0
        while True:
            await asyncio.sleep(self.reconnect_seconds / len(self._stubs))
            self.reconnect(index)
            index = (index + 1) % len(self._stubs)

    async def close(self, grace_seconds: float) -> None:
        """Close every channel, giving calls in flight `grace_seconds`."""
        await asyncio.gather(
            *self._closing, *(stubs.channel.close(grace=grace_seconds) for stubs in self._stubs)
        )

    def _next(self) -> _ChannelStubs:
        """The next channel that is connected (READY), asking the idle ones it passes to connect;
        the next in turn if none is. Calls fail fast (wait_for_ready False), so a channel still
        reconnecting to a returning server would fail calls that a connected one answers."""
        count, start = len(self._stubs), self._turn
        for step in range(1, count + 1):
            index = (start + step) % count
            if self._stubs[index].channel.get_state(try_to_connect=True) is grpc.ChannelConnectivity.READY:
                self._turn = index
                return self._stubs[index]
        self._turn = (start + 1) % count
        return self._stubs[self._turn]

    @property
    def iris(self) -> iris_pb2_grpc.IrisPredictorStub:
        return self._next().iris

    @property
    def health(self) -> health_pb2_grpc.HealthStub:
        return self._next().health

    @property
    def inference(self) -> grpc_predict_v2_pb2_grpc.GRPCInferenceServiceStub:
        return self._next().inference

    def call_options(self, request_id: str) -> dict[str, Any]:
        """Keyword arguments of a call on one of the stubs: deadline, x-request-id, fail fast."""
        return {"timeout": self.deadline_seconds, "metadata": _metadata(request_id), "wait_for_ready": False}

    async def predict(self, features: Mapping[str, float], request_id: str) -> iris_pb2.PredictReply:
        """Classify one flower given by feature name -> value."""
        return await self.iris.Predict(
            iris_pb2.PredictRequest(**features),
            timeout=self.deadline_seconds,
            metadata=_metadata(request_id),
            wait_for_ready=False,
        )

    async def predict_batch(self, features: Sequence[float], request_id: str) -> iris_pb2.PredictBatchReply:
        """Classify many flowers given as one flat row-major array of 4 * N floats."""
        return await self.iris.PredictBatch(
            iris_pb2.PredictBatchRequest(features=features),
            timeout=self.deadline_seconds,
            metadata=_metadata(request_id),
            wait_for_ready=False,
        )

    async def serving_status(self, request_id: str, deadline_seconds: float) -> str:
        """The server's health status for the iris service, e.g. "SERVING" or "NOT_SERVING"."""
        reply = await self.health.Check(
            health_pb2.HealthCheckRequest(service=IRIS_SERVICE),
            timeout=deadline_seconds,
            metadata=_metadata(request_id),
            wait_for_ready=False,
        )
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


UPSTREAM = web.AppKey("upstream", Upstream)
