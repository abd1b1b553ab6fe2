"""The server imports only the standard library and what requirements/server.txt installs:
no scikit-learn, skl2onnx, onnx, joblib or pickle (the server image has none of them)."""

import re
import sys

from tests.support.import_scan import imported_modules, imported_top_level_names
from tests.support.server_process import REPO_ROOT

# Import name -> the distribution that provides it, which requirements/server.txt must pin.
SERVER_PACKAGES = {
    "grpc": "grpcio",
    "grpc_health": "grpcio-health-checking",
    "grpc_reflection": "grpcio-reflection",
    "grpc_status": "grpcio-status",
    "google": "protobuf",
    "numpy": "numpy",
    "onnxruntime": "onnxruntime",
    "prometheus_client": "prometheus-client",
}
PROJECT_PACKAGES = {"server", "common", "iris_pb", "inference_pb"}
FORBIDDEN_STDLIB = {"pickle", "shelve", "marshal"}


def test_the_server_imports_nothing_outside_its_image():
    allowed = (set(sys.stdlib_module_names) - FORBIDDEN_STDLIB) | set(SERVER_PACKAGES) | PROJECT_PACKAGES
    strays = {
        name: files
        for name, files in imported_top_level_names(REPO_ROOT / "server").items()
        if name not in allowed
    }
    assert strays == {}


def test_every_third_party_import_is_pinned_in_the_server_requirements():
    pinned = set(
        re.findall(
            r"^([a-z0-9][a-z0-9._-]*)==", (REPO_ROOT / "requirements" / "server.txt").read_text(), re.M
        )
    )
    used = {
        SERVER_PACKAGES[name]
        for name in imported_top_level_names(REPO_ROOT / "server")
        if name in SERVER_PACKAGES
    }
    assert used <= pinned
    assert {"scikit-learn", "skl2onnx", "onnx", "joblib"}.isdisjoint(pinned)


def test_the_two_apis_share_the_error_exit_and_not_each_others_service():
    """iris.v1 and KServe V2 both leave through server/errors.py; neither imports the other's module."""
    v2 = imported_modules(REPO_ROOT / "server" / "inference_v2.py")
    iris_v1 = imported_modules(REPO_ROOT / "server" / "service.py")
    assert "server.service" not in v2
    assert "server.inference_v2" not in iris_v1
    assert "server.errors" in v2
    assert "server.errors" in iris_v1
