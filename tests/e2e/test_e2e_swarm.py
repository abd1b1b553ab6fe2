"""End to end on Docker Swarm: `docker stack deploy -c deploy/swarm/stack.yml` on a one-node swarm,
the tutorial's calls through the edge, then two rolling updates of the servers under REST and gRPC
load through the edge: a forced one that fails no request, and one to an image that never gets
ready, which Swarm rolls back while the old servers keep answering.

Needs a Docker engine. Without one these tests skip, unless REQUIRE_DOCKER=1 (CI), which makes a
missing engine a failure. An engine in no swarm gets a one-node swarm on 127.0.0.1 for the length
of the module, and leaves it at the end; an engine already in a swarm (as a manager) keeps it. The
stack, and the image and networks the tests made, are removed. The tests run in file order and
share one stack; each prints its numbers (run with -s to see them).
"""

import asyncio
import dataclasses
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.client_process import run_client
from tests.support.docker_engine import require_docker
from tests.support.edge_load import EdgeLoads, LoadShape
from tests.support.rest_load import FLOWER

pytestmark = pytest.mark.e2e

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STACK_FILE = "deploy/swarm/stack.yml"
STACK = f"iris-e2e-swarm-{os.getpid()}"
SERVER_IMAGE = "iris-predictor-server:latest"
NEVER_READY_IMAGE = f"iris-predictor-server:never-ready-{os.getpid()}"
# The real server with tests/support/held_warm_up on its path: its warm-up waits for a release file that
# nothing makes, so it runs and listens, but its health stays NOT_SERVING and its check never passes.
NEVER_READY_DOCKERFILE = f"""\
FROM {SERVER_IMAGE}
COPY sitecustomize.py /opt/held_warm_up/
ENV PYTHONPATH=/opt/held_warm_up IRIS_TEST_RELEASE_DIR=/opt/held_warm_up/never-released
"""
STACK_LABEL = f"label=com.docker.stack.namespace={STACK}"

COMMAND_SECONDS = 120
BUILD_SECONDS = 1200
# Deploying until every replica is healthy and in the edge's rotation; one rolling update of the
# servers (or its rollback); removing the stack and leaving the swarm.
READY_SECONDS = 180
UPDATE_SECONDS = 240
GONE_SECONDS = 120
POLL_SECONDS = 1.0
# Load during the updates, through the edge. Small: the machines this runs on may have 2 CPUs, and
# a saturated server answers its own health check late.
LOAD_SHAPE = LoadShape(rest_workers=4, grpc_callers=2, max_requests=200_000)
FINAL_UPDATE_STATES = ("completed", "paused", "rollback_completed", "rollback_paused")


def docker(
    *args: str, timeout: float = COMMAND_SECONDS, env: dict[str, str] | None = None, stdin: str = ""
) -> str:
    """Run `docker ARGS` in the repository and return its stdout; fail the test if it fails."""
    result = subprocess.run(
        ["docker", *args], cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=timeout, env=env
    )
    assert result.returncode == 0, f"docker {' '.join(args)} failed:\n{result.stderr[-3000:]}"
    return result.stdout


def poll_until(condition: Callable[[], bool], within_seconds: float, failure: Callable[[], str]) -> float:
    """Check `condition()` every POLL_SECONDS until it holds and return the seconds it took; raise
    AssertionError(failure()) after `within_seconds`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < within_seconds, f"after {within_seconds:.0f} s: {failure()}"
        time.sleep(POLL_SECONDS)
    return time.monotonic() - started


def free_ports(count: int) -> list[int]:
    """`count` different TCP ports free on every interface now (host-mode ports bind them all)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def swarm_state() -> str:
    """This engine's swarm state: inactive, active, pending, error or locked."""
    return docker("info", "--format", "{{.Swarm.LocalNodeState}}").strip()


def service(name: str) -> str:
    return f"{STACK}_{name}"


def listed(*args: str) -> list[str]:
    """The lines `docker ARGS` prints, for the list commands (ls, ps) with their filters."""
    return docker(*args).split()


def replicas() -> dict[str, tuple[int, int]]:
    """Running and desired tasks of each service of the stack, by its name in the stack file."""
    lines = docker("service", "ls", "--filter", STACK_LABEL, "--format", "{{.Name}} {{.Replicas}}")
    counts = {}
    for line in lines.splitlines():
        name, running_of_desired = line.split()[:2]
        running, desired = running_of_desired.split("/")
        counts[name.removeprefix(f"{STACK}_")] = (int(running), int(desired))
    return counts


def unhealthy_containers() -> list[str]:
    """The stack's running containers whose health check has not passed (yet), with their state."""
    ids = listed("ps", "-q", "--filter", STACK_LABEL)
    if not ids:
        return []
    states = docker("inspect", "--format", "{{.Name}} {{.State.Health.Status}}", *ids).splitlines()
    return [state for state in states if not state.endswith(" healthy")]


def edge_container() -> str:
    [container] = listed("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={service('edge')}")
    return container


def edge_rotation() -> dict[str, float]:
    """How many replicas the edge has in rotation for each of its backends, from its own metrics."""
    text = docker("exec", edge_container(), "curl", "-fsS", "http://127.0.0.1:8404/metrics")
    return {
        sample.labels["proxy"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "haproxy_backend_active_servers"
    }


def post_form(url: str, fields: dict[str, str]) -> dict:
    body = "&".join(f"{k}={v}" for k, v in fields.items()).encode()
    request = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def update_status(name: str) -> dict:
    """The service's UpdateStatus (State, StartedAt, CompletedAt, Message); {} before any update."""
    text = docker("service", "inspect", "--format", "{{json .UpdateStatus}}", service(name)).strip()
    return json.loads(text) or {}


def running_server_tasks() -> dict[str, str]:
    """The image of each running server task, by task id."""
    lines = docker(
        "service", "ps", service("server"), "--no-trunc", "--filter", "desired-state=running",
        "--format", "{{.ID}} {{.Image}} {{.CurrentState}}",
    )  # fmt: skip
    return {line.split()[0]: line.split()[1] for line in lines.splitlines() if " Running " in line}


def server_task_history() -> str:
    return docker(
        "service",
        "ps",
        service("server"),
        "--no-trunc",
        "--format",
        "{{.Image}} {{.CurrentState}} {{.Error}}",
    )


@dataclasses.dataclass
class Stack:
    """The deployed stack: where its edge answers, what the tests changed on the engine, how long each
    phase took."""

    rest_port: int
    grpc_port: int
    networks_before: set[str]
    swarm_made_here: bool = False
    images_made: list[str] = dataclasses.field(default_factory=list)
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    torn_down: bool = False

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}/"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def deploy(self) -> None:
        env = dict(
            os.environ, IRIS_EDGE_REST_PORT=str(self.rest_port), IRIS_EDGE_GRPC_PORT=str(self.grpc_port)
        )
        docker("stack", "deploy", "--resolve-image", "never", "-c", STACK_FILE, STACK, env=env)

    def wait_until_ready(self) -> float:
        """Block until every service runs all its replicas, every container's health check passes, the
        edge has every replica in rotation and answers; return the seconds it took."""
        state: dict = {}

        def ready_now() -> bool:
            state["replicas"] = replicas()
            if set(state["replicas"]) != {"edge", "proxy", "server"}:
                return False
            if any(running != desired for running, desired in state["replicas"].values()):
                return False
            state["unhealthy"] = unhealthy_containers()
            if state["unhealthy"]:
                return False
            state["rotation"] = edge_rotation()
            wanted = {"servers": state["replicas"]["server"][1], "proxies": state["replicas"]["proxy"][1]}
            if any(state["rotation"].get(backend) != count for backend, count in wanted.items()):
                return False
            return post_form(self.rest_url, {k: str(v) for k, v in FLOWER.items()})["species"] == "2"

        def ready() -> bool:
            try:
                return ready_now()
            # A container that stopped between two commands, or an edge not listening yet.
            except (AssertionError, ValueError, OSError) as error:
                state["error"] = repr(error)[-500:]
                return False

        return poll_until(ready, READY_SECONDS, lambda: f"the stack is not ready: {state}")

    def tear_down(self) -> list[str]:
        """Remove the stack, the images the tests made, and the swarm if the tests made it; return what
        is still left. Does nothing the second time."""
        if self.torn_down:
            return []
        self.torn_down = True
        left = []
        if swarm_state() == "active":  # else nothing was deployed
            subprocess.run(["docker", "stack", "rm", STACK], capture_output=True, timeout=COMMAND_SECONDS)

            def stack_gone() -> bool:
                return not any(
                    listed(*kind, "-q", "--filter", STACK_LABEL)
                    for kind in (("service", "ls"), ("ps", "-a"), ("network", "ls"))
                )

            try:
                self.seconds["stack rm"] = poll_until(stack_gone, GONE_SECONDS, lambda: "stack still there")
            except AssertionError as error:
                left.append(f"{STACK}: {error}")
        for image in self.images_made:
            removed = subprocess.run(["docker", "image", "rm", image], capture_output=True, text=True)
            if removed.returncode:
                left.append(f"image {image}: {removed.stderr.strip()}")
        if self.swarm_made_here:
            started = time.monotonic()
            docker("swarm", "leave", "--force")
            # The first overlay container made the bridge to the host; leaving the swarm keeps it.
            if "docker_gwbridge" not in self.networks_before and "docker_gwbridge" in networks():
                docker("network", "rm", "docker_gwbridge")
            self.seconds["swarm leave"] = time.monotonic() - started
        return left


def networks() -> set[str]:
    return set(listed("network", "ls", "--format", "{{.Name}}"))


@pytest.fixture(scope="module")
def stack():
    """The stack deployed on a swarm, every replica healthy; always removed afterwards."""
    require_docker()
    rest_port, grpc_port = free_ports(2)
    deployed = Stack(rest_port, grpc_port, networks_before=networks())
    started = time.monotonic()
    docker("compose", "-p", STACK, "build", timeout=BUILD_SECONDS)
    deployed.seconds["compose build"] = time.monotonic() - started
    try:
        state = swarm_state()
        if state == "inactive":
            started = time.monotonic()
            # Loopback: a one-node swarm that listens on no other interface.
            docker("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", "127.0.0.1:2377")
            deployed.swarm_made_here = True
            deployed.seconds["swarm init"] = time.monotonic() - started
        else:
            assert state == "active", f"this engine's swarm is {state}"
            manager = docker("info", "--format", "{{.Swarm.ControlAvailable}}").strip()
            assert manager == "true", "this engine is a swarm worker: stack deploy needs a manager"
        started = time.monotonic()
        deployed.deploy()
        deployed.seconds["deploy until ready"] = deployed.wait_until_ready() + time.monotonic() - started
        yield deployed
    finally:
        left = deployed.tear_down()
        assert left == [], f"left on the engine: {left}"


def test_tutorial_curl_call_answers_species_2(stack):
    """The original tutorial's curl call, through the edge's published port, answers "species": "2"."""
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
            ["curl", "-sS", "--max-time", "10", stack.rest_url, "-X", "POST", *args],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        answer = json.loads(out)
    else:
        answer = post_form(stack.rest_url, dict(a.split("=") for a in args[1::2]))
    assert answer["species"] == "2"
    assert answer["species_name"] == "virginica"


def test_tutorial_client_prints_species_0(stack):
    """`python -m client --host 127.0.0.1 --port GRPC_PORT` prints the tutorial's first line."""
    result = run_client(stack.grpc_port, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "Predicted species number: 0"


def test_every_container_runs_read_only_without_capabilities_within_limits(stack):
    """Swarm keeps the stack's hardening: a read-only root, no capability, /tmp in memory, a
    non-root user, a memory and a CPU limit, for every container."""
    ids = listed("ps", "-q", "--filter", STACK_LABEL)
    fields = (
        "{{.Name}} ro={{.HostConfig.ReadonlyRootfs}} caps={{.HostConfig.CapDrop}} "
        "tmp={{range .HostConfig.Mounts}}{{.Type}}:{{.Target}}{{end}} user={{.Config.User}} "
        "memory={{.HostConfig.Memory}} cpus={{.HostConfig.NanoCpus}}"
    )
    for line in docker("inspect", "--format", fields, *ids).splitlines():
        facts = dict(field.split("=", 1) for field in line.split()[1:])
        assert facts["ro"] == "true", line
        assert facts["caps"] == "[ALL]", line
        assert facts["tmp"] == "tmpfs:/tmp", line
        assert facts["user"] not in ("", "0", "root"), line
        assert int(facts["memory"]) > 0, line
        assert int(facts["cpus"]) > 0, line


def edge_loads(deployed: Stack) -> EdgeLoads:
    """REST and gRPC load through the stack's edge, not started yet."""
    return EdgeLoads(deployed.rest_url, deployed.grpc_target, LOAD_SHAPE)


def update_servers(*options: str) -> str:
    """`docker service update OPTIONS` on the servers, then wait until Swarm has finished with it
    (completed, rolled back or paused); return its final state. The CLI exits 0 after a rollback too,
    so only the service's UpdateStatus tells."""
    before = update_status("server").get("StartedAt")
    docker("service", "update", "--detach", "--quiet", "--no-resolve-image", *options, service("server"))
    status: dict = {}

    def finished() -> bool:
        status.update(update_status("server"))
        return status.get("StartedAt") != before and status.get("State") in FINAL_UPDATE_STATES

    poll_until(finished, UPDATE_SECONDS, lambda: f"update not finished: {status}\n{server_task_history()}")
    return status["State"]


async def test_a_forced_update_of_the_servers_under_load_fails_no_request(stack):
    """`docker service update --force` replaces every server, one at a time, a new one healthy before
    an old one drains and stops, under REST and gRPC load through the edge: no request and no call
    fails, and Swarm reports the update completed."""
    old_tasks = running_server_tasks()
    loads = edge_loads(stack).start()
    try:
        await loads.progress()
        started = time.monotonic()
        state = await asyncio.to_thread(update_servers, "--force")
        stack.seconds["forced update"] = time.monotonic() - started
        await loads.progress()
    finally:
        await loads.stop()
    print(f"\nforced update of the servers in {stack.seconds['forced update']:.0f} s: {loads.summary()}")
    assert state == "completed", server_task_history()
    new_tasks = running_server_tasks()
    assert len(new_tasks) == len(old_tasks), server_task_history()
    assert not set(new_tasks) & set(old_tasks), f"not every server was replaced:\n{server_task_history()}"
    loads.assert_nothing_failed()


async def test_an_update_to_a_server_that_never_gets_ready_is_rolled_back_and_fails_no_request(stack):
    """An update to a server image whose health check never passes: the new task never takes the
    place of an old one, Swarm rolls the service back to the image it ran, the old tasks keep
    answering throughout, and no request or call through the edge fails."""
    started = time.monotonic()
    docker(
        "build",
        "-q",
        "-t",
        NEVER_READY_IMAGE,
        "-f",
        "-",
        "tests/support/held_warm_up",
        stdin=NEVER_READY_DOCKERFILE,
    )
    stack.images_made.append(NEVER_READY_IMAGE)
    stack.seconds["build never-ready image"] = time.monotonic() - started
    await asyncio.to_thread(stack.wait_until_ready)
    old_tasks = running_server_tasks()
    loads = edge_loads(stack).start()
    try:
        await loads.progress()
        started = time.monotonic()
        state = await asyncio.to_thread(update_servers, "--image", NEVER_READY_IMAGE)
        stack.seconds["update and rollback"] = time.monotonic() - started
        await loads.progress()
    finally:
        await loads.stop()
    print(f"\nupdate rolled back in {stack.seconds['update and rollback']:.0f} s: {loads.summary()}")
    history = server_task_history()
    assert state == "rollback_completed", history
    assert running_server_tasks() == old_tasks, f"the old tasks did not keep running:\n{history}"
    assert set(old_tasks.values()) == {SERVER_IMAGE}
    spec_image = docker(
        "service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", service("server")
    )
    assert spec_image.strip() == SERVER_IMAGE
    assert any(line.startswith(NEVER_READY_IMAGE) and "unhealthy" in line for line in history.splitlines()), (
        history
    )
    loads.assert_nothing_failed()


def test_stack_rm_leaves_the_engine_as_found(stack):
    """`docker stack rm`, and `docker swarm leave --force` if the tests made the swarm, leave no
    service, container, network or image of the tests, and the swarm state as it was."""
    left = stack.tear_down()
    print("\nseconds per phase: " + ", ".join(f"{phase} {took:.1f}" for phase, took in stack.seconds.items()))
    assert left == []
    assert swarm_state() == ("inactive" if stack.swarm_made_here else "active")
    made_here = {f"{STACK}_default"} | ({"ingress", "docker_gwbridge"} if stack.swarm_made_here else set())
    assert (networks() - stack.networks_before) & made_here == set()
    images = listed("image", "ls", "--format", "{{.Repository}}:{{.Tag}}")
    assert NEVER_READY_IMAGE not in images
