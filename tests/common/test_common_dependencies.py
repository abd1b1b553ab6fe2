"""The shared package imports only the standard library, the generated protobuf packages and what
both images install: it runs in the server's image and the proxy's (Dockerfile.server and
Dockerfile.proxy copy it), and in export and the client."""

import re
import sys

from tests.support.import_scan import imported_top_level_names
from tests.support.server_process import REPO_ROOT

# Import name -> the distribution that provides it, which every image's requirements must pin.
COMMON_PACKAGES = {
    "prometheus_client": "prometheus-client",
    "grpc": "grpcio",
    "grpc_status": "grpcio-status",
    "google": "protobuf",
}
IMAGE_REQUIREMENTS = ("server.txt", "proxy.txt")


def test_common_imports_only_the_standard_library_and_what_every_image_installs():
    # The generated protobuf packages are in every image too (both Dockerfiles generate them).
    allowed = set(sys.stdlib_module_names) | set(COMMON_PACKAGES) | {"common", "iris_pb", "inference_pb"}
    strays = {
        name: files
        for name, files in imported_top_level_names(REPO_ROOT / "common").items()
        if name not in allowed
    }
    assert strays == {}


def test_every_third_party_import_of_common_is_pinned_in_every_image():
    for requirements in IMAGE_REQUIREMENTS:
        text = (REPO_ROOT / "requirements" / requirements).read_text()
        pinned = set(re.findall(r"^([a-z0-9][a-z0-9._-]*)==", text, re.M))
        assert set(COMMON_PACKAGES.values()) <= pinned, requirements


def test_common_imports_neither_service():
    """The services import common, never the other way round (no import circles)."""
    names = imported_top_level_names(REPO_ROOT / "common")
    assert not {"server", "proxy", "export", "client"} & set(names)
