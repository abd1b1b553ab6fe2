"""The server imports only the standard library and what requirements/server.txt installs:
no scikit-learn, skl2onnx, onnx, joblib or pickle (the server image has none of them)."""

import ast
import re
import sys

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
PROJECT_PACKAGES = {"server", "iris_pb", "inference_pb"}
FORBIDDEN_STDLIB = {"pickle", "shelve", "marshal"}


def imported_top_level_names() -> dict[str, set[str]]:
    """{top-level module name: files importing it} over every .py file under server/."""
    names: dict[str, set[str]] = {}
    for path in sorted((REPO_ROOT / "server").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                names.setdefault(module.split(".")[0], set()).add(path.name)
    return names


def test_the_server_imports_nothing_outside_its_image():
    allowed = (set(sys.stdlib_module_names) - FORBIDDEN_STDLIB) | set(SERVER_PACKAGES) | PROJECT_PACKAGES
    strays = {name: files for name, files in imported_top_level_names().items() if name not in allowed}
    assert strays == {}


def test_every_third_party_import_is_pinned_in_the_server_requirements():
    pinned = set(
        re.findall(
            r"^([a-z0-9][a-z0-9._-]*)==", (REPO_ROOT / "requirements" / "server.txt").read_text(), re.M
        )
    )
    used = {SERVER_PACKAGES[name] for name in imported_top_level_names() if name in SERVER_PACKAGES}
    assert used <= pinned
    assert {"scikit-learn", "skl2onnx", "onnx", "joblib"}.isdisjoint(pinned)
