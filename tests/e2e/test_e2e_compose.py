"""End to end: build the images, `docker compose up`, and use the product as the README says,
through the edge, at one replica and at several, while replicas restart and die.

Needs a Docker engine. Without one these tests skip, unless REQUIRE_DOCKER=1 (CI), which
makes a missing engine a failure. The tests run in file order and share one compose project.
"""

import asyncio
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from iris_pb import iris_pb2, iris_pb2_grpc
from tests.support.client_process import run_client
from tests.support.docker_engine import require_docker
from tests.support.edge_load import EdgeLoads, LoadShape
from tests.support.model_repository import publish_copy
from tests.support.rest_load import FLOWER
from tests.support.waiting import until

pytestmark = pytest.mark.e2e

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROJECT = f"iris-e2e-{os.getpid()}"
WAIT_SECONDS = 240
SERVERS, PROXIES = 3, 2
# Proxies in the compose file replace their server connections every 10 s; a row stream pins lone rows to
# one replica for at most 1 s, so every replica answers REST requests within seconds.
SPREAD_SECONDS = 90
GRPC_CALLS = 60
# Load during restarts and kills: REST through the edge, and gRPC on one channel through the edge.
REST_WORKERS, GRPC_CALLERS = 8, 4
LOAD_SHAPE = LoadShape(REST_WORKERS, GRPC_CALLERS, max_requests=500_000)
PHASE_TIMEOUT_SECONDS = LOAD_SHAPE.phase_timeout_seconds
TAKEN_BACK_TIMEOUT_SECONDS = 60.0
# With no ready replica, the edge answers within this (it never waits for one to come).
AT_ONCE_SECONDS = 2.0
LOG_LINES_SHOWN = 200  # per service, after the tests
REST_URL, GRPC_TARGET = "http://127.0.0.1:5000/", "127.0.0.1:50052"
PREDICT = "/iris.v1.IrisPredictor/Predict"
FLOWER_FIELDS = {key: str(value) for key, value in FLOWER.items()}  # the tutorial's flower, as form fields


def docker(*args: str, timeout: float = WAIT_SECONDS) -> str:
    """Run `docker ARGS` and return its stdout; fail the test if it fails."""
    result = subprocess.run(["docker", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"docker {' '.join(args)} failed:\n{result.stderr[-3000:]}"
    return result.stdout


def compose(*args: str, timeout: float = WAIT_SECONDS) -> str:
    """Run `docker compose -p PROJECT ARGS` in the repository and return its stdout."""
    return docker("compose", "-p", PROJECT, *args, timeout=timeout)


def up(*args: str) -> None:
    compose("up", "--detach", "--wait", "--wait-timeout", str(WAIT_SECONDS), *args)


@pytest.fixture(scope="module")
def model_repository():
    """A copy of artifacts/ that the compose file mounts (IRIS_MODEL_REPOSITORY), for the tests
    to publish into; readable by the server's non-root user."""
    repository = pathlib.Path(tempfile.mkdtemp(prefix="iris-e2e-repository-"))
    repository.chmod(0o755)
    publish_copy(repository, "iris", 1)
    os.environ["IRIS_MODEL_REPOSITORY"] = str(repository)
    try:
        yield repository
    finally:
        del os.environ["IRIS_MODEL_REPOSITORY"]
        shutil.rmtree(repository)


@pytest.fixture(scope="module")
def product(model_repository):
    """The product as `docker compose up --build` starts it; always brought down afterwards."""
    require_docker()
    compose("build", timeout=1200)
    try:
        up()
        yield
    finally:
        # Shown by pytest under the last test's teardown when something failed: what each service said.
        logs = ["docker", "compose", "-p", PROJECT, "logs", "--no-color", "--tail", str(LOG_LINES_SHOWN)]
        print(subprocess.run(logs, cwd=ROOT, capture_output=True, text=True, timeout=WAIT_SECONDS).stdout)
        subprocess.run(
            ["docker", "compose", "-p", PROJECT, "down", "--volumes", "--remove-orphans", "--timeout", "20"],
            cwd=ROOT,
            capture_output=True,
            timeout=WAIT_SECONDS,
        )


def post_form(url: str, fields: dict[str, str]) -> dict:
    body = "&".join(f"{k}={v}" for k, v in fields.items()).encode()
    request = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def containers(service: str) -> list[str]:
    """The ids of the service's running containers."""
    return compose("ps", "--quiet", service).split()


def metric(container: str, port: int, name: str, **labels: str) -> float:
    """The sum of the samples of `name` with these labels in a container's own /metrics."""
    read = f"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:{port}/metrics').read().decode())"
    text = docker("exec", container, "python", "-c", read)
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def rows_predicted(server: str) -> float:
    return metric(server, 9090, "iris_predicted_rows_total")


def predicts_answered(server: str) -> float:
    return metric(
        server, 9090, "iris_grpc_requests_total", method="/iris.v1.IrisPredictor/Predict", code="OK"
    )


def rest_answered(proxy: str) -> float:
    return metric(proxy, 5000, "iris_http_requests_total", route="/", method="POST", status="200")


def counts(read, ids: list[str]) -> list[float]:
    return [read(container) for container in ids]


def test_tutorial_curl_call_answers_species_2(product):
    """The original tutorial's curl call answers "species": "2"."""
    args = [
        "-d",
        "sepal_length=6.8",
        "-d",
        "sepal_width=3.2",
        "-d",
        "petal_length=5.9",
        "-d",
        "petal_width=2.3",
    ]
    if shutil.which("curl"):
        out = subprocess.run(
            ["curl", "-sS", "--max-time", "10", REST_URL, "-X", "POST", *args],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        answer = json.loads(out)
    else:
        fields = dict(a.split("=") for a in args[1::2])
        answer = post_form(REST_URL, fields)
    assert answer["species"] == "2"
    assert answer["species_name"] == "virginica"


def test_tutorial_client_prints_species_0(product):
    """`python -m client --host 127.0.0.1 --port 50052` prints the tutorial's first line."""
    result = run_client(50052, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "Predicted species number: 0"


def test_server_image_has_no_sklearn_no_pickle_and_runs_as_non_root(product):
    """The server container runs as a non-root user and holds no scikit-learn, pickle or compiler."""
    probe = (
        "import importlib.util, os, pathlib, shutil, json;"
        "print(json.dumps({'uid': os.getuid(),"
        " 'sklearn': importlib.util.find_spec('sklearn') is not None,"
        " 'skl2onnx': importlib.util.find_spec('skl2onnx') is not None,"
        " 'pickles': [str(p) for p in pathlib.Path('/app').rglob('*.pickle')],"
        " 'compilers': [c for c in ('gcc', 'cc', 'g++', 'clang') if shutil.which(c)]}))"
    )
    facts = json.loads(compose("exec", "-T", "server", "python", "-c", probe))
    assert facts == {"uid": facts["uid"], "sklearn": False, "skl2onnx": False, "pickles": [], "compilers": []}
    assert facts["uid"] != 0


def test_errors_pass_through_the_edge_unchanged(product):
    """A bad row gets the server's own status and message through the edge, over gRPC and REST."""
    bad = iris_pb2.PredictRequest(**{**FLOWER, "sepal_length": float("nan")})
    with grpc.insecure_channel(GRPC_TARGET) as channel:
        stub = iris_pb2_grpc.IrisPredictorStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.Predict(bad, timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details() == "sepal_length is NaN; features must be finite numbers"
    with pytest.raises(urllib.error.HTTPError) as rejected:
        post_form(REST_URL, {**FLOWER_FIELDS, "sepal_length": "nan"})
    assert rejected.value.code == 400
    error = json.load(rejected.value)["error"]
    assert error["code"] == "INVALID_ARGUMENT"
    assert "sepal_length" in error["message"]


def test_the_edge_logs_the_request_id_and_keeps_the_proxies_metrics_inside(product):
    """The edge's log line carries the client's X-Request-Id, which the proxy echoes; the
    proxies' /metrics answer 404 through the published port."""
    request_id = f"e2e-{os.getpid()}"
    body = "&".join(f"{k}={v}" for k, v in FLOWER_FIELDS.items()).encode()
    request = urllib.request.Request(REST_URL, data=body, headers={"X-Request-Id": request_id})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.headers["X-Request-Id"] == request_id
    deadline = time.monotonic() + 10
    while f'id="{request_id}"' not in compose("logs", "edge"):
        assert time.monotonic() < deadline, "the edge logged no line with the request id"
        time.sleep(0.2)
    with pytest.raises(urllib.error.HTTPError) as hidden:
        urllib.request.urlopen(REST_URL + "metrics", timeout=10)
    assert hidden.value.code == 404


def test_edge_runs_haproxy_as_non_root_and_serves_its_own_metrics(product):
    """The edge container runs HAProxy as a non-root user; its exporter answers on 8404."""
    assert compose("exec", "-T", "edge", "id", "-u").strip() != "0"
    text = compose("exec", "-T", "edge", "curl", "-fsS", "http://127.0.0.1:8404/metrics")
    assert "haproxy_backend_active_servers" in text


def test_scaled_replicas_share_every_request_and_every_call(product):
    """With --scale server=3 --scale proxy=2, REST requests reach every proxy and every server, and
    the calls of one gRPC connection through the edge spread evenly over every server."""
    up("--scale", f"server={SERVERS}", "--scale", f"proxy={PROXIES}")
    servers, proxies = containers("server"), containers("proxy")
    assert (len(servers), len(proxies)) == (SERVERS, PROXIES)

    before = counts(predicts_answered, servers)
    with grpc.insecure_channel(GRPC_TARGET) as channel:
        stub = iris_pb2_grpc.IrisPredictorStub(channel)
        for _ in range(GRPC_CALLS):
            assert stub.Predict(iris_pb2.PredictRequest(**FLOWER), timeout=10).species == 2
    calls = [a - b for a, b in zip(counts(predicts_answered, servers), before, strict=True)]
    assert sum(calls) == GRPC_CALLS
    assert min(calls) >= GRPC_CALLS / SERVERS / 2, f"calls per server from one gRPC connection: {calls}"

    rows_before, rest_before = counts(rows_predicted, servers), counts(rest_answered, proxies)
    fields = {"sepal_length": "5.9", "sepal_width": "3.0", "petal_length": "4.2", "petal_width": "1.5"}
    deadline = time.monotonic() + SPREAD_SECONDS
    sent, rows, requests = 0, [0.0], [0.0]
    while time.monotonic() < deadline and not (all(rows) and all(requests)):
        for _ in range(30):
            assert post_form(REST_URL, fields)["species"] == "1"
            sent += 1
        rows = [a - b for a, b in zip(counts(rows_predicted, servers), rows_before, strict=True)]
        requests = [a - b for a, b in zip(counts(rest_answered, proxies), rest_before, strict=True)]
    assert sum(requests) == sent
    assert sum(rows) == sent
    assert all(requests), f"requests per proxy after {sent} requests: {requests}"
    assert all(rows), f"rows per server after {sent} requests: {rows}"


async def test_a_version_published_into_the_repository_is_served_losing_no_request(product, model_repository):
    """The compose workflow: `python -m export` publishes into the mounted repository, and every
    server replica moves to the new version under REST and gRPC load, failing nothing."""
    loads = edge_loads().start()
    try:
        await loads.progress()
        await asyncio.to_thread(publish_copy, model_repository, "iris", 2)
        await until(
            lambda: all(post_form(REST_URL, FLOWER_FIELDS)["model_version"] == "2" for _ in range(20)),
            PHASE_TIMEOUT_SECONDS,
            lambda: "the servers did not all move to version 2 in time",
        )
        await loads.progress()
    finally:
        await loads.stop()
    print(f"version 2 published under load through the edge: {loads.summary()}")
    loads.assert_nothing_failed()


def wait_until_healthy(container: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while docker("inspect", "-f", "{{.State.Health.Status}}", container).strip() != "healthy":
        assert time.monotonic() < deadline, f"{container} not healthy after {WAIT_SECONDS} s"
        time.sleep(0.5)


def wait_until_taken_back(read, container: str) -> None:
    """Block until the edge sends the returned container work again (its own counter grows)."""
    start = read(container)
    deadline = time.monotonic() + TAKEN_BACK_TIMEOUT_SECONDS
    while read(container) <= start:
        assert time.monotonic() < deadline, f"no work reached {container} for {TAKEN_BACK_TIMEOUT_SECONDS} s"
        time.sleep(0.5)


def edge_trouble() -> str:
    """The edge's log lines of requests that did not end cleanly (HAProxy's termination state is
    not ----), and of its replicas' state changes, for a failure message."""
    lines = compose("logs", "--no-color", "edge").splitlines()
    trouble = [line for line in lines if " ---- " not in line and "[WARNING]" not in line]
    return "\nedge log, requests that did not end cleanly and state changes:\n" + "\n".join(trouble[-60:])


def edge_loads() -> EdgeLoads:
    """REST and gRPC load through the edge, not started yet."""
    return EdgeLoads(REST_URL, GRPC_TARGET, LOAD_SHAPE)


async def test_a_rolling_restart_of_every_replica_fails_no_request(product):
    """Stop (SIGTERM, drain) and start each server and each proxy in turn under REST and gRPC load
    through the edge: no request and no call fails. The next replica stops only once the edge sends
    the returned one work again."""
    replicas = [(server, rows_predicted) for server in containers("server")]
    replicas += [(proxy, rest_answered) for proxy in containers("proxy")]
    loads = edge_loads().start()
    try:
        await loads.progress()
        for container, read in replicas:
            await asyncio.to_thread(docker, "stop", "--time", "20", container)
            await loads.progress()
            await asyncio.to_thread(docker, "start", container)
            await asyncio.to_thread(wait_until_healthy, container)
            await asyncio.to_thread(wait_until_taken_back, read, container)
            await loads.progress()
    finally:
        await loads.stop()
    print(f"rolling restart of {len(replicas)} replicas through the edge: {loads.summary()}")
    loads.assert_nothing_failed(edge_trouble)


async def test_killing_a_replica_of_each_kind_loses_at_most_the_requests_in_flight(product):
    """SIGKILL one server and one proxy under load: only requests already sent when they died may
    fail, at most as many as were in flight, and none sent after."""
    loads = edge_loads().start()
    try:
        await loads.progress()
        killed_at = time.monotonic()
        await asyncio.to_thread(docker, "kill", containers("server")[0], containers("proxy")[0])
        await loads.progress()
        await loads.progress()
    finally:
        await loads.stop()
    print(f"one server and one proxy killed under load: {loads.summary()}")
    for result, in_flight in ((loads.rest, REST_WORKERS), (loads.grpc, GRPC_CALLERS)):
        assert len(result.failures) <= in_flight, loads.summary()
        assert all(sent < killed_at for sent in result.failures_sent_at), result.failures
    up("--scale", f"server={SERVERS}", "--scale", f"proxy={PROXIES}")  # restarted by their policy


def active_replicas(backend: str) -> float:
    """How many replicas the edge has in rotation for one of its backends, from its own metrics."""
    text = compose("exec", "-T", "edge", "curl", "-fsS", "http://127.0.0.1:8404/metrics")
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "haproxy_backend_active_servers" and sample.labels.get("proxy") == backend
    )


def test_with_no_ready_replica_the_edge_answers_503_and_unavailable_at_once(product):
    """With every server stopped, once the edge has taken every replica out of rotation (the
    proxies' /readyz fail too), a REST request gets 503 with a JSON error and a gRPC call
    UNAVAILABLE, each within AT_ONCE_SECONDS; both work again once the servers are back."""
    compose("stop", "server")
    try:
        deadline = time.monotonic() + PHASE_TIMEOUT_SECONDS
        while active_replicas("servers") or active_replicas("proxies"):
            assert time.monotonic() < deadline, "the edge still has replicas in rotation"
            time.sleep(0.5)
        started = time.monotonic()
        with pytest.raises(urllib.error.HTTPError) as refused:
            post_form(REST_URL, FLOWER_FIELDS)
        assert time.monotonic() - started < AT_ONCE_SECONDS
        assert refused.value.code == 503
        assert json.load(refused.value)["error"]["code"] == "UNAVAILABLE"
        with grpc.insecure_channel(GRPC_TARGET) as channel:
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as failed:
                iris_pb2_grpc.IrisPredictorStub(channel).Predict(
                    iris_pb2.PredictRequest(**FLOWER), timeout=10
                )
            assert time.monotonic() - started < AT_ONCE_SECONDS
        assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        up("--scale", f"server={SERVERS}", "--scale", f"proxy={PROXIES}")
    assert post_form(REST_URL, FLOWER_FIELDS)["species"] == "2"


def test_compose_down_leaves_nothing_running(product):
    """`docker compose down -v` removes every container, network and volume of the project."""
    compose("down", "--volumes", "--remove-orphans", "--timeout", "20")
    label = f"label=com.docker.compose.project={PROJECT}"
    for kind in ("ps", "network ls", "volume ls"):
        listed = subprocess.run(
            ["docker", *kind.split(), "-q", *(["-a"] if kind == "ps" else []), "--filter", label],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert listed == [], f"docker {kind} still lists {listed}"
