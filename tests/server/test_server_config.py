"""The server's settings: defaults, flags over IRIS_* variables, and messages naming bad values."""

import pathlib
import subprocess
import sys

import pytest

from common.settings import SettingsError
from server.config import Settings, parse_settings


def test_defaults_serve_the_compose_file():
    """With no flags and no variables the server serves every model of artifacts/, its latest
    version, watching for new ones every 2 s, with iris.v1 on model iris, on port 50052."""
    settings = parse_settings([], {})
    assert settings == Settings()
    assert (settings.repository, settings.models, str(settings.version_policy)) == (
        pathlib.Path("artifacts"),
        (),
        "latest",
    )
    assert (settings.model_name, settings.poll_seconds) == ("iris", 2.0)
    assert settings.port == 50052
    assert (settings.intra_op_threads, settings.inter_op_threads) == (1, 1)


def test_environment_twins_are_read():
    environ = {
        "IRIS_PORT": "6000",
        "IRIS_MAX_BATCH_ROWS": "500",
        "IRIS_LOG_FORMAT": "TEXT",
        "IRIS_VERSION_POLICY": "latest:2",
        "IRIS_MODELS": "iris, wine",
    }
    settings = parse_settings([], environ)
    assert (settings.port, settings.max_batch_rows, settings.log_format) == (6000, 500, "text")
    assert (str(settings.version_policy), settings.models) == ("latest:2", ("iris", "wine"))


def test_a_flag_beats_its_environment_twin():
    assert parse_settings(["--port", "7000"], {"IRIS_PORT": "6000"}).port == 7000


@pytest.mark.parametrize(
    ("text", "versions"),
    [("latest", [3]), ("LATEST:2", [2, 3]), ("all", [1, 2, 3]), ("specific:3,1,9", [1, 3])],
)
def test_version_policies_pick_their_versions(text, versions):
    assert parse_settings(["--version-policy", text], {}).version_policy.select([3, 1, 2]) == versions


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (
            ["--port", "70000"],
            {},
            "--port='70000' is not valid: expected an integer from 0 (a free port) to 65535",
        ),
        ([], {"IRIS_PORT": "abc"}, "IRIS_PORT='abc' is not valid: expected an integer from 0"),
        (["--workers", "0"], {}, "--workers='0' is not valid: expected a positive integer, or auto"),
        (["--grace-seconds", "-1"], {}, "--grace-seconds='-1' is not valid: expected 0 or a positive number"),
        (
            [],
            {"IRIS_GRACE_SECONDS": "soon"},
            "IRIS_GRACE_SECONDS='soon' is not valid: expected 0 or a positive",
        ),
        (["--log-format", "xml"], {}, "--log-format='xml' is not valid: expected one of json, text"),
        (
            ["--log-level", "loud"],
            {},
            "--log-level='loud' is not valid: expected one of debug, info, warning",
        ),
        (
            ["--version-policy", "latest:0"],
            {},
            "--version-policy='latest:0' is not valid: expected latest, latest:N, all or specific:",
        ),
        (["--version-policy", "newest"], {}, "--version-policy='newest' is not valid: expected latest"),
        (["--model-name", " "], {}, "--model-name=' ' is not valid: expected a model name"),
        (["--model-name", "../x"], {}, "--model-name='../x' is not valid: expected a model name"),
        (["--models", "iris,a/b"], {}, "--models='iris,a/b' is not valid: expected model names"),
        (["--repository", ""], {}, "--repository='' is not valid: expected a directory"),
    ],
)
def test_bad_values_name_the_setting_and_value(argv, environ, message):
    with pytest.raises(SettingsError) as error:
        parse_settings(argv, environ)
    assert str(error.value).startswith(message)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--workers", "2", "--port", "0"],
            "--port=0 with --workers=2 is not valid: the workers need one fixed",
        ),
        (
            ["--max-batch-rows", "1000000"],
            "--max-batch-rows=1000000 with --max-message-bytes=4194304 is not valid: that many rows need "
            "messages of about 32001024 bytes",
        ),
    ],
)
def test_settings_that_do_not_go_together_are_named_both(argv, message):
    with pytest.raises(SettingsError) as error:
        parse_settings(argv, {})
    assert str(error.value).startswith(message)


def test_program_refuses_bad_setting_with_status_2():
    """`python -m server` with a bad value exits 2 with one line naming it, before loading a model."""
    result = subprocess.run(
        [sys.executable, "-m", "server", "--port", "abc"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    expected = "--port='abc' is not valid: expected an integer from 0 (a free port) to 65535"
    assert (result.returncode, result.stderr) == (2, f"python -m server: error: {expected}\n")


def test_address_brackets_an_ipv6_literal():
    assert Settings(host="::1", port=1).address == "[::1]:1"
    assert Settings(host="[::]", port=2).address == "[::]:2"
    assert Settings(host="127.0.0.1", port=3).address == "127.0.0.1:3"
