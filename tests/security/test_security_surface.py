"""What callers can see and do: the metrics, health and metadata surfaces reveal nothing
sensitive; no endpoint loads, replaces or unloads a model; nothing at runtime loads a pickle.
"""

import ast
import asyncio
import os
import pathlib
import shutil
import urllib.error
import urllib.request

import grpc
import pytest
from google.protobuf import text_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from inference_pb import grpc_predict_v2_pb2 as pb
from inference_pb import grpc_predict_v2_pb2_grpc as pb_grpc
from tests.support.proxy_process import running_proxy
from tests.support.rest_load import burst
from tests.support.server_process import ARTIFACTS, REPO_ROOT, free_port, running_server

# Put in the processes' environment: no answer may ever contain it.
CANARY = "canary-secret-5b1f0e7c"
CANARY_ENV = {"IRIS_SECRET_CANARY": CANARY, "AWS_SECRET_ACCESS_KEY": CANARY, "DATABASE_PASSWORD": CANARY}
KNOWN_SERVICES = {
    "iris.v1.IrisPredictor",
    "inference.GRPCInferenceService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
}
# Model and server control in Triton's superset of the V2 protocol; none of it may be served.
# RepositoryIndex, read-only, is served (tests/server/test_model_versions.py).
CONTROL_METHODS = (
    "RepositoryModelLoad",
    "RepositoryModelUnload",
    "SystemSharedMemoryRegister",
    "CudaSharedMemoryRegister",
    "TraceSetting",
    "LogSettings",
)
CONTROL_PATHS = (
    ("POST", "/v2/repository/models/iris/load"),
    ("POST", "/v2/repository/models/iris/unload"),
    ("POST", "/v2/systemsharedmemory/region/r/register"),
    ("POST", "/v2/trace/setting"),
    ("POST", "/v2/logging"),
    ("PUT", "/v2/models/iris"),
    ("DELETE", "/v2/models/iris"),
)
RUNTIME_PACKAGES = ("server", "proxy", "client")
PICKLE_MODULES = {
    "pickle",
    "cPickle",
    "_pickle",
    "joblib",
    "dill",
    "cloudpickle",
    "shelve",
    "marshal",
    "torch",
}


@pytest.fixture(scope="module")
def product(tmp_path_factory):
    """A server (metrics on) and a proxy in front of it, both with secrets in their environment."""
    log_dir = tmp_path_factory.mktemp("surface")
    metrics_port = free_port()
    with (
        running_server(log_dir, "--metrics-port", str(metrics_port), env=CANARY_ENV) as server,
        running_proxy(log_dir, server.target, env=CANARY_ENV) as proxy,
    ):
        yield server, proxy, metrics_port, log_dir


def http_get(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.read().decode()


def assert_reveals_nothing(where: str, text: str, log_dir: pathlib.Path) -> None:
    for secret in (CANARY, str(REPO_ROOT), str(ARTIFACTS), str(log_dir), "Traceback", 'File "'):
        assert secret not in text, f"{where} reveals {secret!r}"


def test_http_surfaces_reveal_nothing_sensitive(product):
    """Metrics, health, readiness, OpenAPI, /docs, V2 metadata and errors: no secrets, paths or traces."""
    _, proxy, metrics_port, log_dir = product
    urls = [f"http://127.0.0.1:{metrics_port}/metrics"]
    urls += [
        f"{proxy.url}{path}"
        for path in (
            "/metrics",
            "/healthz",
            "/readyz",
            "/openapi.json",
            "/docs",
            "/v2",
            "/v2/health/live",
            "/v2/health/ready",
            "/v2/models/iris",
            "/v2/models/iris/ready",
            "/v2/models/nope",
            "/no/such/path",
        )
    ]
    for url in urls:
        assert_reveals_nothing(url, http_get(url), log_dir)


def test_grpc_health_and_metadata_reveal_nothing_sensitive(product):
    server, _, _, log_dir = product
    with grpc.insecure_channel(server.target) as channel:
        v2 = pb_grpc.GRPCInferenceServiceStub(channel)
        answers = [
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10),
            v2.ServerMetadata(pb.ServerMetadataRequest(), timeout=10),
            v2.ModelMetadata(pb.ModelMetadataRequest(name="iris"), timeout=10),
            v2.RepositoryIndex(pb.RepositoryIndexRequest(), timeout=10),
        ]
        with pytest.raises(grpc.RpcError) as traversal:
            v2.ModelMetadata(pb.ModelMetadataRequest(name="../../etc/passwd"), timeout=10)
        with pytest.raises(grpc.RpcError) as unknown_model:
            v2.ModelMetadata(pb.ModelMetadataRequest(name="passwd"), timeout=10)
    for answer in answers:
        assert_reveals_nothing(type(answer).__name__, text_format.MessageToString(answer), log_dir)
    assert traversal.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert unknown_model.value.code() == grpc.StatusCode.NOT_FOUND
    for error in (traversal, unknown_model):
        assert_reveals_nothing("an unknown model's error", error.value.details(), log_dir)


def test_reflection_lists_only_the_known_services(product):
    server, *_ = product
    with grpc.insecure_channel(server.target) as channel:
        services = set(ProtoReflectionDescriptorDatabase(channel).get_services())
    assert services == KNOWN_SERVICES


@pytest.mark.parametrize("method", CONTROL_METHODS)
def test_no_grpc_method_controls_models_or_the_server(product, method):
    """Triton's repository, shared-memory, trace and log control RPCs are not served."""
    server, *_ = product
    with grpc.insecure_channel(server.target) as channel:
        call = channel.unary_unary(f"/inference.GRPCInferenceService/{method}")
        with pytest.raises(grpc.RpcError) as raised:
            call(b"\n\x04iris", timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_no_rest_endpoint_controls_models_or_the_server(product):
    """The V2 REST control paths do not exist: 404, 405 or 501, never an action."""
    _, proxy, *_ = product
    for method, path in CONTROL_PATHS:
        request = urllib.request.Request(f"{proxy.url}{path}", data=b"{}", method=method)
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(request, timeout=10)
        assert raised.value.code in (404, 405, 501), f"{method} {path}: {raised.value.code}"


def test_the_model_still_answers_after_control_attempts(product):
    _, proxy, *_ = product
    assert asyncio.run(burst(f"{proxy.url}/", 1, expected=())).ok == 1


def pickle_uses(source: str) -> list[str]:
    """Imports of pickle-like modules, np.load/numpy.load calls and allow_pickle=... in Python source."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] in PICKLE_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PICKLE_MODULES:
            found.append(f"from {node.module} import ...")
        elif isinstance(node, ast.Attribute) and node.attr == "load":
            if ast.unparse(node.value) in ("np", "numpy"):
                found.append(ast.unparse(node))
        elif isinstance(node, ast.keyword) and node.arg == "allow_pickle":
            found.append(ast.unparse(node))
    return found


def test_no_runtime_code_can_load_a_pickle():
    """Nothing the images run (server/, proxy/, client/) imports pickle, joblib or dill, or calls np.load."""
    files = [path for package in RUNTIME_PACKAGES for path in sorted((REPO_ROOT / package).rglob("*.py"))]
    assert len(files) > 10
    uses = {str(path.relative_to(REPO_ROOT)): pickle_uses(path.read_text()) for path in files}
    assert {name: found for name, found in uses.items() if found} == {}


def test_the_pickle_scan_finds_what_it_looks_for():
    """The scan above is not blind: it reports each kind of use."""
    source = "import pickle\nfrom joblib import load\nimport numpy as np\nnp.load('x', allow_pickle=True)\n"
    assert pickle_uses(source) == ["import pickle", "from joblib import ...", "np.load", "allow_pickle=True"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_the_server_never_opens_the_pickle_beside_its_model(tmp_path):
    """With a named pipe where the reference pickle sits, opening it would block start-up forever:
    the server starts and answers, so it never opened it."""
    version = tmp_path / "repository" / "iris" / "1"
    version.mkdir(parents=True)
    for name in ("model.onnx", "model.json"):
        shutil.copy(ARTIFACTS / "iris" / "1" / name, version / name)
    os.mkfifo(version / "iris_model.pickle")
    with running_server(tmp_path, "--repository", str(tmp_path / "repository")) as server:
        assert "server started" in server.log()  # and running_server saw it SERVING
