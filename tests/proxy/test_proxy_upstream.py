"""proxy/upstream.py: calls take the proxy's channels in turn, skipping any that is not connected
(a channel still reconnecting to a returning server fails calls fast that a connected one answers),
and ask the idle ones they pass to connect; channels are replaced in turn without losing a call."""

import asyncio

import grpc

from iris_pb import iris_pb2
from proxy.upstream import Upstream, open_channel
from tests.support.rest_load import FLOWER, FLOWER_SPECIES
from tests.support.waiting import until

READY, IDLE, FAILING = (
    grpc.ChannelConnectivity.READY,
    grpc.ChannelConnectivity.IDLE,
    grpc.ChannelConnectivity.TRANSIENT_FAILURE,
)


class FakeChannel:
    """Only what Upstream asks of a channel: its state, and whether it was asked to connect."""

    def __init__(self, state: grpc.ChannelConnectivity) -> None:
        self.state = state
        self.asked_to_connect = False

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        self.asked_to_connect |= try_to_connect
        return self.state

    def unary_unary(self, *args, **kwargs):  # the stubs' constructors ask for their methods
        return None

    unary_stream = stream_unary = stream_stream = unary_unary


def picked(upstream: Upstream, calls: int) -> list[int]:
    """The index of the channel each of `calls` calls takes."""
    channels = [stubs.channel for stubs in upstream._stubs]
    return [channels.index(upstream._next().channel) for _ in range(calls)]


def test_calls_take_the_connected_channels_in_turn():
    channels = [FakeChannel(FAILING), FakeChannel(READY), FakeChannel(IDLE), FakeChannel(READY)]
    upstream = Upstream(iter(channels).__next__, len(channels), deadline_seconds=1)
    assert picked(upstream, 4) == [1, 3, 1, 3]
    assert channels[2].asked_to_connect  # passed over, and asked to connect


def test_a_channel_that_connects_joins_the_turn():
    channels = [FakeChannel(READY), FakeChannel(IDLE)]
    upstream = Upstream(iter(channels).__next__, len(channels), deadline_seconds=1)
    assert picked(upstream, 2) == [0, 0]
    channels[1].state = READY
    assert sorted(picked(upstream, 2)) == [0, 1]


def test_with_no_channel_connected_calls_still_take_them_in_turn():
    """Then a call fails fast (UNAVAILABLE) on whichever it takes, as with a single channel."""
    channels = [FakeChannel(FAILING), FakeChannel(IDLE), FakeChannel(FAILING)]
    upstream = Upstream(iter(channels).__next__, len(channels), deadline_seconds=1)
    assert picked(upstream, 3) == [1, 2, 0]


def real_upstream(target: str, connections: int, reconnect_seconds: float = 0.0) -> Upstream:
    return Upstream(
        lambda: open_channel(target, max_body_bytes=1024 * 1024),
        connections,
        deadline_seconds=5,
        reconnect_seconds=reconnect_seconds,
    )


async def test_a_replaced_channel_finishes_its_calls_and_new_calls_take_the_new_one(iris_server):
    """reconnect(0): a stream open on the old channel still gets its answers, then the old channel
    closes; calls made meanwhile go to the new channel."""
    upstream = real_upstream(iris_server.target, connections=1)
    try:
        old = upstream._stubs[0].channel
        stream = upstream.iris.PredictStream(timeout=10)
        await stream.write(iris_pb2.PredictRequest(**FLOWER))
        assert str((await stream.read()).species) == FLOWER_SPECIES
        upstream.reconnect(0)
        assert upstream._stubs[0].channel is not old
        reply = await upstream.iris.Predict(iris_pb2.PredictRequest(**FLOWER), timeout=10)
        assert str(reply.species) == FLOWER_SPECIES
        await stream.write(iris_pb2.PredictRequest(**FLOWER))  # the old channel still carries it
        assert str((await stream.read()).species) == FLOWER_SPECIES
        await stream.done_writing()
        assert await stream.code() == grpc.StatusCode.OK
        await until(
            lambda: old.get_state() is grpc.ChannelConnectivity.SHUTDOWN,
            10,
            lambda: f"the old channel is still {old.get_state()}",
        )
    finally:
        await upstream.close(grace_seconds=1)


async def test_reconnecting_in_turn_replaces_every_channel(iris_server):
    upstream = real_upstream(iris_server.target, connections=2, reconnect_seconds=0.2)
    originals = [stubs.channel for stubs in upstream._stubs]
    reconnecting = asyncio.create_task(upstream.reconnect_in_turn())
    try:
        await until(
            lambda: all(stubs.channel not in originals for stubs in upstream._stubs),
            10,
            lambda: "some channel was never replaced",
        )
        reply = await upstream.iris.Predict(iris_pb2.PredictRequest(**FLOWER), timeout=10)
        assert str(reply.species) == FLOWER_SPECIES
    finally:
        reconnecting.cancel()
        await upstream.close(grace_seconds=1)
