"""The proxy's gRPC relay: direct gRPC through the proxy container's port reaches a server."""

import grpc
import pytest

from iris_pb import iris_pb2, iris_pb2_grpc
from proxy.config import Settings
from proxy.grpc_relay import GrpcRelay, pick_address, split_target
from tests.client_process import run_client
from tests.proxy_process import running_proxy
from tests.server_process import free_port
from tests.waiting import until

SETOSA = iris_pb2.PredictRequest(sepal_length=5.1, sepal_width=3.5, petal_length=1.4, petal_width=0.2)
CALL_TIMEOUT_SECONDS = 10


@pytest.mark.parametrize(
    ("target", "expected"),
    [("server:50052", ("server", 50052)), ("127.0.0.1:1", ("127.0.0.1", 1)), ("[::1]:50052", ("::1", 50052))],
)
def test_split_target_reads_host_and_port(target, expected):
    """host:port and [v6]:port targets are understood."""
    assert split_target(target) == expected


@pytest.mark.parametrize("target", ["server", "server:", ":50052", "server:http", "server:70000"])
def test_split_target_refuses_what_is_not_host_and_port(target):
    """Anything but host:port with a valid port is a ValueError."""
    with pytest.raises(ValueError, match=r"server|50052"):
        split_target(target)


def test_each_connection_takes_the_next_resolved_address():
    """Connections go round the resolved addresses in a stable order, duplicates counted once."""
    addresses = [("10.0.0.2", 50052), ("10.0.0.1", 50052), ("10.0.0.2", 50052)]
    picked = [pick_address(addresses, turn) for turn in range(4)]
    assert picked == [("10.0.0.1", 50052), ("10.0.0.2", 50052), ("10.0.0.1", 50052), ("10.0.0.2", 50052)]


@pytest.fixture
async def relay_to(request):
    relays = []

    async def start(target: str, max_connections: int = Settings().grpc_relay_max_connections) -> int:
        relay = GrpcRelay(target, max_connections)
        relays.append(relay)
        return await relay.start("127.0.0.1", 0)

    start.relays = relays

    yield start
    for relay in relays:
        await relay.close()


async def test_calls_through_the_relay_answer_like_the_server(iris_server, relay_to):
    """Predict through the relay answers exactly what the server answers directly."""
    port = await relay_to(iris_server.target)
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as relayed,
        grpc.aio.insecure_channel(iris_server.target) as direct,
    ):
        through = await iris_pb2_grpc.IrisPredictorStub(relayed).Predict(SETOSA, timeout=CALL_TIMEOUT_SECONDS)
        straight = await iris_pb2_grpc.IrisPredictorStub(direct).Predict(SETOSA, timeout=CALL_TIMEOUT_SECONDS)
    assert through == straight
    assert through.species == 0


async def test_a_relay_with_no_server_behind_fails_calls_with_unavailable(refused_upstream, relay_to):
    """With nothing behind the relay, a call fails with UNAVAILABLE instead of hanging."""
    port = await relay_to(refused_upstream)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await iris_pb2_grpc.IrisPredictorStub(channel).Predict(SETOSA, timeout=CALL_TIMEOUT_SECONDS)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_connections_beyond_the_cap_are_closed_until_one_ends(iris_server, relay_to):
    """With --grpc-relay-max-connections 1, a second connection fails at once with UNAVAILABLE while
    the first is open, and a new one is relayed again once the first has ended."""
    port = await relay_to(iris_server.target, max_connections=1)
    relay = relay_to.relays[-1]
    target = f"127.0.0.1:{port}"
    # Each channel its own connection: channels in one process otherwise share one to a target.
    own_connection = [("grpc.use_local_subchannel_pool", 1)]
    async with grpc.aio.insecure_channel(target, options=own_connection) as first:
        reply = await iris_pb2_grpc.IrisPredictorStub(first).Predict(SETOSA, timeout=CALL_TIMEOUT_SECONDS)
        assert reply.species == 0
        async with grpc.aio.insecure_channel(target, options=own_connection) as second:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await iris_pb2_grpc.IrisPredictorStub(second).Predict(SETOSA, timeout=CALL_TIMEOUT_SECONDS)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    # The relay sees the first connection end on its own schedule; its count is what to wait for.
    await until(
        lambda: relay.open_connections == 0,
        CALL_TIMEOUT_SECONDS,
        lambda: f"{relay.open_connections} relayed connection(s) still open",
    )
    assert relay.open_connections == 0
    async with grpc.aio.insecure_channel(target, options=own_connection) as third:
        reply = await iris_pb2_grpc.IrisPredictorStub(third).Predict(SETOSA, timeout=CALL_TIMEOUT_SECONDS)
    assert reply.species == 0


def test_the_tutorial_client_works_through_python_m_proxy_relay(iris_server, tmp_path):
    """`python -m client` against the proxy's relay port prints the tutorial's first line."""
    relay_port = free_port()
    args = ["--grpc-relay-port", str(relay_port), "--grpc-relay-target", iris_server.target]
    with running_proxy(tmp_path, iris_server.target, *args):
        result = run_client(relay_port, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "Predicted species number: 0"
