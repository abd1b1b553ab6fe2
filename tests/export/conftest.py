"""Fixtures of the export's tests."""

import os
import subprocess

import pytest

from export.__main__ import main


@pytest.fixture
def run_main(monkeypatch, capsys):
    """Call the CLI's main() in this process (fast); returns (exit status, stdout, stderr)."""

    def run(*args: str, **env: str) -> subprocess.CompletedProcess:
        for key in [key for key in os.environ if key.startswith("IRIS_")]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        try:
            status = main(list(args))
        except SystemExit as usage_error:
            status = usage_error.code
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(args, status, captured.out, captured.err)

    return run
