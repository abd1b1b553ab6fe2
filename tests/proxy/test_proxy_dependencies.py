"""The proxy imports only the standard library and what requirements/proxy.txt installs (its image
has no numpy, no onnxruntime): an import of anything else would crash the container at start."""

import re
import sys

from proxy.docs_page import ASSETS, SWAGGER_UI_DIR
from tests.support.import_scan import imported_top_level_names
from tests.support.server_process import REPO_ROOT

# Import name -> the distribution that provides it, which requirements/proxy.txt must pin.
PROXY_PACKAGES = {
    "aiohttp": "aiohttp",
    "multidict": "multidict",
    "yarl": "yarl",
    "grpc": "grpcio",
    "grpc_health": "grpcio-health-checking",
    "grpc_status": "grpcio-status",
    "google": "protobuf",
    "prometheus_client": "prometheus-client",
}
PROJECT_PACKAGES = {"proxy", "common", "iris_pb", "inference_pb"}


def test_the_proxy_imports_nothing_outside_its_image():
    allowed = set(sys.stdlib_module_names) | set(PROXY_PACKAGES) | PROJECT_PACKAGES
    strays = {
        name: files
        for name, files in imported_top_level_names(REPO_ROOT / "proxy").items()
        if name not in allowed
    }
    assert strays == {}


def pinned_in_the_proxy_image() -> set[str]:
    requirements = (REPO_ROOT / "requirements" / "proxy.txt").read_text()
    return set(re.findall(r"^([a-z0-9][a-z0-9._-]*)==", requirements, re.M))


def test_every_third_party_import_is_pinned_in_the_proxy_requirements():
    pinned = pinned_in_the_proxy_image()
    used = {
        PROXY_PACKAGES[name]
        for name in imported_top_level_names(REPO_ROOT / "proxy")
        if name in PROXY_PACKAGES
    }
    assert used <= pinned


def test_the_docs_page_files_come_from_a_pinned_package():
    """GET /docs serves files of swagger-ui-py, which the proxy finds by name rather than imports."""
    assert "swagger-ui-py" in pinned_in_the_proxy_image()
    assert SWAGGER_UI_DIR.parent.name == "swagger_ui"
    assert all((SWAGGER_UI_DIR / asset).is_file() for asset in ASSETS)
