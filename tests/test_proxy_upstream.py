"""proxy/upstream.py: calls take the proxy's channels in turn, skipping any that is not connected
(a channel still reconnecting to a returning server fails calls fast that a connected one answers),
and ask the idle ones they pass to connect."""

import grpc

from proxy.upstream import Upstream

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
    upstream = Upstream(channels, deadline_seconds=1)
    assert picked(upstream, 4) == [1, 3, 1, 3]
    assert channels[2].asked_to_connect  # passed over, and asked to connect


def test_a_channel_that_connects_joins_the_turn():
    channels = [FakeChannel(READY), FakeChannel(IDLE)]
    upstream = Upstream(channels, deadline_seconds=1)
    assert picked(upstream, 2) == [0, 0]
    channels[1].state = READY
    assert sorted(picked(upstream, 2)) == [0, 1]


def test_with_no_channel_connected_calls_still_take_them_in_turn():
    """Then a call fails fast (UNAVAILABLE) on whichever it takes, as with a single channel."""
    channels = [FakeChannel(FAILING), FakeChannel(IDLE), FakeChannel(FAILING)]
    upstream = Upstream(channels, deadline_seconds=1)
    assert picked(upstream, 3) == [1, 2, 0]
