"""End to end: build the images, `docker compose up`, and use the product as the README says.

Needs a Docker engine. Without one these tests skip, unless REQUIRE_DOCKER=1 (CI), which
makes a missing engine a failure.
"""

import json
import os
import shutil
import subprocess
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.client_process import run_client

pytestmark = pytest.mark.e2e

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROJECT = f"iris-e2e-{os.getpid()}"
WAIT_SECONDS = 240
SCALED_REPLICAS = 3
# Servers in the compose file close connections after 10 s; the proxy re-resolves within seconds.
SPREAD_SECONDS = 90


def _engine_missing_reason() -> str | None:
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    if info.returncode != 0:
        return f"no Docker engine answers: {info.stderr.strip().splitlines()[-1:]}"
    if subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=60).returncode:
        return "the docker compose plugin is missing"
    return None


def compose(*args: str, timeout: float = WAIT_SECONDS) -> str:
    """Run `docker compose -p PROJECT ARGS` in the repository and return its stdout."""
    result = subprocess.run(
        ["docker", "compose", "-p", PROJECT, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"docker compose {' '.join(args)} failed:\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def product():
    """The product as `docker compose up --build` starts it; always brought down afterwards."""
    reason = _engine_missing_reason()
    if reason:
        if os.environ.get("REQUIRE_DOCKER") == "1":
            pytest.fail(f"REQUIRE_DOCKER=1 but {reason}")
        pytest.skip(f"end-to-end tests need a Docker engine: {reason}")
    compose("build", timeout=1200)
    try:
        compose("up", "--detach", "--wait", "--wait-timeout", str(WAIT_SECONDS))
        yield
    finally:
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
            ["curl", "-sS", "--max-time", "10", "http://127.0.0.1:5000/", "-X", "POST", *args],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        answer = json.loads(out)
    else:
        fields = dict(a.split("=") for a in args[1::2])
        answer = post_form("http://127.0.0.1:5000/", fields)
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


def _replica_predicted_rows() -> list[float]:
    """Rows each server replica has predicted, read from its own /metrics."""
    read_metrics = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9090/metrics').read().decode())"
    counts = []
    for index in range(1, SCALED_REPLICAS + 1):
        text = compose("exec", "-T", "--index", str(index), "server", "python", "-c", read_metrics)
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "iris_predicted_rows_total":
                    total += sample.value
        counts.append(total)
    return counts


def test_scaled_servers_share_the_rest_load(product):
    """With --scale server=3 the proxy spreads REST requests over every replica.

    The proxy started with one replica; it learns of new ones when servers close connections at
    their max age and the channel re-resolves `server`, so requests go on in rounds until every
    replica has answered some, within SPREAD_SECONDS.
    """
    compose(
        "up",
        "--detach",
        "--wait",
        "--wait-timeout",
        str(WAIT_SECONDS),
        "--scale",
        f"server={SCALED_REPLICAS}",
    )
    before = _replica_predicted_rows()
    fields = {"sepal_length": "5.9", "sepal_width": "3.0", "petal_length": "4.2", "petal_width": "1.5"}
    deadline = time.monotonic() + SPREAD_SECONDS
    sent, served = 0, [0.0] * SCALED_REPLICAS
    while time.monotonic() < deadline and not all(served):
        for _ in range(30):
            assert post_form("http://127.0.0.1:5000/", fields)["species"] == "1"
            sent += 1
        served = [a - b for a, b in zip(_replica_predicted_rows(), before, strict=True)]
    assert sum(served) == sent
    assert all(served), f"requests per replica after {sent} requests: {served}"


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
