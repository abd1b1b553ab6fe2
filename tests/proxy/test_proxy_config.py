"""The proxy's settings: flags, IRIS_* environment twins, defaults and messages for bad values."""

import subprocess
import sys

import pytest

from common.settings import SettingsError
from proxy.config import Settings, parse_settings


def test_defaults_serve_the_compose_file():
    """With no flags and no environment, the proxy listens on 5000 and calls localhost:50052."""
    settings = parse_settings([], {})
    assert settings == Settings()
    assert (settings.port, settings.upstream) == (5000, "localhost:50052")


def test_flags_set_every_setting():
    """Each setting has a flag."""
    argv = [
        "--host=127.0.0.1",
        "--port=8080",
        "--upstream=dns:///server:50052",
        "--deadline-seconds=2.5",
        "--max-body-bytes=2048",
        "--log-level=debug",
        "--log-format=text",
    ]
    assert parse_settings(argv, {}) == Settings(
        host="127.0.0.1",
        port=8080,
        upstream="dns:///server:50052",
        deadline_seconds=2.5,
        max_body_bytes=2048,
        log_level="debug",
        log_format="text",
    )


def test_environment_twins_set_every_setting():
    """Each setting has an IRIS_<NAME> environment variable."""
    environ = {
        "IRIS_HOST": "127.0.0.1",
        "IRIS_PORT": "8080",
        "IRIS_UPSTREAM": "dns:///server:50052",
        "IRIS_DEADLINE_SECONDS": "2.5",
        "IRIS_MAX_BODY_BYTES": "2048",
        "IRIS_LOG_LEVEL": "warning",
        "IRIS_LOG_FORMAT": "TEXT",
    }
    assert parse_settings([], environ) == Settings(
        host="127.0.0.1",
        port=8080,
        upstream="dns:///server:50052",
        deadline_seconds=2.5,
        max_body_bytes=2048,
        log_level="warning",
        log_format="text",
    )


def test_flag_wins_over_environment():
    """A flag overrides its environment twin."""
    assert parse_settings(["--port", "6000"], {"IRIS_PORT": "7000"}).port == 6000


@pytest.mark.parametrize(
    ("argv", "environ", "named"),
    [
        (["--port=abc"], {}, "--port='abc'"),
        (["--port=70000"], {}, "--port='70000'"),
        ([], {"IRIS_PORT": "0"}, "IRIS_PORT='0'"),
        (["--deadline-seconds=0"], {}, "--deadline-seconds='0'"),
        (["--deadline-seconds=nan"], {}, "--deadline-seconds='nan'"),
        ([], {"IRIS_MAX_BODY_BYTES": "-1"}, "IRIS_MAX_BODY_BYTES='-1'"),
        (["--max-body-bytes=1.5"], {}, "--max-body-bytes='1.5'"),
        (["--upstream="], {}, "--upstream=''"),
        (["--log-level=loud"], {}, "--log-level='loud'"),
        ([], {"IRIS_ROW_STREAM": ""}, "IRIS_ROW_STREAM=''"),
        ([], {"IRIS_LOG_FORMAT": "xml"}, "IRIS_LOG_FORMAT='xml'"),
    ],
)
def test_bad_value_is_named_with_its_setting(argv, environ, named):
    """A bad value stops start-up with a message naming the setting and the value."""
    with pytest.raises(SettingsError, match="is not valid: expected") as raised:
        parse_settings(argv, environ)
    assert str(raised.value).startswith(named)


def test_unknown_flag_exits_with_usage():
    """An unknown flag is a usage error (argparse exits with status 2)."""
    with pytest.raises(SystemExit) as raised:
        parse_settings(["--colour=blue"], {})
    assert raised.value.code == 2


def test_program_refuses_bad_setting_with_status_2():
    """`python -m proxy` with a bad value exits 2 and names the setting, before listening."""
    result = subprocess.run(
        [sys.executable, "-m", "proxy", "--port", "abc"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    expected = "--port='abc' is not valid: expected an integer from 1 to 65535"
    assert result.stderr == f"python -m proxy: error: {expected}\n"
