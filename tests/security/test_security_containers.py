"""The containers are hardened as the compose file and Dockerfiles say: read-only root filesystem,
no new privileges, every capability dropped, and a non-root user, for every service.

(The running images are checked by tests/e2e/test_e2e_compose.py when a Docker engine is there:
non-root, and no scikit-learn or pickle in the server image.)
"""

import re

import pytest
import yaml

from tests.support.server_process import REPO_ROOT

SERVICES = {"server": "Dockerfile.server", "proxy": "Dockerfile.proxy", "edge": "Dockerfile.edge"}


@pytest.fixture(scope="module")
def compose() -> dict:
    # safe_load resolves the file's `<<: *hardening` merge keys, as docker compose does.
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())


@pytest.mark.parametrize("service", SERVICES)
def test_root_filesystem_is_read_only(compose, service):
    assert compose["services"][service].get("read_only") is True


@pytest.mark.parametrize("service", SERVICES)
def test_no_new_privileges(compose, service):
    assert "no-new-privileges:true" in compose["services"][service].get("security_opt", [])


@pytest.mark.parametrize("service", SERVICES)
def test_every_capability_is_dropped_and_none_added(compose, service):
    assert compose["services"][service].get("cap_drop") == ["ALL"]
    assert not compose["services"][service].get("cap_add")


@pytest.mark.parametrize("service", SERVICES)
def test_not_privileged_and_no_host_namespaces(compose, service):
    definition = compose["services"][service]
    assert not definition.get("privileged")
    for namespace in ("network_mode", "pid", "ipc", "userns_mode"):
        assert definition.get(namespace) != "host", namespace


@pytest.mark.parametrize(("service", "dockerfile"), SERVICES.items())
def test_runs_as_a_non_root_user(compose, service, dockerfile):
    """The image's last USER is not root, and compose does not override it with root."""
    users = re.findall(r"^USER\s+(\S+)", (REPO_ROOT / dockerfile).read_text(), re.MULTILINE)
    assert users, f"{dockerfile} has no USER: it would run as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert str(compose["services"][service].get("user", users[-1])).split(":")[0] not in ("root", "0")


def test_only_the_edge_publishes_ports(compose):
    """Clients reach the product through the edge alone; replicas are found by DNS, never published."""
    published = {name: bool(service.get("ports")) for name, service in compose["services"].items()}
    assert published == {"edge": True, "proxy": False, "server": False}
