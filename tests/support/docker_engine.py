"""Whether the end-to-end tests can run: a Docker engine and the Compose plugin answer.

Without them those tests skip, unless REQUIRE_DOCKER=1 (CI), which makes a missing engine a
failure: `require_docker()` does one or the other.
"""

import os
import shutil
import subprocess

import pytest


def engine_missing_reason() -> str | None:
    """Why no engine can run the tests, or None when one can."""
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    if info.returncode != 0:
        return f"no Docker engine answers: {info.stderr.strip().splitlines()[-1:]}"
    if subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=60).returncode:
        return "the docker compose plugin is missing"
    return None


def require_docker() -> None:
    """Skip the calling test without an engine; fail it instead when REQUIRE_DOCKER=1."""
    reason = engine_missing_reason()
    if reason:
        if os.environ.get("REQUIRE_DOCKER") == "1":
            pytest.fail(f"REQUIRE_DOCKER=1 but {reason}")
        pytest.skip(f"end-to-end tests need a Docker engine: {reason}")
