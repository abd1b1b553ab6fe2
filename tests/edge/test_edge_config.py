"""The edge's configuration agrees with itself and with the services behind it: every variable it
reads has a default in its image, its own error answers are valid HTTP with JSON in each API's
error shape, and a draining replica outlasts the edge's readiness checks."""

import json
import re

import pytest
import yaml

from tests.support.server_process import REPO_ROOT

EDGE = REPO_ROOT / "edge"
CONFIG = (EDGE / "haproxy.cfg").read_text()
SETTINGS = "\n".join(line for line in CONFIG.splitlines() if not line.lstrip().startswith("#"))
DOCKERFILE = (REPO_ROOT / "Dockerfile.edge").read_text()


def compose() -> dict:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())


def seconds(text: str) -> float:
    """An HAProxy time (e.g. 1s, 500ms) in seconds."""
    number, unit = re.fullmatch(r"(\d+)(ms|s|m)?", text).groups()
    return int(number) * {"ms": 0.001, "s": 1, "m": 60, None: 0.001}[unit]


def test_every_variable_the_configuration_reads_has_a_default_in_the_image():
    """HAProxy would read an unset variable as empty: the image's ENV names each one."""
    used = set(re.findall(r"\$\{(\w+)\}", SETTINGS))
    defined = set(re.findall(r"\b(IRIS_EDGE_\w+)=", DOCKERFILE))
    assert used
    assert used <= defined, used - defined


def test_the_published_ports_are_the_ones_the_edge_listens_on():
    env = dict(re.findall(r"\b(IRIS_EDGE_\w+)=(\S+)", DOCKERFILE))
    ports = {port.split(":")[1] for port in compose()["services"]["edge"]["ports"]}
    assert ports == {env["IRIS_EDGE_REST_PORT"], env["IRIS_EDGE_GRPC_PORT"]} == {"5000", "50052"}


@pytest.mark.parametrize(
    "path", sorted(EDGE.glob("errors/*/*.http")), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_each_error_answer_is_valid_http_with_json_in_its_apis_shape(path):
    head, body = path.read_bytes().split(b"\r\n\r\n", 1)
    status_line, *header_lines = head.decode().split("\r\n")
    headers = {name.lower(): value for name, value in (line.split(": ", 1) for line in header_lines)}
    assert status_line.split()[1] == path.stem
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    error = json.loads(body)["error"]
    if path.parent.name == "v2":  # the Open Inference Protocol's shape: a string
        assert isinstance(error, str)
        assert error
    else:
        assert set(error) == {"code", "message"}


def test_every_error_file_is_used_and_every_one_used_exists():
    used = set(re.findall(r"errorfile \d+ /etc/haproxy/errors/(\S+)", CONFIG))
    present = {str(path.relative_to(EDGE / "errors")) for path in EDGE.glob("errors/*/*.http")}
    assert used == present


def test_a_draining_replica_outlasts_the_edges_checks():
    """A replica keeps serving after SIGTERM for longer than the edge takes to see its /readyz fail
    (inter x fall), and compose waits for the drain and the grace period before killing it."""
    default_server = re.search(r"^\s*default-server (.*)$", CONFIG, re.M).group(1).split()
    inter = seconds(default_server[default_server.index("inter") + 1])
    fall = int(default_server[default_server.index("fall") + 1])
    for name in ("server", "proxy"):
        service = compose()["services"][name]
        drain = float(service["environment"]["IRIS_DRAIN_SECONDS"])
        assert drain > inter * fall, name
        grace = 5.0 + 1.0  # the server's --grace-seconds; the proxy's deadline plus its margin
        assert seconds(service["stop_grace_period"]) >= drain + grace, name
