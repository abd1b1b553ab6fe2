"""The server imports only the standard library and what requirements/server.txt installs:
no scikit-learn, skl2onnx, onnx, joblib or pickle (the server image has none of them)."""

import re
import sys

from tests.import_scan import imported_top_level_names
from tests.server_process import REPO_ROOT

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
