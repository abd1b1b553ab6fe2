"""The server process's life: refusing to start on a bad artifact, running without scikit-learn,
draining on SIGTERM without losing in-flight calls, stream slots, and --workers."""

import json
import queue
import shutil
import signal
import socket
import subprocess
import sys
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from iris_pb import iris_pb2, iris_pb2_grpc
from tests.support.server_process import ARTIFACTS, REPO_ROOT, free_port, running_server, server_command

SETOSA = iris_pb2.PredictRequest(sepal_length=5.1, sepal_width=3.5, petal_length=1.4, petal_width=0.2)
VIRGINICA = iris_pb2.PredictRequest(sepal_length=6.8, sepal_width=3.2, petal_length=5.9, petal_width=2.3)
TIMEOUT = 30


class OpenStream:
    """A PredictStream call the test feeds one row at a time; it stays open until close()."""

    def __init__(self, stub: iris_pb2_grpc.IrisPredictorStub):
        self._rows: queue.Queue = queue.Queue()
        self.call = stub.PredictStream(iter(self._rows.get, None), timeout=TIMEOUT)

    def ask(self, request: iris_pb2.PredictRequest) -> iris_pb2.PredictReply:
        self._rows.put(request)
        return next(self.call)

    def send(self, request: iris_pb2.PredictRequest) -> None:
        self._rows.put(request)

    def close(self) -> list[iris_pb2.PredictReply]:
        """End the request stream; the answers not read yet."""
        self._rows.put(None)
        return list(self.call)


@pytest.fixture
def repository(tmp_path):
    """A copy of the committed artifact (manifest and ONNX file, no pickle) to spoil."""
    version_dir = tmp_path / "repository" / "iris" / "1"
    version_dir.mkdir(parents=True)
    for name in ("model.json", "model.onnx"):
        shutil.copy(ARTIFACTS / "iris" / "1" / name, version_dir / name)
    return tmp_path / "repository"


def start_and_expect_failure(*args: str) -> subprocess.CompletedProcess:
    command = server_command("--host", "127.0.0.1", "--port", str(free_port()), "--log-format", "text", *args)
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)


def corrupt(repository):
    path = repository / "iris" / "1" / "model.onnx"
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")


def mismatch(repository):
    path = repository / "iris" / "1" / "model.json"
    manifest = json.loads(path.read_text())
    manifest["onnx"]["outputs"][0]["name"] = "species"
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda repository: shutil.rmtree(repository / "iris"), "no model to serve in repository"),
        (lambda repository: (repository / "iris" / "1" / "model.onnx").unlink(), "model.onnx is missing"),
        (corrupt, "model.onnx is corrupt or replaced: its sha256 is"),
        (mismatch, "model.onnx: the graph's outputs"),
    ],
    ids=["missing model", "missing file", "corrupt file", "mismatched manifest"],
)
def test_a_bad_artifact_stops_start_up_with_a_clear_message(repository, spoil, message):
    spoil(repository)
    result = start_and_expect_failure("--repository", str(repository))
    assert result.returncode == 1
    assert "server cannot start: " in result.stderr
    assert message in result.stderr


def test_a_model_models_names_must_be_in_the_repository(repository):
    result = start_and_expect_failure("--repository", str(repository), "--models", "iris,wine")
    assert result.returncode == 1
    assert "server cannot start: model 'wine' (--models) is not in repository" in result.stderr


def test_a_taken_port_stops_start_up():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = server_command("--host", "127.0.0.1", "--port", str(port), "--log-format", "text")
        result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"server cannot start: Failed to bind to address 127.0.0.1:{port}" in result.stderr


def test_a_bad_setting_stops_start_up_naming_it():
    result = start_and_expect_failure("--max-batch-rows", "lots")
    assert result.returncode == 2
    assert "--max-batch-rows='lots' is not valid: expected a positive integer" in result.stderr


def test_the_server_starts_and_answers_without_scikit_learn_or_pickles(tmp_path, repository):
    launcher = [str(REPO_ROOT / "tests" / "support" / "server_without_sklearn.py")]
    with running_server(tmp_path, "--repository", str(repository), launcher=launcher) as server:
        with grpc.insecure_channel(server.target) as channel:
            reply = iris_pb2_grpc.IrisPredictorStub(channel).Predict(VIRGINICA, timeout=TIMEOUT)
        assert (reply.species, reply.species_name) == (2, "virginica")
        assert server.stop() == 0


def test_the_blocker_really_blocks_scikit_learn():
    probe = "import tests.support.server_without_sklearn as w; w.block_training_libraries(); import sklearn"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "sklearn is blocked" in result.stderr


def wait_for_status(watch, status) -> None:
    for answer in watch:
        if answer.status == status:
            return
    raise AssertionError(f"health watch ended before {status}")


def new_call_status(target: str) -> grpc.StatusCode:
    """The status of a new Predict on a fresh connection."""
    with grpc.insecure_channel(target) as channel:
        try:
            iris_pb2_grpc.IrisPredictorStub(channel).Predict(SETOSA, timeout=TIMEOUT)
        except grpc.RpcError as error:
            return error.code()
    return grpc.StatusCode.OK


def test_sigterm_refuses_new_calls_and_lets_in_flight_streams_finish(tmp_path):
    with (
        running_server(tmp_path, "--grace-seconds", "60") as server,
        grpc.insecure_channel(server.target) as channel,
    ):
        stub = iris_pb2_grpc.IrisPredictorStub(channel)
        streams = [OpenStream(stub) for _ in range(4)]
        assert all(stream.ask(SETOSA).species == 0 for stream in streams)  # all four are in flight
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT
        )
        wait_for_status(watch, health_pb2.HealthCheckResponse.SERVING)

        server.process.send_signal(signal.SIGTERM)
        wait_for_status(watch, health_pb2.HealthCheckResponse.NOT_SERVING)
        watch.cancel()  # an open watch would hold the drain for the whole grace period
        # NOT_SERVING comes just before the server stops accepting calls: give it a few tries.
        assert any(new_call_status(server.target) == grpc.StatusCode.UNAVAILABLE for _ in range(50))

        for stream in streams:
            for _ in range(10):
                stream.send(VIRGINICA)
        answers = [stream.close() for stream in streams]
        assert [[reply.species for reply in stream_answers] for stream_answers in answers] == [[2] * 10] * 4
        assert server.process.wait(TIMEOUT) == 0
    log = server.log()
    assert "server draining  signal=SIGTERM grace_seconds=60.0" in log
    assert "server stopped" in log


def test_sigint_stops_an_idle_server_with_exit_code_0(tmp_path):
    with running_server(tmp_path) as server:
        assert server.stop(signal.SIGINT) == 0
    assert "server draining  signal=SIGINT" in server.log()


def open_stream_or_status(stub) -> OpenStream | grpc.StatusCode:
    stream = OpenStream(stub)
    try:
        stream.ask(SETOSA)
    except grpc.RpcError as error:
        return error.code()
    return stream


def test_open_streams_take_at_most_half_the_stream_threads(tmp_path):
    with (
        running_server(tmp_path, "--stream-threads", "4") as server,
        grpc.insecure_channel(server.target) as channel,
    ):
        stub = iris_pb2_grpc.IrisPredictorStub(channel)
        streams = [OpenStream(stub) for _ in range(2)]
        assert [stream.ask(SETOSA).species for stream in streams] == [0, 0]

        with pytest.raises(grpc.RpcError) as error:
            OpenStream(stub).ask(SETOSA)
        assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "2 PredictStream calls are open" in error.value.details()
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        assert stub.Predict(VIRGINICA, timeout=TIMEOUT).species == 2

        assert streams[0].close() == []
        # The slot is freed when the server finishes the call, just after the client sees it end.
        for _ in range(100):
            third = open_stream_or_status(stub)
            if isinstance(third, OpenStream):
                break
            assert third == grpc.StatusCode.RESOURCE_EXHAUSTED
            time.sleep(0.01)
        assert isinstance(third, OpenStream), "a closed stream's slot was never freed"
        third.close()
        streams[1].close()


def test_streams_holding_every_stream_thread_leave_unary_calls_their_own(tmp_path):
    with (
        running_server(tmp_path, "--threads", "1", "--stream-threads", "4") as server,
        grpc.insecure_channel(server.target) as channel,
    ):
        stub = iris_pb2_grpc.IrisPredictorStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        streams = [OpenStream(stub) for _ in range(2)]
        assert [stream.ask(SETOSA).species for stream in streams] == [0, 0]
        watches = [health.Watch(health_pb2.HealthCheckRequest(), timeout=TIMEOUT) for _ in range(2)]
        serving = health_pb2.HealthCheckResponse.SERVING
        assert [next(watch).status for watch in watches] == [serving, serving]

        # All four stream threads are held; the unary calls' thread is not among them.
        assert stub.Predict(VIRGINICA, timeout=TIMEOUT).species == 2
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT).status == serving
        for watch in watches:
            watch.cancel()
        for stream in streams:
            assert stream.close() == []


def test_two_workers_share_the_port_answer_and_drain(tmp_path):
    with running_server(tmp_path, "--workers", "2") as server:
        deadline = time.monotonic() + TIMEOUT
        while server.log().count("server started") < 2:  # wait_until_serving saw only one of them
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.05)
        for _ in range(6):  # new connections, spread over both workers by the kernel
            with grpc.insecure_channel(server.target) as channel:
                assert (
                    iris_pb2_grpc.IrisPredictorStub(channel).Predict(VIRGINICA, timeout=TIMEOUT).species == 2
                )
        assert server.stop() == 0
    log = server.log()
    assert "worker=0" in log
    assert "worker=1" in log
    assert log.count("server stopped") == 2
    assert "workers stopped  code=0" in log


def test_workers_that_cannot_start_make_the_parent_exit_1(repository):
    corrupt(repository)
    result = start_and_expect_failure("--workers", "2", "--repository", str(repository))
    assert result.returncode == 1
    assert "model.onnx is corrupt or replaced" in result.stderr
    assert "workers stopped  code=1" in result.stderr
